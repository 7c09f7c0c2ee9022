"""The report's summary: one row per paper item, the largest difference, the tolerance, the verdict and why; on the
sample, differences by design marked for information and the trained numbers checked against the recorded run."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from bioscan_lib.classify.outputs import TEST_RESULTS_PAPER_LAYOUT
from bioscan_lib.dataset.outputs import ORDER_COUNTS
from bioscan_lib.preprocess.outputs import PREPROCESSING_VS_PUBLISHED
from bioscan_lib.report import numbers, summary
from bioscan_lib.report.numbers import Number, Tolerance

RELEASE = {"profile": "x"}
SAMPLE = {"profile": "x", "sample_records": 3000}


@pytest.mark.parametrize(
    ("largest", "tolerance", "expected"),
    [(0.0, 0.0, "equal"), (0.05, 0.1, "within tolerance"), (0.1, 0.1, "within tolerance"), (0.2, 0.1, "differs")],
)
def test_verdict(largest: float, tolerance: float, expected: str) -> None:
    assert summary.verdict(largest, tolerance) == expected


def test_each_item_is_judged_from_its_table_or_said_not_run(tmp_path: Path) -> None:
    ORDER_COUNTS.save(pd.DataFrame({"quantity": ["a", "b"], "difference": [0, -3]}), tmp_path)
    layout = pd.DataFrame({"source": ["paper", "ours"], "top1": [99.69, 99.64], "top1 diff": [None, -0.05]})
    TEST_RESULTS_PAPER_LAYOUT.save(layout, tmp_path)
    crops = pd.DataFrame({"measure": ["crop boxes compared", "crop box IoU, lowest"], "value": ["60", "0.7"]})
    PREPROCESSING_VS_PUBLISHED.save(crops, tmp_path)
    table = summary.summary_table(tmp_path, RELEASE).set_index("table")
    assert table.loc["order_counts", "largest difference"] == "3 records"
    assert table.loc["order_counts", "verdict"] == "differs"
    assert table.loc["test_results_paper_layout", "largest difference"] == "0.05 points"
    assert table.loc["test_results_paper_layout", "verdict"] == "within tolerance"
    assert table.loc["preprocessing_vs_published", "verdict"] == "differs"
    assert table.loc["split_comparison", "verdict"] == summary.NOT_RUN
    assert len(table) == len(summary.PAPER_ITEMS)
    assert table.loc["order_counts", "why"] == summary.PAPER_ITEMS[1].paper_why
    assert table.loc["test_results_paper_layout", "why"] == ""


def test_on_the_sample_a_difference_by_design_is_for_information_with_its_reason(tmp_path: Path) -> None:
    ORDER_COUNTS.save(pd.DataFrame({"quantity": ["a"], "difference": [-894859]}), tmp_path)
    crops = pd.DataFrame({"measure": ["crop boxes compared", "crop box IoU, lowest"], "value": ["60", "0.7"]})
    PREPROCESSING_VS_PUBLISHED.save(crops, tmp_path)
    table = summary.summary_table(tmp_path, SAMPLE).set_index("table")
    assert table.loc["order_counts", "verdict"] == summary.FOR_INFORMATION
    assert (
        "3,000 synthetic records" in table.loc["order_counts", "why"]
        and "1,128,313" in table.loc["order_counts", "why"]
    )
    assert table.loc["preprocessing_vs_published", "verdict"] == "differs", (
        "the sample's crops are compared as the release's"
    )


def test_trained_numbers_are_judged_per_kind_and_summarised_in_one_row() -> None:
    expected = {"a": Number("test_accuracy", 0.90), "b": Number("test_accuracy", 0.80), "c": Number("curve_loss", 1.0)}
    measured = {"a": Number("test_accuracy", 0.95), "b": Number("test_accuracy", 0.80), "c": Number("curve_loss", 2.0)}
    tolerances = {"test_accuracy": Tolerance(0.07, 0.03), "curve_loss": Tolerance(0.45, 0.2)}
    check = numbers.comparison(measured, expected, tolerances)
    assert check.set_index("number").loc["a", "difference"] == pytest.approx(0.05)
    kinds = summary.kind_verdicts(check).set_index("kind")
    assert kinds.loc[numbers.KINDS["test_accuracy"], "verdict"] == "within tolerance"
    assert kinds.loc[numbers.KINDS["curve_loss"], "verdict"] == "differs"
    assert kinds.loc[numbers.KINDS["test_accuracy"], "numbers"] == 2
    row = summary.summary_table(Path("nowhere"), SAMPLE, summary.kind_verdicts(check)).iloc[0]
    assert row["paper"] == summary.RECORDED_ITEM and row["verdict"] == "differs"
    assert row["largest difference"] == "1 kinds outside their tolerance" and row["table"] == summary.RECORDED_ANCHOR


def test_a_kind_recorded_without_an_allowance_is_not_compared() -> None:
    check = numbers.comparison(
        {"h": Number("heldout_confidence", 0.2)},
        {"h": Number("heldout_confidence", 0.9)},
        {"heldout_confidence": Tolerance(None, 0.7)},
    )
    assert summary.kind_verdicts(check)["verdict"].tolist() == [summary.NOT_COMPARED]
    row = summary.summary_table(Path("nowhere"), SAMPLE, summary.kind_verdicts(check)).iloc[0]
    assert row["verdict"] == "within tolerance" and row["reproduced"] == "0 numbers of 0 kinds"
