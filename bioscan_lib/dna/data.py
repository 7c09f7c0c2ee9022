"""The DNA stage's data: an experiment's split as barcode rows with the class index, and the scores of the test
specimens whose BIN has no training specimen."""

from __future__ import annotations

import numpy as np
import pandas as pd

from bioscan_lib.classify.data import split_records
from bioscan_lib.classify.metrics import micro_topk
from bioscan_lib.data.barcodes import without_bases
from bioscan_lib.data.bioscan1m import BARCODE_COLUMN, BIN_COLUMN
from bioscan_lib.split.rules import SPLITS

BARCODE_ROW_COLUMNS = (BARCODE_COLUMN, BIN_COLUMN)


def barcode_split(split_frame: pd.DataFrame, classes: list[str], experiment: str, split: str) -> pd.DataFrame:
    """The rows of one split of an experiment: image file, chunk, barcode, BIN and label (the class's index)."""
    class_list = pd.DataFrame({"class": classes, "index": range(len(classes))})
    return split_records(split_frame, class_list, experiment, split, BARCODE_ROW_COLUMNS)


def unseen_bin_scores(
    logits: np.ndarray, labels: np.ndarray, train: pd.DataFrame, test: pd.DataFrame
) -> dict[str, float]:
    """Top-1 on the test specimens whose BIN no training specimen has: placing a new lineage, not recalling a BIN."""
    unseen = ~test[BIN_COLUMN].astype(str).isin(set(train[BIN_COLUMN].astype(str))).to_numpy()
    top1 = micro_topk(logits[unseen], labels[unseen], 1) if unseen.any() else float("nan")
    return {"samples_unseen_bins": float(unseen.sum()), "top1_unseen_bins": top1}


def missing_barcodes(split_frame: pd.DataFrame, experiments: list[str]) -> pd.DataFrame:
    """Per experiment and split, the specimens with no barcode (an empty read, or only Ns): classified by the
    model's prior alone, so counted here."""
    empty = without_bases(split_frame[BARCODE_COLUMN])
    rows = []
    for experiment in experiments:
        for split in SPLITS:
            chosen = (split_frame[experiment] == split).to_numpy()
            rows.append(
                {
                    "experiment": experiment,
                    "split": split,
                    "specimens": int(chosen.sum()),
                    "without barcode": int((empty & chosen).sum()),
                }
            )
    return pd.DataFrame(rows)
