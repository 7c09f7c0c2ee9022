"""Interactive views for JupyterLab (ipywidgets), each carrying a static picture of its default view.

In JupyterLab the widget renders and responds; where no widget manager runs (papermill, nbval, nbconvert,
GitHub) the static PNG of the default selection shows instead, and the plain-text form is a fixed line.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

import ipywidgets as widgets
import matplotlib.pyplot as plt
import pandas as pd
from matplotlib.figure import Figure

from bioscan_lib.classify.predict import run_classes
from bioscan_lib.classify.test import PREDICTIONS_CSV
from bioscan_lib.classify.train import read_run_config
from bioscan_lib.core.paths import resolve_path
from bioscan_lib.dataset.metadata import TAXONOMY_COLUMNS
from bioscan_lib.dataset.plots import LOG_AXIS_START
from bioscan_lib.dataset.statistics import labelled
from bioscan_lib.preprocess.packages import decode_image, open_package


def figure_png(figure: Figure) -> str:
    """A figure as base64 PNG (the figure is closed)."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=90, bbox_inches="tight", metadata={"Software": None})
    plt.close(figure)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


class InteractiveView:
    """A widget shown with a static fallback: the PNG of its default view and a fixed text line."""

    def __init__(self, widget: widgets.Widget, fallback_png: str, title: str):
        self.widget, self.fallback_png, self.title = widget, fallback_png, title

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        bundle = dict(self.widget._repr_mimebundle_(include=include, exclude=exclude) or {})
        bundle["image/png"] = self.fallback_png
        bundle["text/plain"] = f"{self.title} (interactive in JupyterLab; static view of the default selection)"
        return bundle


def _linked(controls: list[widgets.Widget], draw: Callable[[], Figure], title: str) -> InteractiveView:
    """Controls above a picture that is redrawn whenever a control changes.

    The picture is set as the output widget's state, not displayed, so headless runs record nothing extra.
    """
    output = widgets.Output()

    def redraw(_: Any = None) -> str:
        png = figure_png(draw())
        output.outputs = (
            {"output_type": "display_data", "metadata": {}, "data": {"image/png": png, "text/plain": title}},
        )
        return png

    for control in controls:
        control.observe(redraw, names="value")
    return InteractiveView(widgets.VBox([widgets.HBox(controls), output]), redraw(), title)


RANK_NAMES = {"uri": "BIN"}  # the metadata column `uri` holds the Barcode Index Number


def rank_distribution(frame: pd.DataFrame, rank: str, top: int) -> Figure:
    """Bar chart (log scale) of the `top` largest categories of a rank, labelled samples only."""
    known = frame.loc[labelled(frame[rank]), rank].astype("string").value_counts().head(top)
    table = pd.DataFrame({rank: known.index, "count": known.to_numpy()})
    figure, axis = plt.subplots(figsize=(9, max(2.5, 0.22 * len(table) + 1)))
    axis.barh(table[rank], table["count"], color="tab:blue")
    axis.set_xscale("log")
    axis.set_xlim(left=LOG_AXIS_START)
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
    ranks = [r for r in (*TAXONOMY_COLUMNS, "uri") if r in frame.columns]
    options = [(RANK_NAMES.get(r, r), r) for r in ranks]
    rank_choice = widgets.Dropdown(options=options, value=rank, description="rank")
    top_choice = widgets.IntSlider(value=top, min=5, max=60, step=5, description="categories")
    return _linked(
        [rank_choice, top_choice],
        lambda: rank_distribution(frame, rank_choice.value, top_choice.value),
        "Class distribution by rank",
    )


