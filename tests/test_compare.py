"""Rebuilt packages beside the published ones: counts, pixel differences of the resized originals, crop boxes."""

from __future__ import annotations

from pathlib import Path

import pytest

from bioscan_lib.data.metadata import read_metadata
from bioscan_lib.preprocess import compare
from bioscan_lib.preprocess import process as preprocess


@pytest.fixture(scope="module")
def rebuilt(small_sample: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The small sample's 256 px packages rebuilt from its full-size originals, as notebook 05 does."""
    root = tmp_path_factory.mktemp("rebuilt")
    originals = small_sample / "bioscan1m" / "images" / "original_full"
    preprocess.resize_package(originals, root, ("folder",), workers=1)
    cropped = preprocess.crop_package(originals, root, ("folder",), workers=1, boxes_csv=root / "boxes.csv")
    published = {p: small_sample / "bioscan1m" / "images" / p for p in ("original_256", "cropped_256")}
    return {
        "records": read_metadata(small_sample / "bioscan1m"),
        "published": published,
        "rebuilt": {p: root / "images" / p for p in published},
        "boxes": cropped.boxes,
        "originals": originals,
        "truth": small_sample / "truth" / "boxes.csv",
    }


def test_counts_cover_every_image_and_notice_a_missing_package(rebuilt: dict, tmp_path: Path) -> None:
    counts = compare.package_counts(rebuilt["records"], rebuilt["published"], rebuilt["rebuilt"])
    assert counts[["published", "rebuilt", "in_both"]].to_numpy().tolist() == [[240, 240, 240]] * 2
    missing = {**rebuilt["rebuilt"], "cropped_256": tmp_path / "absent"}
    counts = compare.package_counts(rebuilt["records"], rebuilt["published"], missing).set_index("package")
    assert counts.loc["cropped_256", "rebuilt"] == 0 and counts.loc["cropped_256", "published"] == 240


def test_rebuilt_originals_differ_from_the_published_by_a_few_levels(rebuilt: dict) -> None:
    chosen = compare.evenly_spaced(rebuilt["records"], 20)
    assert len(chosen) == 20 and chosen.index.is_monotonic_increasing
    differences = compare.resized_differences(
        chosen, rebuilt["published"]["original_256"], rebuilt["rebuilt"]["original_256"], progress=False
    )
    assert (differences["published_size"] == differences["rebuilt_size"]).all()
    assert 0 < differences["mean_abs_difference"].max() < 5


def test_published_boxes_are_found_by_matching_and_compared_with_the_rebuilt(rebuilt: dict) -> None:
    chosen = compare.evenly_spaced(rebuilt["records"], 8)
    found = compare.published_crop_boxes(
        chosen,
        rebuilt["published"]["original_256"],
        rebuilt["published"]["cropped_256"],
        rebuilt["originals"],
        progress=False,
    )
    truth = compare.box_agreement(found, compare.enlarged_true_boxes(rebuilt["truth"]))
    assert len(truth) == 8 and truth["iou"].median() > 0.85, "matching should recover the published boxes"
    agreement = compare.box_agreement(found, rebuilt["boxes"])
    assert agreement["iou"].median() > 0.6
    shifted = found.assign(left=found["left"] + 40, right=found["right"] + 40)
    assert compare.box_agreement(shifted, rebuilt["boxes"])["iou"].median() < agreement["iou"].median()
    counts = compare.package_counts(chosen, rebuilt["published"], rebuilt["rebuilt"])
    differences = compare.resized_differences(
        chosen, rebuilt["published"]["original_256"], rebuilt["rebuilt"]["original_256"], progress=False
    )
    summary = compare.comparison_summary(counts, differences, agreement).set_index("measure")["value"]
    assert summary["crop boxes compared"] == "8"
    assert summary["original_256: images published / rebuilt / in both"] == "8 / 8 / 8"
