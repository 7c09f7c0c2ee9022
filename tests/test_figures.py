"""Every figure has a title, log-scaled count axes start at or below one, and legends name every series."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from bioscan_lib.classify import plots as run_plots  # noqa: E402
from bioscan_lib.dataset import plots  # noqa: E402


def _log_axes_start_at_one(figure) -> bool:
    limits = [axis.get_xlim()[0] for axis in figure.axes if axis.get_xscale() == "log"]
    limits += [axis.get_ylim()[0] for axis in figure.axes if axis.get_yscale() == "log"]
    return bool(limits) and all(limit <= 1 for limit in limits)


def test_dataset_figures_have_titles_and_log_axes_from_one() -> None:
    orders = pd.DataFrame({"order": ["Diptera", "Hymenoptera"], "count": [896324, 89311]})
    families = pd.DataFrame({"family": ["Cecidomyiidae", "Psilidae"], "count": [259104, 237]})
    lengths = pd.Series(np.r_[np.full(50, 658), np.full(3, 700)])
    bins = pd.Series([1, 1, 2, 30], index=list("abcd"))
    for figure in (
        plots.class_distribution(orders, families),
        plots.barcode_length_histogram(lengths),
        plots.bin_sizes(bins),
    ):
        assert all(axis.get_title() for axis in figure.axes), "every panel has a title"
        assert _log_axes_start_at_one(figure)


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
