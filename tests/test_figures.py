"""Every figure has a title, log-scaled count axes start at or below one, and legends name every series."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from bioscan_lib import engine  # noqa: E402
from bioscan_lib.classify import plots as run_plots  # noqa: E402
from bioscan_lib.core.figures import DARK_TEXT, LIGHT_TEXT, relative_luminance, text_colour_on  # noqa: E402
from bioscan_lib.data import bioscan1m  # noqa: E402
from bioscan_lib.dataset import plots  # noqa: E402
from bioscan_lib.split import statistics as split_statistics  # noqa: E402
from bioscan_lib.split.rules import SPLITS  # noqa: E402


def _log_axes_start_at_one(figure) -> bool:
    limits = [axis.get_xlim()[0] for axis in figure.axes if axis.get_xscale() == "log"]
    limits += [axis.get_ylim()[0] for axis in figure.axes if axis.get_yscale() == "log"]
    return bool(limits) and all(limit <= 1 for limit in limits)


def test_dataset_figures_have_titles_and_log_axes_from_one() -> None:
    lengths = pd.Series(np.r_[np.full(50, 658), np.full(3, 700)])
    bins = pd.Series([1, 1, 2, 30], index=list("abcd"))
    for figure in (plots.barcode_length_histogram(lengths), plots.bin_sizes(bins)):
        assert all(axis.get_title() for axis in figure.axes), "every panel has a title"
        assert _log_axes_start_at_one(figure)


def test_class_distribution_axes_span_the_counts_and_set_apart_the_orders_outside_the_16() -> None:
    classified = list(bioscan1m.published_order_counts())
    orders = pd.DataFrame({"order": [*classified[:2], "Zoraptera"], "count": [896324, 89311, 3]})
    families = pd.DataFrame({"family": ["Cecidomyiidae", "Sciaridae", "Psilidae"], "count": [259104, 92276, 237]})
    figure = plots.class_distribution(orders, families)
    order_axes, family_axes = figure.axes
    assert order_axes.get_title() and family_axes.get_title()
    assert order_axes.get_xlim()[0] == 1 and family_axes.get_xlim()[0] == 100, "the decade below half the smallest"
    bars = order_axes.patches
    assert bars[0].get_facecolor() == bars[1].get_facecolor() != bars[2].get_facecolor()
    assert not bars[0].get_hatch() and bars[2].get_hatch()
    labels = [text.get_text() for text in order_axes.get_legend().get_texts()]
    assert labels == ["one of the paper's 16 orders", "outside the 16 (not classified)"]
    assert [text.get_text() for text in family_axes.texts] == ["259,104", "92,276", "237"], "counts written in"


def test_the_per_class_figure_legend_names_the_test_sample_line_above_the_bars() -> None:
    table = pd.DataFrame(
        {"class": ["a", "b"], "test_samples": [300, 4], "top1": [0.9, 0.5], "published_top1": [0.95, 0.6]}
    )
    figure = run_plots.per_class_accuracy(table, "run: test top-1 per class")
    (legend,) = figure.legends
    assert [text.get_text() for text in legend.get_texts()] == [
        "this run",
        "paper (ViT-B/16, CE, Large)",
        "test samples",
    ]
    renderer = figure.canvas.get_renderer()
    figure.draw(renderer)
    assert legend.get_window_extent(renderer).y0 >= figure.axes[0].get_window_extent(renderer).y1, "over the bars"
    assert _log_axes_start_at_one(figure)


def _cell_texts(axes) -> dict[str, str]:
    return {text.get_text(): text.get_color() for text in axes.texts}


def test_text_on_a_cell_is_dark_on_light_colours_and_light_on_dark_ones() -> None:
    assert relative_luminance("white") == 1.0 and relative_luminance("black") == 0.0
    for light in ("white", "yellow", "#7ad151", "#22a884"):  # viridis's light green and mid teal included
        assert text_colour_on(light) == DARK_TEXT, light
    for dark in ("black", "navy", "#440154", "#31688e"):
        assert text_colour_on(dark) == LIGHT_TEXT, dark


def test_split_distribution_numbers_are_dark_on_light_cells() -> None:
    counts = pd.DataFrame({"index": [0, 1], "class": ["Diptera", "Embioptera"]})
    counts[list(SPLITS)] = [[1023, 150, 292], [21, 3, 0]]
    figure = split_statistics.plot_split_distribution(counts, "large_insect_order")
    colours = _cell_texts(figure.axes[0])
    assert colours["1,023"] == colours["150"] == colours["292"] == DARK_TEXT, "yellow and light green cells"
    assert colours["3"] == LIGHT_TEXT and colours["0"] == DARK_TEXT, "a dark cell, and an empty (white) one"


def _summary() -> pd.DataFrame:
    """Ten epochs, the learning rate divided by ten before epochs 8 and 10, validation top-1 best at 6 and 9 (tied)."""
    top1 = [0.5, 0.6, 0.7, 0.8, 0.85, 0.95, 0.9, 0.93, 0.95, 0.94]
    return pd.DataFrame(
        {
            "epoch": range(1, 11),
            "lr": [0.05] * 7 + [0.005] * 2 + [0.0005],
            "train_loss": np.linspace(2, 0.2, 10),
            "val_loss": np.linspace(2.2, 0.4, 10),
            "train_top1": np.linspace(0.4, 0.99, 10),
            "val_top1": top1,
        }
    )


def test_learning_curves_mark_the_best_epoch_and_the_learning_rate_drops() -> None:
    summary = _summary()
    assert engine.best_epoch(summary) == 6, "the first of the tied best, as best.pt keeps it"
    run = "large_insect_order_vit_ce_s1"
    figure = engine.learning_curves(summary, run)
    for axes in figure.axes:
        lines = {line.get_label(): line for line in axes.get_lines()}
        (best,) = [line for label, line in lines.items() if label.startswith("best epoch")]
        assert list(best.get_xdata()) == [6]
        drops = [line.get_xdata()[0] for line in axes.get_lines() if line.get_linestyle() == ":"]
        assert drops == [7.5, 9.5], "between the last epoch at one rate and the first at the next"
    (legend,) = figure.legends
    labels = [text.get_text() for text in legend.get_texts()]
    assert "best epoch: 6 (validation top-1)" in labels and "learning rate 0.05 → 0.005 → 0.0005" in labels
    renderer = figure.canvas.get_renderer()
    figure.draw(renderer)
    (suptitle,) = [text.get_window_extent(renderer) for text in figure.texts if text.get_text() == run]
    for axes in figure.axes:
        assert suptitle.y0 >= axes.title.get_window_extent(renderer).y1, "the run name clears the panel titles"


def test_the_row_share_confusion_matrix_writes_each_rows_shares_summing_to_100() -> None:
    matrix = np.array([[6, 3, 1], [2, 8, 0], [0, 0, 0]])
    figure = run_plots.row_share_confusion_figure(matrix, ["A", "B", "C"], "run: test, by true class")
    written = {(round(text.get_position()[1]), round(text.get_position()[0])): text for text in figure.axes[0].texts}
    assert {cell: text.get_text() for cell, text in written.items()} == {
        (0, 0): "60", (0, 1): "30", (0, 2): "10", (1, 0): "20", (1, 1): "80"
    }, "every non-zero share of a small matrix; none in the row of a class without samples"  # fmt: skip
    image = figure.axes[0].images[0]
    for (row, column), text in written.items():
        background = image.cmap(image.norm(image.get_array()[row, column]))
        assert text.get_color() == text_colour_on(background)
    assert written[(1, 1)].get_color() == DARK_TEXT, "80 % is a light (yellow-green) cell"


def test_a_large_row_share_confusion_matrix_writes_only_its_largest_shares() -> None:
    classes = [f"family {index}" for index in range(run_plots.CELL_VALUES_UP_TO + 1)]
    matrix = 19 * np.eye(len(classes), dtype=int)
    matrix[0, 1], matrix[0, 0] = 1, 99  # a 1 % confusion: left blank in a matrix this large
    figure = run_plots.row_share_confusion_figure(matrix, classes, "run: test, by true class")
    assert sorted(text.get_text() for text in figure.axes[0].texts) == ["100"] * (len(classes) - 1) + ["99"]


def test_per_class_scores_write_precision_recall_and_f1_in_percent() -> None:
    table = pd.DataFrame(
        {
            "class": ["A", "B"],
            "test_samples": [10, 0],
            "top1": [0.8, np.nan],
            "precision": [0.5, 0.0],
            "f1": [0.6154, 0],
        }
    )
    figure = run_plots.per_class_scores(table, "run: test precision, recall and F1 per class")
    axes = figure.axes[0]
    assert [label.get_text() for label in axes.get_xticklabels()] == ["precision", "recall (top-1)", "F1"]
    assert [text.get_text() for text in axes.texts] == ["50", "80", "62", "0", "0"], "B's recall left blank"


def test_the_reliability_diagram_marks_the_threshold_and_draws_each_bins_accuracy() -> None:
    bins = pd.DataFrame(
        {
            "low": [0, 0.5],
            "high": [0.5, 1],
            "photographs": [4, 0],
            "confidence": [0.4, np.nan],
            "accuracy": [0.25, np.nan],
        }
    )
    figure = run_plots.reliability_figure(bins, 0.62, 0.15)
    axes = figure.axes[0]
    (threshold,) = [line for line in axes.get_lines() if line.get_label().startswith("uncertainty threshold")]
    assert list(threshold.get_xdata()) == [0.62, 0.62] and threshold.get_label() == "uncertainty threshold 0.620"
    heights = [bar.get_height() for bar in axes.patches if bar.get_label() != "flagged uncertain"]
    assert heights == [0.25, 0.0], "an empty bin has no bar"
    assert [text.get_text() for text in axes.texts] == ["4", ""] and "0.150" in axes.get_title()
