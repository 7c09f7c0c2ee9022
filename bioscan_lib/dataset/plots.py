"""The dataset's figures: class distribution, barcode lengths and bases, BIN sizes (as the paper and the dataset README)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.colors import ListedColormap
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from bioscan_lib.data import bioscan1m

LOG_AXIS_START = 0.5  # log count axes start below one specimen: no cut-off baseline, and a class of one shows
CLASS_COLOUR = "tab:blue"
OUTSIDE_THE_16 = {"facecolor": "lightgrey", "edgecolor": "dimgrey", "hatch": "//"}  # orders the paper leaves out
COUNT_LABEL_ROOM = 3  # the count axis runs to this many times the largest count: room for its written count
BASE_COLOURS = {"A": "red", "T": "blue", "C": "green", "G": "gold", "N": "lightgrey", "-": "white"}


def class_distribution(order_table: pd.DataFrame, family_table: pd.DataFrame) -> Figure:
    """Specimens per order and per Diptera family (40 classes), log scale as in the paper; orders outside the
    paper's 16 hatched grey."""
    figure, (left, right) = plt.subplots(1, 2, figsize=(14, 9), width_ratios=[1, 1.4], layout="constrained")
    orders = _count_bars(left, order_table["order"].astype(str), order_table["count"], "Insect orders")
    classified = order_table["order"].isin(list(bioscan1m.published_order_counts())).to_numpy()
    for bar in np.asarray(orders.patches)[~classified]:
        bar.set(**OUTSIDE_THE_16)
    left.legend(
        handles=[Patch(color=CLASS_COLOUR, label="one of the paper's 16 orders")]
        + [Patch(**OUTSIDE_THE_16, label="outside the 16 (not classified)")] * (not classified.all()),
        loc="lower right",
        fontsize=8,
    )
    _count_bars(right, family_table["family"].astype(str), family_table["count"], "Diptera families (40 most populous)")
    return figure


def log_axis_start(counts: pd.Series) -> float:
    """The power of ten at or below half the smallest count: every bar shows, and the axis spans only the decades the
    counts use, so that bars of similar counts still differ."""
    return float(10 ** np.floor(np.log10(max(counts.min(), 1) / 2)))


def _count_bars(axis, names: pd.Series, counts: pd.Series, title: str):
    """Horizontal bars of `counts` on a log axis from `log_axis_start`, largest first, each count written at its end."""
    bars = axis.barh(names, counts, color=CLASS_COLOUR)
    axis.bar_label(bars, [f"{count:,}" for count in counts], padding=2, fontsize=7)
    axis.set_xscale("log")
    axis.set_xlim(log_axis_start(counts), COUNT_LABEL_ROOM * counts.max())
    axis.invert_yaxis()
    axis.set_xlabel("specimens (log scale)")
    axis.set_title(title)
    axis.tick_params(axis="y", labelsize=8)
    return bars


def barcode_length_histogram(lengths: pd.Series) -> Figure:
    """Distribution of DNA barcode lengths, with the 660-base reliability limit marked."""
    figure, axis = plt.subplots(figsize=(8, 4))
    axis.hist(lengths, bins=np.arange(lengths.min(), lengths.max() + 5, 5), color="tab:green")
    axis.axvline(660, color="black", linestyle="--", linewidth=1, label="660 bases")
    axis.set_yscale("log")
    axis.set_ylim(bottom=LOG_AXIS_START)
    axis.set_xlabel("barcode length (characters)")
    axis.set_ylabel("specimens (log scale)")
    axis.set_title(f"DNA barcode lengths of {len(lengths):,} specimens")
    axis.legend()
    figure.tight_layout()
    return figure


def barcode_blocks(sequence: str, per_row: int = 110) -> Figure:
    """One DNA barcode drawn as coloured blocks: A red, T blue, C green, G yellow (N grey, gap white)."""
    symbols = list(BASE_COLOURS)
    codes = np.array([symbols.index(base) if base in BASE_COLOURS else symbols.index("N") for base in sequence])
    rows = -(-len(codes) // per_row)
    grid = np.full(rows * per_row, symbols.index("-"))
    grid[: len(codes)] = codes
    figure, axis = plt.subplots(figsize=(12, 0.35 * rows + 0.8))
    axis.imshow(
        grid.reshape(rows, per_row),
        cmap=ListedColormap(list(BASE_COLOURS.values())),
        vmin=0,
        vmax=len(symbols) - 1,
        aspect="auto",
        interpolation="nearest",
    )
    axis.set_axis_off()
    axis.set_title(f"DNA barcode, {len(sequence)} characters")
    axis.legend(
        handles=[Patch(color=c, label=b) for b, c in BASE_COLOURS.items() if b != "-"],
        loc="upper center",
        bbox_to_anchor=(0.5, -0.02),
        ncol=5,
        frameon=False,
    )
    figure.tight_layout()
    return figure


def bin_sizes(sizes: pd.Series) -> Figure:
    """Distribution of specimens per BIN (log-log)."""
    figure, axis = plt.subplots(figsize=(8, 4))
    counts = sizes.value_counts().sort_index()
    axis.scatter(counts.index, counts.to_numpy(), s=8, color="tab:purple")
    axis.set_xscale("log")
    axis.set_yscale("log")
    axis.set_xlim(left=LOG_AXIS_START)
    axis.set_ylim(bottom=LOG_AXIS_START)
    axis.set_xlabel("specimens in the BIN (log scale)")
    axis.set_ylabel("number of BINs (log scale)")
    axis.set_title(f"BIN sizes: {len(sizes):,} BINs of {int(sizes.sum()):,} specimens")
    figure.tight_layout()
    return figure
