"""07 test: the confusion explorer of the tested runs."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache
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


@dataclass(frozen=True)
class TestedRun:
    """A tested run: its test predictions, the image package it was trained on and its class names by index."""

    predictions: pd.DataFrame
    package: str
    classes: list[str]


def tested_run(run_dir: str | Path) -> TestedRun:
    """The predictions, package and classes of a tested run folder."""
    run = RunFolder(run_dir)
    config = run_config(run)
    package = str(resolve_path(config.data_root) / config.package)
    return TestedRun(pd.read_csv(run.file(PREDICTIONS_CSV)), package, run_classes(run_dir))


def most_confused_class(run: TestedRun) -> str:
    """The class with the most misclassified test images (the first class where none is misclassified)."""
    predictions = run.predictions
    errors = predictions.loc[predictions["true"] != predictions["predicted"], "true"].value_counts()
    return errors.index[0] if len(errors) else run.classes[0]


def class_explorer(run_names: list[str], load_run: Callable[[str], TestedRun]) -> InteractiveView:
    """Pick a run and one of its classes and see the class's confusion row and misclassified test images.

    It starts at the first run's most confused class; picking another run lists its classes and starts at its own."""
    first = load_run(run_names[0])
    run_choice = widgets.Dropdown(options=run_names, value=run_names[0], description="run")
    class_choice = widgets.Dropdown(options=first.classes, value=most_confused_class(first), description="class")

    def list_classes() -> None:
        run = load_run(run_choice.value)
        class_choice.options = run.classes
        class_choice.value = most_confused_class(run)

    def draw() -> Figure:
        run = load_run(run_choice.value)
        return confusion_row(run.predictions, run.package, class_choice.value)

    return linked([run_choice, class_choice], draw, "Confusion explorer", refills={run_choice: list_classes})


def runs_class_explorer(run_dirs: Sequence[str | Path]) -> InteractiveView:
    """The confusion explorer over tested run folders, by folder name; each run is read when first picked."""
    folders = {Path(run_dir).name: Path(run_dir) for run_dir in run_dirs}
    return class_explorer(list(folders), cache(lambda name: tested_run(folders[name])))
