"""Figures of testing: per-class accuracy, confusion matrix (the learning curves are the engine's)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.colors import LogNorm
from matplotlib.figure import Figure


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
    size = max(5, 0.22 * len(classes) + 2)
    figure, axes = plt.subplots(figsize=(size + 1, size))
    shown = np.ma.masked_equal(np.asarray(matrix, dtype=float), 0)
    image = axes.imshow(shown, cmap="viridis", norm=LogNorm(vmin=1, vmax=max(1, float(np.max(matrix)))))
    ticks = np.arange(len(classes))
    axes.set_xticks(ticks, classes, rotation=90, fontsize=7)
    axes.set_yticks(ticks, classes, fontsize=7)
    axes.set(xlabel="predicted", ylabel="true", title=title)
    figure.colorbar(image, ax=axes, label="samples")
    return figure
