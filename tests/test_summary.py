"""The report's summary: one row per paper item, the largest difference, the tolerance and the verdict."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from bioscan_lib.classify.outputs import TEST_RESULTS_PAPER_LAYOUT
from bioscan_lib.dataset.outputs import ORDER_COUNTS
from bioscan_lib.preprocess.outputs import PREPROCESSING_VS_PUBLISHED
from bioscan_lib.report import summary


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
    table = summary.summary_table(tmp_path).set_index("table")
    assert table.loc["order_counts", "largest difference"] == "3 records"
    assert table.loc["order_counts", "verdict"] == "differs"
    assert table.loc["test_results_paper_layout", "largest difference"] == "0.05 points"
    assert table.loc["test_results_paper_layout", "verdict"] == "within tolerance"
    assert table.loc["preprocessing_vs_published", "verdict"] == "differs"
    assert table.loc["split_comparison", "verdict"] == summary.NOT_RUN
    assert len(table) == len(summary.PAPER_ITEMS)
