"""Figures of testing: per-class accuracy and scores, confusion matrices (the learning curves are the engine's)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.colors import LogNorm
from matplotlib.figure import Figure

from bioscan_lib.classify import metrics
from bioscan_lib.core.figures import write_in_cell

CELL_VALUES_UP_TO = 20  # classes: a matrix this small has every share written in its cells
LARGEST_WRITTEN = 0.1  # a larger one only the shares of at least this
SCORE_COLUMNS = {"precision": "precision", "top1": "recall (top-1)", "f1": "F1"}  # per-class table column: heading


def per_class_accuracy(table: pd.DataFrame, title: str) -> Figure:
    """Per-class top-1 accuracy bars (classes in index order, test counts on a second axis), as the paper's figure.

    `table` has columns class, test_samples, top1 and optionally published_top1 (fractions).
    """
    figure, axes = plt.subplots(figsize=(max(6, 0.32 * len(table) + 2), 4.4), layout="constrained")
    positions = np.arange(len(table))
    width = 0.4 if "published_top1" in table else 0.8
    axes.bar(positions - (width / 2 if width < 0.8 else 0), 100 * table["top1"].fillna(0), width, label="this run")
    if "published_top1" in table:
        axes.bar(positions + width / 2, 100 * table["published_top1"], width, label="paper (ViT-B/16, CE, Large)")
    axes.set_xticks(positions, table["class"], rotation=90, fontsize=8)
    axes.set(ylabel="top-1 accuracy (%)", ylim=(0, 105), title=title)
    counts = axes.twinx()
    counts.plot(positions, table["test_samples"], color="black", marker=".", linewidth=1, label="test samples")
    counts.set_yscale("log")
    counts.set_ylim(bottom=1)
    counts.set_ylabel("test samples (log scale)")
    bars, bar_labels = axes.get_legend_handles_labels()
    line, line_label = counts.get_legend_handles_labels()
    figure.legend(bars + line, bar_labels + line_label, loc="outside upper center", ncols=3, fontsize=8, frameon=False)
    return figure


def confusion_matrix_figure(matrix: np.ndarray, classes: list[str], title: str) -> Figure:
    """A confusion matrix (rows true, columns predicted) with a log colour scale."""
    figure, axes = _matrix_axes(classes, title)
    shown = np.ma.masked_equal(np.asarray(matrix, dtype=float), 0)
    image = axes.imshow(shown, cmap="viridis", norm=LogNorm(vmin=1, vmax=max(1, float(np.max(matrix)))))
    figure.colorbar(image, ax=axes, label="samples")
    return figure


def row_share_confusion_figure(matrix: np.ndarray, classes: list[str], title: str) -> Figure:
    """A confusion matrix with each row a share of its true class, shares in percent written in the cells: every
    non-zero one up to CELL_VALUES_UP_TO classes, beyond only those of at least LARGEST_WRITTEN."""
    figure, axes = _matrix_axes(classes, title)
    percent = 100 * np.nan_to_num(metrics.row_shares(matrix))
    image = axes.imshow(np.ma.masked_equal(percent, 0), cmap="viridis", vmin=0, vmax=100)
    least = 0 if len(classes) <= CELL_VALUES_UP_TO else 100 * LARGEST_WRITTEN
    for (row, column), value in np.ndenumerate(percent):
        if value > 0 and value >= least:
            write_in_cell(axes, row, column, _whole_percent(value), image.cmap(image.norm(value)))
    figure.colorbar(image, ax=axes, label="percent of the true class's test samples")
    return figure


def per_class_scores(table: pd.DataFrame, title: str) -> Figure:
    """Precision, recall (top-1) and F1 of each class (rows, index order) in percent, written in the cells.

    `table` has columns class, test_samples, top1, precision and f1 (fractions), as the per-class table."""
    percent = 100 * table[list(SCORE_COLUMNS)].to_numpy(dtype=float)
    figure, axes = plt.subplots(figsize=(5, 1.6 + 0.24 * len(table)), layout="constrained")
    image = axes.imshow(np.ma.masked_invalid(percent), aspect="auto", cmap="viridis", vmin=0, vmax=100)
    for (row, column), value in np.ndenumerate(percent):
        if not np.isnan(value):
            write_in_cell(axes, row, column, f"{value:.0f}", image.cmap(image.norm(value)), 7)
    axes.set_xticks(range(len(SCORE_COLUMNS)), list(SCORE_COLUMNS.values()))
    axes.set_yticks(range(len(table)), [f"{name} ({n:,})" for name, n in zip(table["class"], table["test_samples"])])
    axes.tick_params(axis="y", labelsize=7)
    axes.set_ylabel("class (test samples)")
    axes.xaxis.tick_top()
    axes.set_title(title, fontsize=9)
    figure.colorbar(image, ax=axes, label="percent (blank: nothing to count)", fraction=0.08)
    return figure


def reliability_figure(bins: pd.DataFrame, threshold: float, calibration_error: float) -> Figure:
    """A reliability diagram: accuracy per confidence bin against the diagonal of a calibrated model, each bin's
    photographs written above it, the uncertainty threshold marked and the flagged side shaded.

    `bins` has columns low, high, photographs, confidence and accuracy (fractions), as `predict.reliability_table`."""
    figure, axes = plt.subplots(figsize=(6, 5), layout="constrained")
    axes.axvspan(0, threshold, color="lightgrey", alpha=0.5, label="flagged uncertain")
    width, label = bins["high"] - bins["low"], "accuracy of the bin (its photographs above)"
    bars = axes.bar(bins["low"], bins["accuracy"].fillna(0), width, align="edge", edgecolor="black", label=label)
    axes.bar_label(bars, [f"{count:,}" if count else "" for count in bins["photographs"]], fontsize=7)
    axes.plot([0, 1], [0, 1], "--", color="black", label="calibrated: accuracy = confidence")
    axes.axvline(threshold, color="tab:red", label=f"uncertainty threshold {threshold:.3f}")
    axes.set(xlim=(0, 1), ylim=(0, 1.08), xlabel="confidence (top-1 probability)", ylabel="accuracy")
    title = f"Reliability on the labelled photographs (expected calibration error {calibration_error:.3f})"
    axes.set_title(title, fontsize=9)
    axes.legend(loc="upper left", fontsize=8)
    return figure


def _matrix_axes(classes: list[str], title: str):
    """A figure and axes sized for a class-by-class matrix, classes on both axes (rows true, columns predicted)."""
    size = max(5, 0.22 * len(classes) + 2)
    figure, axes = plt.subplots(figsize=(size + 1, size))
    ticks = np.arange(len(classes))
    axes.set_xticks(ticks, classes, rotation=90, fontsize=7)
    axes.set_yticks(ticks, classes, fontsize=7)
    axes.set(xlabel="predicted", ylabel="true", title=title)
    return figure, axes


def _whole_percent(value: float) -> str:
    """A percentage rounded to a whole one, "<1" for one that would round to 0."""
    return f"{value:.0f}" if value >= 0.5 else "<1"
