"""A run's trained-model numbers, read back from what notebooks 06-09 wrote, and their check against recorded values.

Training is not bit-identical across processors, instruction sets, thread counts and library builds, so these numbers
are compared within tolerances measured across such settings (`benchmarks/numerics_spread.py`), one per kind. A kind
whose measured spread leaves no tolerance that means anything is recorded with `allowed: null` and not compared.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import yaml

from bioscan_lib.classify import outputs
from bioscan_lib.config import read_profile
from bioscan_lib.core.files import write_text_atomic
from bioscan_lib.core.runs import (
    CONFUSION_CSV,
    DNA_RUNS_FOLDER,
    METRICS_JSON,
    PER_CLASS_CSV,
    RUNS_FOLDER,
    SUMMARY_FILE,
    THRESHOLD_FILE,
    RunFolder,
)

KINDS = {
    "curve_accuracy": "learning-curve top-k accuracy of an epoch, absolute (share of samples)",
    "curve_loss": "learning-curve loss of an epoch, absolute",
    "test_accuracy": "test metric (top-k, macro top-k, F1, average-k), absolute (share of samples)",
    "test_threshold": "average-k probability threshold, absolute",
    "best_epoch": "epoch of the best validation top-1, absolute (epochs)",
    "test_samples": "correct test samples of a class, or one confusion-matrix cell, absolute (samples)",
    "heldout_score": "held-out accuracy and flag rates (percent), AUROC, absolute",
    "heldout_threshold": "uncertainty threshold chosen on validation, absolute (probability)",
    "heldout_confidence": "top-1 probability of a held-out photograph, absolute",
    "heldout_label": "share of held-out photographs whose top-1 label differs (one check over all photographs)",
}
# The sample model's answers on photographs from another imaging set-up hang on rounding: other arithmetic gives
# other (equally wrong) labels. Recorded and measured, never compared.
NOT_REPRODUCIBLE = {"heldout_score", "heldout_confidence", "heldout_label"}
SHARE_KINDS = {"heldout_label"}
ZERO_WHEN_ABSENT = {"test_samples"}  # confusion cells: only non-zero cells are recorded
CURVE_SKIPPED = {"epoch", "lr", "seconds"}
DETERMINISTIC_SCORES = {"photographs of known orders", "photographs of unseen orders"}
TEST_SKIPPED = {"run", "samples", "classes", "classes_present", "majority_top1"}

Value = float | str


@dataclass(frozen=True)
class Number:
    """One trained-model number, of a kind from `KINDS`."""

    kind: str
    value: Value


def run_numbers(runs_folder: Path, run: str) -> dict[str, Number]:
    """Learning curve, test metrics, per-class correct counts and confusion cells of one run in `runs_folder`."""
    numbers: dict[str, Number] = {}
    folder = RunFolder(runs_folder / run)
    curve = pd.read_csv(folder.file(SUMMARY_FILE))
    for row in curve.to_dict("records"):
        for column, value in row.items():
            if column not in CURVE_SKIPPED:
                kind = "curve_loss" if column.endswith("_loss") else "curve_accuracy"
                numbers[f"curve/{run}/{column}/{int(row['epoch'])}"] = Number(kind, float(value))
    metrics = folder.json(METRICS_JSON, "test the run first.")
    for name, value in metrics.items():
        if name not in TEST_SKIPPED:
            kind = (
                "best_epoch"
                if name == "best_epoch"
                else "test_threshold"
                if name.endswith("_threshold")
                else "test_accuracy"
            )
            numbers[f"test/{run}/{name}"] = Number(kind, float(value))
    per_class = pd.read_csv(folder.file(PER_CLASS_CSV))
    for row in per_class.to_dict("records"):
        if row["test_samples"]:
            correct = float(round(row["top1"] * row["test_samples"]))
            numbers[f"per_class/{run}/{row['class']}"] = Number("test_samples", correct)
    matrix = pd.read_csv(folder.file(CONFUSION_CSV), index_col=0)
    for true, row in matrix.iterrows():
        for predicted, count in row.items():
            if count and true != predicted:
                numbers[f"confusion/{run}/{true}/{predicted}"] = Number("test_samples", float(count))
    return numbers


def heldout_numbers(out_dir: Path, run: str) -> dict[str, Number]:
    """Notebook 08's numbers: the uncertainty threshold, every photograph's label and confidence, the scores."""
    threshold = RunFolder(out_dir / RUNS_FOLDER / run).json(THRESHOLD_FILE, "run notebook 08 first.")["threshold"]
    numbers = {"heldout/threshold": Number("heldout_threshold", float(threshold))}
    predictions = pd.read_csv(outputs.GENERALIZATION_PREDICTIONS.path(out_dir))
    for row in predictions.itertuples():
        numbers[f"heldout/label/{row.image_file}"] = Number("heldout_label", str(row.label_1))
        numbers[f"heldout/confidence/{row.image_file}"] = Number("heldout_confidence", float(row.confidence))
    scores = outputs.GENERALIZATION_SCORES.path(out_dir)
    if scores.is_file():
        for row in pd.read_csv(scores).itertuples():
            if row.measure not in DETERMINISTIC_SCORES and not row.measure.startswith(
                "top-1 accuracy on the in-distribution"
            ):
                numbers[f"heldout/score/{row.measure}"] = Number("heldout_score", float(row.value))
    return numbers


def trained_runs(profile: str) -> tuple[list[str], str | None, tuple[str, ...]]:
    """The runs notebook 06 trains under a profile, the run notebook 08 labels with, and notebook 09's CNN runs."""
    parsed = read_profile(profile)
    cnn = tuple(config.run_name for config in parsed.dna_cnn_configs())
    return [config.run_name for config in parsed.train_configs()], parsed.generalization_run(), cnn