def specimen_grid(
    frame: pd.DataFrame,
    packages: dict[str, str],
    rank: str,
    taxon: str,
    split_column: str | None,
    split: str,
    count: int = 4,
) -> Figure:
    """The first `count` specimens of a taxon (and split), one row per specimen, one column per package."""
    chosen = frame[frame[rank].astype("string") == taxon]
    if split_column:
        chosen = chosen[chosen[split_column].astype("string") == split]
    chosen = chosen.head(count)
    columns = list(packages)
    figure, axes = plt.subplots(
        max(1, len(chosen)), len(columns), figsize=(3 * len(columns), 2.6 * max(1, len(chosen))), squeeze=False
    )
    for axis in axes.flat:
        axis.set_axis_off()
    readers = {name: open_package(path) for name, path in packages.items()}
    try:
        for row, record in enumerate(chosen.itertuples()):
            for column, name in enumerate(columns):
                axes[row, column].imshow(decode_image(readers[name].read(record.image_file, record.chunk_number)))
                axes[row, column].set_title(f"{name}\n{record.image_file}", fontsize=8)
    finally:
        for reader in readers.values():
            reader.close()
    if chosen.empty:
        axes[0, 0].text(0.5, 0.5, "no specimen", ha="center", va="center")
    figure.suptitle(f"{rank} = {taxon}" + (f", {split_column} = {split}" if split_column else ""))
    figure.tight_layout()
    return figure


def image_browser(
    frame: pd.DataFrame, packages: dict[str, str], rank: str = "order", split_column: str | None = None
) -> InteractiveView:
    """Browse photographs by taxon and split, the packages (e.g. original and cropped) side by side."""
    taxa = frame.loc[labelled(frame[rank]), rank].astype("string").value_counts().index.tolist()
    taxon_choice = widgets.Dropdown(options=taxa, value=taxa[0], description=rank)
    splits = ["train", "validation", "test"]
    split_choice = widgets.Dropdown(options=splits, value="train", description="split", disabled=split_column is None)

    def draw() -> Figure:
        return specimen_grid(frame, packages, rank, taxon_choice.value, split_column, split_choice.value)

    return _linked([taxon_choice, split_choice], draw, "Image browser")


def confusion_row(predictions: pd.DataFrame, package: str, true_class: str, count: int = 6) -> Figure:
    """Where a class's test images went (its confusion row) and the first misclassified ones."""
    rows = predictions[predictions["true"] == true_class]
    wrong = rows[rows["predicted"] != true_class].head(count)
    per_row = max(1, count // 2)
    figure = plt.figure(figsize=(12, 3.6))
    grid = figure.add_gridspec(2, 3 + 2 * per_row)
    bars = figure.add_subplot(grid[:, :3])
    went = rows["predicted"].value_counts()
    bars.barh(
        went.index.astype(str),
        went.to_numpy(),
        color=["tab:green" if c == true_class else "tab:red" for c in went.index],
    )
    bars.invert_yaxis()
    bars.set_title(f"{true_class}: {len(rows)} test images", fontsize=9)
    bars.set_xlabel("predicted as")
    reader = open_package(package)
    try:
        for slot, record in enumerate(wrong.itertuples()):
            column = 3 + 2 * (slot % per_row)
            axis = figure.add_subplot(grid[slot // per_row, column : column + 2])
            axis.imshow(decode_image(reader.read(record.image_file, record.chunk_number)))
            axis.set_title(f"as {record.predicted} ({record.probability:.2f})", fontsize=8, color="tab:red")
            axis.set_axis_off()
    finally:
        reader.close()
    if wrong.empty:
        figure.text(0.7, 0.5, "no misclassified test image", ha="center", va="center")
    return figure


def class_explorer(predictions: pd.DataFrame, package: str, classes: list[str]) -> InteractiveView:
    """Pick a class and see its confusion row and misclassified test images; starts at the most confused class."""
    errors = predictions.loc[predictions["true"] != predictions["predicted"], "true"].value_counts()
    choice = widgets.Dropdown(
        options=classes, value=errors.index[0] if len(errors) else classes[0], description="class"
    )
    return _linked([choice], lambda: confusion_row(predictions, package, choice.value), "Confusion explorer")


def run_class_explorer(run_dir: str | Path) -> InteractiveView:
    """The confusion explorer of a tested run, over the package it was trained on."""

    config = read_run_config(run_dir)
    predictions = pd.read_csv(Path(run_dir) / PREDICTIONS_CSV)
    return class_explorer(predictions, str(resolve_path(config.data_root) / config.package), run_classes(run_dir))
