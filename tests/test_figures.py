"""Every figure has a title, log-scaled count axes start at or below one, and legends name every series."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from bioscan_lib.classify import plots as run_plots  # noqa: E402
from bioscan_lib.core.figures import DARK_TEXT, LIGHT_TEXT, relative_luminance, text_colour_on  # noqa: E402
from bioscan_lib.dataset import plots  # noqa: E402
from bioscan_lib.split import statistics as split_statistics  # noqa: E402
from bioscan_lib.split.rules import SPLITS  # noqa: E402


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