def trained_numbers(
    out_dir: str | os.PathLike, runs: list[str], heldout_run: str | None = None, dna_runs: tuple[str, ...] = ()
) -> dict[str, Number]:
    """Every trained-model number of `runs` (notebooks 06 and 07), of `heldout_run` (notebook 08) and of the barcode
    CNN's `dna_runs` (notebook 09) under `out_dir`."""
    out_dir = Path(out_dir)
    numbers: dict[str, Number] = {}
    for run in runs:
        numbers.update(run_numbers(out_dir / RUNS_FOLDER, run))
    for run in dna_runs:
        numbers.update(run_numbers(out_dir / DNA_RUNS_FOLDER, run))
    if heldout_run:
        numbers.update(heldout_numbers(out_dir, heldout_run))
    return numbers


@dataclass(frozen=True)
class Tolerance:
    """The allowed difference of a kind (None: not compared), and the largest difference measured across settings."""

    allowed: float | None
    measured: float


def differences(actual: Mapping[str, Number], expected: Mapping[str, Number]) -> dict[str, float]:
    """The largest difference per kind between two sets of numbers (for labels, the share that differ)."""
    largest: dict[str, float] = {}
    disagreeing: dict[str, list[bool]] = {}
    for key in sorted(set(actual) | set(expected)):
        kind = (expected.get(key) or actual[key]).kind
        if kind in SHARE_KINDS:
            disagreeing.setdefault(kind, []).append(
                key not in actual or key not in expected or actual[key].value != expected[key].value
            )
            continue
        largest[kind] = max(largest.get(kind, 0.0), _difference(kind, key, actual, expected))
    largest.update({kind: sum(flags) / len(flags) for kind, flags in disagreeing.items()})
    return largest


def _difference(kind: str, key: str, actual: Mapping[str, Number], expected: Mapping[str, Number]) -> float:
    if kind in ZERO_WHEN_ABSENT:
        a, e = (float(n[key].value) if key in n else 0.0 for n in (actual, expected))
    elif key not in actual or key not in expected:
        return math.inf
    else:
        a, e = float(actual[key].value), float(expected[key].value)
    return abs(a - e)


