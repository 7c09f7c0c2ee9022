"""The report's opening summary: one row per item of the paper, what was reproduced, the largest difference from
the published value, a verdict (equal, within tolerance, differs) and why a difference arises, read from the tables a
run wrote; on a profile with recorded numbers (the sample), the trained numbers checked against them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from bioscan_lib.classify import outputs as classify
from bioscan_lib.core.outputs import Table
from bioscan_lib.core.paths import resolve_path
from bioscan_lib.data.bioscan1m import N_IMAGES
from bioscan_lib.dataset import outputs as dataset
from bioscan_lib.preprocess import outputs as preprocess
from bioscan_lib.report import numbers
from bioscan_lib.report.display import difference_columns
from bioscan_lib.split import outputs as split

NOT_RUN = "not run"
NO_PUBLISHED_VALUE = "no published value"
FOR_INFORMATION = "for information"  # the sample against the paper: a difference by design, its reason beside it
NOT_COMPARED = "not compared"
NOT_JUDGED = (NOT_RUN, NO_PUBLISHED_VALUE, FOR_INFORMATION, NOT_COMPARED)  # verdicts that are not a comparison
RECORDED_ANCHOR = "recorded-numbers"
SYNTHETIC_COUNTS = (
    "the sample's {sample_records:,} synthetic records, with tempered class frequencies, stand for the release's "
    f"{N_IMAGES:,}"
)
# Test metrics: the published table is rounded to 0.01 points, and a released checkpoint tested on other hardware
# may flip a few of 225,660 test predictions; 0.1 percentage points covers both.
TEST_TOLERANCE_POINTS = 0.1
CROP_IOU_FLOOR = 0.75  # a rebuilt crop box agrees with the published crop when their IoU reaches this


@dataclass(frozen=True)
class PaperItem:
    """A table or figure of the paper and how its reproduction is judged from one of the run's tables."""

    paper: str
    table: Table
    judge: Callable[[pd.DataFrame], dict[str, str]]
    paper_why: str  # what a difference means on the real release
    sample_why: str = ""  # why the embedded sample differs by design ('' where it is compared as the release is)


def verdict(largest: float, tolerance: float) -> str:
    """equal, within tolerance or differs, from the largest absolute difference."""
    if largest == 0:
        return "equal"
    return "within tolerance" if largest <= tolerance else "differs"


def _differences(what: str, tolerance: float, unit: str) -> Callable[[pd.DataFrame], dict[str, str]]:
    """A judge of tables with difference columns (reproduced minus published)."""

    def judge(table: pd.DataFrame) -> dict[str, str]:
        values = table[difference_columns(table)].abs().stack().dropna()
        largest = float(values.max()) if len(values) else 0.0
        return {
            "reproduced": what.format(rows=len(table), numbers=len(values)),
            "largest difference": f"{largest:,.2f} {unit}".replace(".00 ", " "),
            "tolerance": f"{tolerance:g} {unit}",
            "verdict": verdict(largest, tolerance),
        }

    return judge


def _crop_boxes(table: pd.DataFrame) -> dict[str, str]:
    measures = dict(zip(table["measure"], table["value"]))
    lowest = float(measures.get("crop box IoU, lowest", "nan"))
    return {
        "reproduced": f"{measures.get('crop boxes compared', 0)} crop boxes against the published crops",
        "largest difference": f"lowest IoU {lowest:.3f}",
        "tolerance": f"IoU >= {CROP_IOU_FLOOR}",
        "verdict": "within tolerance" if lowest >= CROP_IOU_FLOOR else "differs",
    }


def _generalization(table: pd.DataFrame) -> dict[str, str]:
    return {
        "reproduced": f"{len(table)} photographs labelled with top-k orders and an uncertainty flag",
        "largest difference": "",
        "tolerance": "",
        "verdict": NO_PUBLISHED_VALUE,
    }


