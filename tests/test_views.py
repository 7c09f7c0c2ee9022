"""Interactive views of the stages (over core.widgets): they respond to their controls and carry a static picture for headless runs."""

from __future__ import annotations

from pathlib import Path

import ipywidgets as widgets
import matplotlib.pyplot as plt
import pandas as pd
import pytest
from matplotlib.figure import Figure

from bioscan_lib.classify import views as classify_views
from bioscan_lib.core import widgets as core_widgets
from bioscan_lib.data import bioscan1m, metadata
from bioscan_lib.dataset import views as dataset_views
from bioscan_lib.preprocess import views as preprocess_views


@pytest.fixture(scope="module")
def frame(small_sample: Path) -> pd.DataFrame:
    return metadata.read_metadata(small_sample / "bioscan1m")


def test_rank_explorer_has_a_static_fallback_and_redraws(frame: pd.DataFrame) -> None:
    view = dataset_views.rank_explorer(frame, rank="order", top=10)
    bundle = view._repr_mimebundle_()
    assert {"application/vnd.jupyter.widget-view+json", "image/png", "text/plain"} <= set(bundle)
    assert bundle["text/plain"].startswith("Class distribution by rank")
    output = view.widget.children[1]
    before = output.outputs[0]["data"]["image/png"]
    assert before == bundle["image/png"]
    view.widget.children[0].children[0].value = "family"
    assert output.outputs[0]["data"]["image/png"] != before


def test_rank_distribution_shows_only_labelled_categories(frame: pd.DataFrame) -> None:
    figure = dataset_views.rank_distribution(frame, "genus", top=5)
    labels = [tick.get_text() for tick in figure.axes[0].get_yticklabels()]
    assert len(labels) == 5 and bioscan1m.NOT_CLASSIFIED not in labels
    smallest = metadata.labelled_counts(frame["genus"]).head(5).min()
    assert smallest / 20 < figure.axes[0].get_xlim()[0] <= smallest / 2, "within the decade below half the least"


@pytest.fixture(scope="module")
def packages(small_sample: Path) -> dict[str, str]:
    return {
        "folder": str(small_sample / "bioscan1m" / "images" / "original_256"),
        "hdf5": str(small_sample / "release" / "original_256.hdf5"),
    }


def test_a_refill_runs_before_one_redraw() -> None:
    parent, child = widgets.Dropdown(options=["a", "b"]), widgets.Dropdown(options=["a1", "a2"])
    drawn = []

    def draw() -> Figure:
        drawn.append((parent.value, child.value))
        return plt.figure()

    def refill() -> None:
        child.options = [f"{parent.value}1", f"{parent.value}2"]
        child.value = f"{parent.value}2"

    core_widgets.linked([parent, child], draw, "Linked", refills={parent: refill})
    parent.value = "b"
    assert drawn == [("a", "a1"), ("b", "b2")]


def test_image_browser_puts_packages_side_by_side(frame: pd.DataFrame, packages: dict[str, str]) -> None:
    view = preprocess_views.image_browser(frame, packages, rank="order")
    assert view._repr_mimebundle_()["text/plain"].startswith("Image browser")
    diptera = preprocess_views.taxon_specimens(frame, "order", "Diptera", None, "train")
    figure = preprocess_views.specimen_grid(diptera.head(2), packages, "order = Diptera")
    assert figure.axes[0].get_title().startswith("folder") and figure.axes[1].get_title().startswith("hdf5")
    assert len(figure.axes) == 4


def test_image_browser_says_when_nothing_matches(frame: pd.DataFrame, packages: dict[str, str]) -> None:
    nothing = preprocess_views.taxon_specimens(frame, "order", "Nonexistent", None, "train")
    figure = preprocess_views.specimen_grid(nothing, packages, "order = Nonexistent")
    assert figure.axes[0].texts[0].get_text() == "no specimen"


def test_image_browser_lists_the_taxa_of_the_chosen_rank_largest_first(
    frame: pd.DataFrame, packages: dict[str, str]
) -> None:
    view = preprocess_views.image_browser(frame, packages, rank="order")
    rank, taxon = view.widget.children[0].children[:2]
    assert list(rank.options) == [r for r in bioscan1m.TAXONOMY_COLUMNS if r in frame.columns]
    rank.value = "family"
    counts = frame["family"][metadata.labelled(frame["family"])].astype(str).value_counts()
    assert list(taxon.options) == counts.index.tolist() and taxon.value == counts.index[0]
    assert bioscan1m.NOT_CLASSIFIED not in taxon.options


