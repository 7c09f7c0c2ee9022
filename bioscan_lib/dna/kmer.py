"""The k-mer barcode classifier: ACGT k-mer frequencies of the cleaned barcode, a multinomial logistic regression
(scikit-learn), trained on an experiment's train split and tested on its test split, in a run folder."""

from __future__ import annotations

import contextlib
import dataclasses
import os
from importlib import metadata as package_metadata
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler
from threadpoolctl import ThreadpoolController

from bioscan_lib.classify.test import write_test_results
from bioscan_lib.config import KmerConfig
from bioscan_lib.core.files import atomic_path
from bioscan_lib.core.runs import RunFolder
from bioscan_lib.data import barcodes
from bioscan_lib.data.bioscan1m import BARCODE_COLUMN
from bioscan_lib.dna.data import barcode_split, unseen_bin_scores
from bioscan_lib.split.rules import SPLITS

MODEL_FILE = "model.npz"  # scaler and coefficients, read back with allow_pickle=False


def features(reads: pd.Series, k: int) -> np.ndarray:
    """(reads, 4**k) float32 k-mer frequencies: each read's counts over its number of whole ACGT k-mers."""
    counts = barcodes.kmer_counts(barcodes.base_codes(reads), k).astype(np.float32)
    return counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)


def fit(config: KmerConfig, train: pd.DataFrame, x: np.ndarray, classes: int) -> tuple[StandardScaler, LinearScores]:
    """The scaler and the model fitted on the train split's features `x` (each distinct barcode once if
    `unique_barcodes`)."""
    labels = train["label"].to_numpy()
    if config.unique_barcodes:
        first = barcodes.first_of_each_barcode(barcodes.base_codes(train[BARCODE_COLUMN]))
        x, labels = x[first], labels[first]
    scaler = StandardScaler().fit(x)
    model = LogisticRegression(C=config.regularization, max_iter=config.max_iter, random_state=config.seed)
    with _one_thread_for_the_solver_blas():
        model.fit(scaler.transform(x), labels)
    return scaler, _every_class(model, classes)


def _one_thread_for_the_solver_blas() -> contextlib.AbstractContextManager:
    """One thread for the BLAS of scipy's L-BFGS-B, whose idle threads spin against numpy's matrix products (fits 4x
    faster on the sample, 1.8x on the full scale: benchmarks/bench_barcodes.py). A pip wheel's sits in scipy.libs/;
    where scipy has none of its own, every BLAS gets one thread."""
    controller = ThreadpoolController()
    blas = [lib.filepath for lib in controller.lib_controllers if lib.user_api == "blas"]
    own = [path for path in blas if Path(path).parent.name.startswith("scipy")]
    return controller.select(filepath=own).limit(limits=1) if own else controller.limit(limits=1, user_api="blas")


def _every_class(model: LogisticRegression, classes: int) -> LinearScores:
    """The model's scores with a row for every class index: a class without a training barcode is never predicted,
    and a two-class model's one row becomes two."""
    coef, intercept = model.coef_, model.intercept_
    if len(model.classes_) == 2:
        coef, intercept = np.vstack([np.zeros_like(coef), coef]), np.concatenate([[0.0], intercept])
    full_coef, full_intercept = np.zeros((classes, coef.shape[1])), np.full(classes, -np.inf)
    full_coef[model.classes_], full_intercept[model.classes_] = coef, intercept
    return LinearScores(full_coef, full_intercept)


@dataclasses.dataclass(frozen=True)
class LinearScores:
    """Class scores (log-odds) as a linear function of the scaled features."""

    coef: np.ndarray
    intercept: np.ndarray

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return x @ self.coef.T + self.intercept


def _save_model(path: os.PathLike, scaler: StandardScaler, model: LinearScores, k: int) -> None:
    with atomic_path(path) as temporary, open(temporary, "wb") as handle:
        np.savez(handle, mean=scaler.mean_, scale=scaler.scale_, coef=model.coef, intercept=model.intercept, k=k)


def train_and_test(config: KmerConfig, split_frame: pd.DataFrame, classes: list[str]) -> dict[str, float]:
    """Fit on the train split, test on the test split (average-k from validation); write the run folder."""
    data = {split: barcode_split(split_frame, classes, config.experiment, split) for split in SPLITS}
    x = {split: features(rows[BARCODE_COLUMN], config.kmer) for split, rows in data.items()}
    scaler, model = fit(config, data["train"], x["train"], len(classes))
    folder = config.run_folder
    folder.mkdir(parents=True, exist_ok=True)
    _save_model(folder / MODEL_FILE, scaler, model, config.kmer)
    logits = {split: model(scaler.transform(values)) for split, values in x.items()}
    info = {
        "classes": classes,
        "samples": {split: len(rows) for split, rows in data.items()},
        "versions": {name: package_metadata.version(name) for name in ("scikit-learn", "numpy")},
    }
    RunFolder(folder).write_record(dataclasses.asdict(config), info)
    labels = {split: rows["label"].to_numpy() for split, rows in data.items()}
    validation = (logits["validation"], labels["validation"])
    unseen = unseen_bin_scores(logits["test"], labels["test"], data["train"], data["test"])
    return write_test_results(folder, classes, logits["test"], labels["test"], validation, data["test"], unseen)
