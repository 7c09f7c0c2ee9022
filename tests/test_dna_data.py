"""The DNA stage's data: barcode rows of a split, unseen-BIN scores, specimens without a barcode."""

from __future__ import annotations

import numpy as np
import pandas as pd

from bioscan_lib.dna import data


def _frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "image_file": [f"{i}.jpg" for i in range(6)],
            "chunk_number": [1] * 6,
            "nucraw": ["ACGT", "nnnn", "ACGA", "", "ACGG", "ACGC"],
            "uri": ["B1", "B1", "B2", "B3", "B1", "B4"],
            "order": ["Diptera", "Diptera", "Hymenoptera", "Diptera", "Diptera", "Hymenoptera"],
            "large_insect_order": ["train", "train", "train", "test", "test", "test"],
        }
    )


def test_a_split_gives_barcode_rows_with_the_class_index() -> None:
    rows = data.barcode_split(_frame(), ["Diptera", "Hymenoptera"], "large_insect_order", "test")
    assert rows["label"].tolist() == [0, 0, 1] and rows["uri"].tolist() == ["B3", "B1", "B4"]


def test_unseen_bins_are_scored_apart() -> None:
    frame = _frame()
    train, test = frame.iloc[:3], frame.iloc[3:]
    logits = np.array([[1.0, 0.0], [1.0, 0.0], [1.0, 0.0]])
    scores = data.unseen_bin_scores(logits, np.array([0, 0, 1]), train, test)
    assert scores == {"samples_unseen_bins": 2.0, "top1_unseen_bins": 0.5}


def test_specimens_without_a_barcode_are_counted_per_split() -> None:
    table = data.missing_barcodes(_frame(), ["large_insect_order"]).set_index("split")
    assert table["without barcode"].to_dict() == {"train": 1, "validation": 0, "test": 1}
    assert table["specimens"].to_dict() == {"train": 3, "validation": 0, "test": 3}