def test_image_browser_pages_through_a_taxon_and_stops_at_the_last_page(
    frame: pd.DataFrame, packages: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    shown = []
    draw_grid = preprocess_views.specimen_grid

    def recording_grid(specimens: pd.DataFrame, packages: dict[str, str], title: str) -> Figure:
        shown.append(specimens["image_file"].astype(str).tolist())
        return draw_grid(specimens, packages, title)

    monkeypatch.setattr(preprocess_views, "specimen_grid", recording_grid)
    view = preprocess_views.image_browser(frame, packages, rank="genus")
    taxon, page = view.widget.children[0].children[1], view.widget.children[0].children[3]
    files = preprocess_views.taxon_specimens(frame, "genus", taxon.value, None, "train")["image_file"].astype(str)
    per_page = preprocess_views.SPECIMENS_PER_PAGE
    assert len(files) > per_page and page.max == -(-len(files) // per_page)
    page.value = 2
    assert shown == [files.tolist()[:per_page], files.tolist()[per_page : 2 * per_page]]
    page.value = page.max + 1
    assert page.value == page.max


def test_image_browser_fallback_is_the_default_view(frame: pd.DataFrame, packages: dict[str, str]) -> None:
    view = preprocess_views.image_browser(frame, packages, rank="order")
    diptera = preprocess_views.taxon_specimens(frame, "order", "Diptera", None, "train")
    title = preprocess_views.page_title("order = Diptera", 1, len(diptera))
    figure = preprocess_views.specimen_grid(preprocess_views.specimen_page(diptera, 1), packages, title)
    assert view.fallback_png == core_widgets.figure_png(figure)


@pytest.fixture(scope="module")
def runs(small_sample: Path) -> dict[str, classify_views.TestedRun]:
    """Two runs over six images: an order-like one (A, B, C) and a family-like one (X, Y)."""
    package = str(small_sample / "bioscan1m" / "images" / "original_256")
    frame = metadata.read_metadata(small_sample / "bioscan1m").head(6)
    first = pd.DataFrame(
        {
            "image_file": frame["image_file"].astype(str),
            "chunk_number": frame["chunk_number"],
            "true": ["A", "A", "B", "B", "B", "C"],
            "predicted": ["A", "B", "A", "C", "B", "C"],
            "probability": [0.9, 0.6, 0.7, 0.5, 0.8, 0.99],
        }
    )
    second = first.assign(true=["X", "Y", "Y", "X", "X", "Y"], predicted=["X", "X", "Y", "X", "X", "X"])
    return {
        "order_run": classify_views.TestedRun(first, package, ["A", "B", "C"]),
        "family_run": classify_views.TestedRun(second, package, ["X", "Y"]),
    }


def test_confusion_explorer_starts_at_the_first_runs_most_confused_class(
    runs: dict[str, classify_views.TestedRun],
) -> None:
    view = classify_views.class_explorer(list(runs), runs.__getitem__)
    run, true_class = view.widget.children[0].children
    assert (run.value, true_class.value) == ("order_run", "B")
    order_run = runs["order_run"]
    figure = classify_views.confusion_row(order_run.predictions, order_run.package, "B")
    titles = [axis.get_title() for axis in figure.axes]
    assert titles[0] == "B: 3 test images" and titles[1:] == ["as A (0.70)", "as C (0.50)"]
    assert view.fallback_png == core_widgets.figure_png(figure)


def test_confusion_explorer_redraws_for_another_run_with_its_classes(
    runs: dict[str, classify_views.TestedRun],
) -> None:
    view = classify_views.class_explorer(list(runs), runs.__getitem__)
    run, true_class = view.widget.children[0].children
    assert list(run.options) == ["order_run", "family_run"]
    run.value = "family_run"
    assert list(true_class.options) == ["X", "Y"] and true_class.value == "Y"
    family_run = runs["family_run"]
    expected = core_widgets.figure_png(classify_views.confusion_row(family_run.predictions, family_run.package, "Y"))
    assert view.widget.children[1].outputs[0]["data"]["image/png"] == expected


def test_runs_class_explorer_lists_every_run_folder_by_name(
    runs: dict[str, classify_views.TestedRun], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    read = []

    def reading(run_dir: Path) -> classify_views.TestedRun:
        read.append(run_dir.name)
        return runs[run_dir.name]

    monkeypatch.setattr(classify_views, "tested_run", reading)
    view = classify_views.runs_class_explorer([tmp_path / "order_run", tmp_path / "family_run"])
    run = view.widget.children[0].children[0]
    assert list(run.options) == ["order_run", "family_run"] and read == ["order_run"]
    run.value = "family_run"
    run.value = "order_run"
    assert read == ["order_run", "family_run"]