def check(
    actual: Mapping[str, Number], expected: Mapping[str, Number], tolerances: Mapping[str, Tolerance]
) -> list[str]:
    """One line per number outside its kind's tolerance (the worst few of each kind); empty when all agree."""
    failures = []
    for kind, tolerance in tolerances.items():
        if tolerance.allowed is None:
            continue
        keys = sorted(key for key, number in {**actual, **expected}.items() if number.kind == kind)
        if kind in SHARE_KINDS:
            share = differences(
                {k: actual[k] for k in keys if k in actual}, {k: expected[k] for k in keys if k in expected}
            )
            if share.get(kind, 0.0) > tolerance.allowed:
                failures.append(f"{kind}: {share[kind]:.3f} of the photographs differ, more than {tolerance.allowed}")
            continue
        outside = [(d, key) for key in keys if (d := _difference(kind, key, actual, expected)) > tolerance.allowed]
        for difference, key in sorted(outside, reverse=True)[:5]:
            failures.append(
                f"{key}: {_shown(actual.get(key))} against the recorded {_shown(expected.get(key))}, "
                f"difference {difference:.4g} > {tolerance.allowed} ({KINDS[kind]})"
            )
    return failures


def comparison(
    actual: Mapping[str, Number], expected: Mapping[str, Number], tolerances: Mapping[str, Tolerance]
) -> pd.DataFrame:
    """One row per recorded or measured number: kind, recorded value, this run's, their difference and the allowance
    (for labels, a difference of 1 where they differ)."""
    rows = []
    for key in sorted(set(actual) | set(expected)):
        kind = (expected.get(key) or actual[key]).kind
        if kind in SHARE_KINDS:
            difference = float(key not in actual or key not in expected or actual[key].value != expected[key].value)
        else:
            difference = _difference(kind, key, actual, expected)
        rows.append(
            {
                "number": key,
                "kind": kind,
                "recorded": _shown(expected.get(key)),
                "this run": _shown(actual.get(key)),
                "difference": difference,
                "allowed": tolerances[kind].allowed,
            }
        )
    return pd.DataFrame(rows, columns=["number", "kind", "recorded", "this run", "difference", "allowed"])


def _shown(number: Number | None) -> str:
    return (
        "absent" if number is None else f"{number.value:.4g}" if isinstance(number.value, float) else str(number.value)
    )


def write_expectations(
    path: str | os.PathLike, numbers: Mapping[str, Number], tolerances: Mapping[str, Tolerance], header: str
) -> Path:
    """Record `numbers` and the tolerances of their kinds in a YAML file (comment `header` on top)."""
    content = {
        "tolerances": {
            kind: {"allowed": t.allowed, "measured": t.measured, "meaning": KINDS[kind]}
            for kind, t in tolerances.items()
        },
        "numbers": {key: {"kind": n.kind, "value": n.value} for key, n in numbers.items()},
    }
    comment = "".join(f"# {line}\n".replace("# \n", "#\n") for line in header.splitlines())
    return write_text_atomic(path, comment + yaml.safe_dump(content, sort_keys=False, width=120))


def read_expectations(path: str | os.PathLike) -> tuple[dict[str, Number], dict[str, Tolerance]]:
    """The recorded numbers and tolerances of a file written by `write_expectations`."""
    content = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    numbers = {key: Number(item["kind"], item["value"]) for key, item in content["numbers"].items()}
    tolerances = {
        kind: Tolerance(None if item["allowed"] is None else float(item["allowed"]), float(item["measured"]))
        for kind, item in content["tolerances"].items()
    }
    unknown = sorted({n.kind for n in numbers.values()} - set(tolerances))
    if unknown:
        raise ValueError(f"{path}: numbers of kind(s) {unknown} have no tolerance; add one under `tolerances`.")
    return numbers, tolerances
