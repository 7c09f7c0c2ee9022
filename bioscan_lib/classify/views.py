"""07 test: the confusion explorer of a tested run."""

from __future__ import annotations

from pathlib import Path

import ipywidgets as widgets
import matplotlib.pyplot as plt
import pandas as pd
from matplotlib.figure import Figure

from bioscan_lib.classify.predict import run_classes
from bioscan_lib.config import run_config
from bioscan_lib.core.paths import resolve_path
from bioscan_lib.core.runs import PREDICTIONS_CSV, RunFolder
from bioscan_lib.core.widgets import InteractiveView, linked
from bioscan_lib.data.images import decode_image, open_package


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
    return linked([choice], lambda: confusion_row(predictions, package, choice.value), "Confusion explorer")


def run_class_explorer(run_dir: str | Path) -> InteractiveView:
    """The confusion explorer of a tested run, over the package it was trained on."""

    run = RunFolder(run_dir)
    config = run_config(run)
    predictions = pd.read_csv(run.file(PREDICTIONS_CSV))
    return class_explorer(predictions, str(resolve_path(config.data_root) / config.package), run_classes(run_dir))
