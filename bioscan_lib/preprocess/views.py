"""05 preprocessing: the image browser, packages side by side."""

from __future__ import annotations

import ipywidgets as widgets
import matplotlib.pyplot as plt
import pandas as pd
from matplotlib.figure import Figure

from bioscan_lib.core.widgets import InteractiveView, linked
from bioscan_lib.data.images import decode_image, open_package
from bioscan_lib.data.metadata import labelled


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

    return linked([taxon_choice, split_choice], draw, "Image browser")
