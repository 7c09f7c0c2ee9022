"""02 dataset statistics: the class-distribution explorer."""

from __future__ import annotations

import ipywidgets as widgets
import matplotlib.pyplot as plt
import pandas as pd
from matplotlib.figure import Figure

from bioscan_lib.core.widgets import InteractiveView, linked
from bioscan_lib.data.bioscan1m import BIN_COLUMN, TAXONOMY_COLUMNS
from bioscan_lib.data.metadata import labelled, labelled_counts
from bioscan_lib.dataset.plots import log_axis_start

RANK_NAMES = {BIN_COLUMN: "BIN"}  # the metadata column `uri` holds the Barcode Index Number


def rank_distribution(frame: pd.DataFrame, rank: str, top: int) -> Figure:
    """Bar chart (log scale) of the `top` largest categories of a rank, labelled samples only."""
    known = labelled_counts(frame[rank]).head(top)
    table = pd.DataFrame({rank: known.index, "count": known.to_numpy()})
    figure, axis = plt.subplots(figsize=(9, max(2.5, 0.22 * len(table) + 1)))
    axis.barh(table[rank], table["count"], color="tab:blue")
    axis.set_xscale("log")
    axis.set_xlim(left=log_axis_start(table["count"]))
    axis.invert_yaxis()
    axis.set_xlabel("specimens (log scale)")
    axis.set_title(
        f"{RANK_NAMES.get(rank, rank)}: {int(labelled(frame[rank]).sum()):,} labelled specimens, top {len(table)} of "
        f"{frame.loc[labelled(frame[rank]), rank].nunique():,} categories"
    )
    axis.tick_params(axis="y", labelsize=8)
    figure.tight_layout()
    return figure


def rank_explorer(frame: pd.DataFrame, rank: str = "order", top: int = 20) -> InteractiveView:
    """Pick a taxonomic rank (and how many categories) and see its class distribution."""
    ranks = [r for r in (*TAXONOMY_COLUMNS, BIN_COLUMN) if r in frame.columns]
    options = [(RANK_NAMES.get(r, r), r) for r in ranks]
    rank_choice = widgets.Dropdown(options=options, value=rank, description="rank")
    top_choice = widgets.IntSlider(value=top, min=5, max=60, step=5, description="categories")
    return linked(
        [rank_choice, top_choice],
        lambda: rank_distribution(frame, rank_choice.value, top_choice.value),
        "Class distribution by rank",
    )
