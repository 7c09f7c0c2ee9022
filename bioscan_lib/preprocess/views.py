"""05 preprocessing: the image browser, a page of one taxon's specimens at a time, packages side by side."""

from __future__ import annotations

import ipywidgets as widgets
import matplotlib.pyplot as plt
import pandas as pd
from matplotlib.figure import Figure

from bioscan_lib.core.widgets import InteractiveView, linked
from bioscan_lib.data.bioscan1m import TAXONOMY_COLUMNS
from bioscan_lib.data.images import decode_image, open_package
from bioscan_lib.data.metadata import labelled, labelled_counts
from bioscan_lib.split.rules import SPLITS

SPECIMENS_PER_PAGE = 4


def browsable_ranks(frame: pd.DataFrame) -> list[str]:
    """The taxonomic ranks of the metadata that name at least one specimen, phylum first."""
    return [rank for rank in TAXONOMY_COLUMNS if rank in frame.columns and labelled(frame[rank]).any()]


def taxon_specimens(frame: pd.DataFrame, rank: str, taxon: str, split_column: str | None, split: str) -> pd.DataFrame:
    """A taxon's specimens in metadata order, only those of `split` where a split column is given."""
    chosen = frame[frame[rank].astype("string") == taxon]
    return chosen[chosen[split_column].astype("string") == split] if split_column else chosen


def page_count(specimens: pd.DataFrame, per_page: int = SPECIMENS_PER_PAGE) -> int:
    """Pages of `per_page` specimens; one (empty) page when there is none."""
    return max(1, -(-len(specimens) // per_page))


def specimen_page(specimens: pd.DataFrame, page: int, per_page: int = SPECIMENS_PER_PAGE) -> pd.DataFrame:
    """The specimens of one page, counted from 1."""
    return specimens.iloc[(page - 1) * per_page : page * per_page]


def page_title(selection: str, page: int, total: int, per_page: int = SPECIMENS_PER_PAGE) -> str:
    """What a page shows: the selection and which of its specimens (e.g. `order = Diptera: specimens 5-8 of 23`)."""
    first, last = (page - 1) * per_page + 1, min(page * per_page, total)
    return f"{selection}: specimens {first}-{last} of {total}" if total else selection


def specimen_grid(specimens: pd.DataFrame, packages: dict[str, str], title: str) -> Figure:
    """The given specimens, one row per specimen, one column per package."""
    columns = list(packages)
    rows = max(1, len(specimens))
    figure, axes = plt.subplots(rows, len(columns), figsize=(3 * len(columns), 2.6 * rows), squeeze=False)
    for axis in axes.flat:
        axis.set_axis_off()
    readers = {name: open_package(path) for name, path in packages.items()}
    try:
        for row, record in enumerate(specimens.itertuples()):
            for column, name in enumerate(columns):
                axes[row, column].imshow(decode_image(readers[name].read(record.image_file, record.chunk_number)))
                axes[row, column].set_title(f"{name}\n{record.image_file}", fontsize=8)
    finally:
        for reader in readers.values():
            reader.close()
    if specimens.empty:
        axes[0, 0].text(0.5, 0.5, "no specimen", ha="center", va="center")
    figure.suptitle(title)
    figure.tight_layout()
    return figure


def image_browser(
    frame: pd.DataFrame, packages: dict[str, str], rank: str = "order", split_column: str | None = None
) -> InteractiveView:
    """Browse photographs by rank, taxon (largest first), split and page, the packages side by side.

    It starts at the first page of the largest taxon of `rank`, in the training split."""
    taxa = labelled_counts(frame[rank]).index.tolist()
    rank_choice = widgets.Dropdown(options=browsable_ranks(frame), value=rank, description="rank")
    taxon_choice = widgets.Dropdown(options=taxa, value=taxa[0], description="taxon")
    split_choice = widgets.Dropdown(options=SPLITS, value=SPLITS[0], description="split", disabled=split_column is None)
    page_choice = widgets.IntSlider(value=1, min=1, max=1, description="page", continuous_update=False)

    def specimens() -> pd.DataFrame:
        return taxon_specimens(frame, rank_choice.value, taxon_choice.value, split_column, split_choice.value)

    def list_pages() -> None:
        page_choice.max = page_count(specimens())
        page_choice.value = 1

    def list_taxa() -> None:
        taxon_choice.options = labelled_counts(frame[rank_choice.value]).index.tolist()
        list_pages()

    def draw() -> Figure:
        chosen = specimens()
        selection = f"{rank_choice.value} = {taxon_choice.value}"
        if split_column:
            selection += f", {split_column} = {split_choice.value}"
        title = page_title(selection, page_choice.value, len(chosen))
        return specimen_grid(specimen_page(chosen, page_choice.value), packages, title)

    list_pages()
    refills = {rank_choice: list_taxa, taxon_choice: list_pages, split_choice: list_pages}
    return linked([rank_choice, taxon_choice, split_choice, page_choice], draw, "Image browser", refills)