PAPER_ITEMS = (
    PaperItem(
        "Taxonomy statistics: categories and labelled samples per rank",
        dataset.STATISTICS_VS_PUBLISHED,
        _differences("{rows} numbers", 0, "records"),
        "the metadata file is not the release's: see the checksums of the downloads",
        SYNTHETIC_COUNTS,
    ),
    PaperItem(
        "Class distribution: the 16 orders",
        dataset.ORDER_COUNTS,
        _differences("{rows} order counts", 0, "records"),
        "the metadata file is not the release's: see the checksums of the downloads",
        SYNTHETIC_COUNTS,
    ),
    PaperItem(
        "Class distribution: the 40 largest Diptera families",
        dataset.DIPTERA_FAMILY_COUNTS,
        _differences("{rows} family counts", 0, "records"),
        "the metadata file is not the release's: see the checksums of the downloads",
        SYNTHETIC_COUNTS,
    ),
    PaperItem(
        "Split sizes of the six experiments (70/10/20 per class)",
        split.SPLIT_SIZES_VS_PUBLISHED,
        _differences("{rows} sizes and class counts", 0, "records"),
        "the split columns of the metadata differ from the published split: see the split comparison",
        SYNTHETIC_COUNTS + ", and its Medium and Small sizes are the profile's, not 50,000 and 25,000",
    ),
    PaperItem(
        "The published split, regenerated by the split rule",
        split.SPLIT_COMPARISON,
        _differences("{rows} class and split counts", 0, "records"),
        "the authors drew without a seed: the rule's counts are matched per class, not the draw of specimens",
    ),
    PaperItem(
        "Crop tool: boxes of the published crops",
        preprocess.PREPROCESSING_VS_PUBLISHED,
        _crop_boxes,
        "the detector or its checkpoint is not the published crop tool's",
    ),
    PaperItem(
        "Table 3: test results of ViT-B/16 with cross-entropy",
        classify.TEST_RESULTS_PAPER_LAYOUT,
        _differences("{numbers} numbers of the trained or released runs", TEST_TOLERANCE_POINTS, "points"),
        "a run other than the released ViT-B/16 checkpoint (its model, loss and seed are in the source column); "
        "a retrained ViT-B/16 differs by its seed and hardware",
        "a tiny network trained for minutes on synthetic photographs, set beside ViT-B/16 on the release: not a "
        "reproduction; its numbers are checked against the recorded sample run",
    ),
    PaperItem(
        "Generalization: labelling new photographs",
        classify.GENERALIZATION_PREDICTIONS,
        _generalization,
        "",
    ),
)
RECORDED_ITEM = "Trained numbers (notebooks 06-09) against the recorded sample run, within measured tolerances"


def _judged(item: PaperItem, out_dir: Path, sample_records: int | None) -> dict[str, str]:
    """An item's row: the judge's columns, and on the sample a difference by design marked with its reason."""
    path = item.table.path(out_dir)
    if not path.is_file():
        return {"verdict": NOT_RUN}
    judged = item.judge(pd.read_csv(path))
    if judged["verdict"] in ("equal", NO_PUBLISHED_VALUE):
        return judged
    if sample_records and item.sample_why:
        return {**judged, "verdict": FOR_INFORMATION, "why": item.sample_why.format(sample_records=sample_records)}
    return {**judged, "why": item.paper_why} if judged["verdict"] == "differs" else judged


def recorded_check(out_dir: Path, profile: dict[str, Any]) -> pd.DataFrame | None:
    """Every trained number of the run beside the recorded one (None: the profile records none; empty: not run)."""
    if not profile.get("recorded_numbers"):
        return None
    expected, tolerances = numbers.read_expectations(resolve_path(profile["recorded_numbers"]))
    try:
        measured = numbers.trained_numbers(out_dir, *numbers.trained_runs(profile["profile"]))
    except (OSError, ValueError):
        return pd.DataFrame(columns=["number", "kind", "recorded", "this run", "difference", "allowed"])
    return numbers.comparison(measured, expected, tolerances)


def kind_verdicts(check: pd.DataFrame) -> pd.DataFrame:
    """Per kind of trained number: how many, the largest difference (for labels the share differing), the allowance
    and the verdict."""
    rows = []
    for kind, group in check.groupby("kind", sort=False):
        largest = group["difference"].mean() if kind in numbers.SHARE_KINDS else group["difference"].max()
        allowed = group["allowed"].iloc[0]
        compared = allowed is not None and not pd.isna(allowed)
        rows.append(
            {
                "kind": numbers.KINDS[kind],
                "numbers": len(group),
                "largest difference": float(largest),
                "allowed": allowed if compared else None,
                "verdict": (verdict(float(largest), float(allowed)) if compared else NOT_COMPARED),
            }
        )
    return pd.DataFrame(rows, columns=["kind", "numbers", "largest difference", "allowed", "verdict"])


def _recorded_row(kinds: pd.DataFrame) -> dict[str, str]:
    compared = kinds[kinds["verdict"] != NOT_COMPARED]
    outside = compared[compared["verdict"] == "differs"]
    if kinds.empty:
        return {"paper": RECORDED_ITEM, "verdict": NOT_RUN, "table": RECORDED_ANCHOR}
    return {
        "paper": RECORDED_ITEM,
        "reproduced": f"{int(compared['numbers'].sum()):,} numbers of {len(compared)} kinds",
        "largest difference": f"{len(outside)} kinds outside their tolerance",
        "tolerance": "measured per kind across numeric settings",
        "verdict": "differs" if len(outside) else "within tolerance",
        "why": "see the kinds outside below" if len(outside) else "",
        "table": RECORDED_ANCHOR,
    }


def summary_table(out_dir: Path, profile: dict[str, Any], kinds: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per paper item (and one for the recorded numbers, given their `kinds`): what was reproduced, the
    largest difference, the tolerance, the verdict and why it differs."""
    rows = [
        {"paper": item.paper, **_judged(item, out_dir, profile.get("sample_records")), "table": item.table.name()}
        for item in PAPER_ITEMS
    ]
    if kinds is not None:
        rows.insert(0, _recorded_row(kinds))
    columns = ["paper", "reproduced", "largest difference", "tolerance", "verdict", "why", "table"]
    return pd.DataFrame(rows).reindex(columns=columns).fillna("")
