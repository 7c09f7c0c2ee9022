"""Trained-model numbers: read back from a run's tables, compared within per-kind tolerances, recorded and re-read."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from bioscan_lib.classify.outputs import GENERALIZATION_PREDICTIONS, GENERALIZATION_SCORES
from bioscan_lib.core.runs import DNA_RUNS_FOLDER, PER_CLASS_CSV, RUNS_FOLDER, SUMMARY_FILE
from bioscan_lib.report import numbers
from bioscan_lib.report.numbers import Number, Tolerance

RUN = "large_insect_order_test_resnet_ce_s1"
CNN_RUN = "large_insect_order_barcode_cnn_ce_s1"


def write_run(out: Path, top1: float = 0.9, confusion_off: int = 1, runs: str = RUNS_FOLDER, run: str = RUN) -> Path:
    """A run's tables and files as notebooks 06-08 write them, with two classes and two held-out photographs."""
    folder = out / runs / run
    folder.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(
        {
            "epoch": [1, 2],
            "lr": [0.1, 0.1],
            "train_loss": [1.0, 0.5],
            "train_top1": [0.6, 0.8],
            "val_loss": [1.1, 0.6],
            "val_top1": [0.5, top1],
            "seconds": [3.0, 4.0],
        }
    ).to_csv(folder / SUMMARY_FILE, index=False)
    metrics = {
        "run": run,
        "best_epoch": 2,
        "samples": 10.0,
        "top1": top1,
        "average_k1_threshold": 0.4,
        "majority_top1": 0.6,
    }
    (folder / "test_metrics.json").write_text(json.dumps(metrics))
    pd.DataFrame(
        {
            "class": ["Diptera", "Hymenoptera"],
            "index": [0, 1],
            "test_samples": [6, 4],
            "top1": [1.0, (4 - confusion_off) / 4],
        }
    ).to_csv(folder / PER_CLASS_CSV, index=False)
    pd.DataFrame(
        [[6, 0], [confusion_off, 4 - confusion_off]],
        index=["Diptera", "Hymenoptera"],
        columns=["Diptera", "Hymenoptera"],
    ).to_csv(folder / "confusion_matrix.csv")
    (folder / "confidence_threshold.json").write_text(json.dumps({"threshold": 0.7}))
    pd.DataFrame(
        {"image_file": ["a.jpg", "b.jpg"], "label_1": ["Diptera", "Coleoptera"], "confidence": [0.9, 0.6]}
    ).pipe(GENERALIZATION_PREDICTIONS.save, out)
    pd.DataFrame(
        {"measure": ["photographs of known orders", "top-1 accuracy on known orders"], "value": [2, 0.5]}
    ).pipe(GENERALIZATION_SCORES.save, out)
    return out


def test_every_trained_number_is_read_with_its_kind_and_deterministic_ones_are_left_out(tmp_path: Path) -> None:
    found = numbers.trained_numbers(write_run(tmp_path), [RUN], RUN)
    assert found[f"curve/{RUN}/val_top1/2"] == Number("curve_accuracy", 0.9)
    assert found[f"curve/{RUN}/train_loss/1"] == Number("curve_loss", 1.0)
    assert found[f"test/{RUN}/best_epoch"] == Number("best_epoch", 2.0)
    assert found[f"test/{RUN}/average_k1_threshold"] == Number("test_threshold", 0.4)
    assert found[f"per_class/{RUN}/Hymenoptera"] == Number("test_samples", 3.0)
    assert found[f"confusion/{RUN}/Hymenoptera/Diptera"] == Number("test_samples", 1.0)
    assert found["heldout/label/b.jpg"] == Number("heldout_label", "Coleoptera")
    assert found["heldout/score/top-1 accuracy on known orders"] == Number("heldout_score", 0.5)
    assert found["heldout/threshold"] == Number("heldout_threshold", 0.7)
    assert not [
        key
        for key in found
        if key.endswith(("/lr/1", "/samples", "/majority_top1", "known orders")) and "accuracy" not in key
    ]
    assert not [key for key in found if key.startswith("confusion") and key.endswith("Diptera/Diptera")]
    assert {number.kind for number in found.values()} <= set(numbers.KINDS)


def test_a_barcode_cnn_run_is_read_from_the_dna_runs_folder(tmp_path: Path) -> None:
    write_run(tmp_path, runs=DNA_RUNS_FOLDER, run=CNN_RUN, top1=0.97)
    found = numbers.trained_numbers(write_run(tmp_path), [RUN], None, (CNN_RUN,))
    assert found[f"test/{CNN_RUN}/top1"] == Number("test_accuracy", 0.97)
    assert found[f"test/{RUN}/top1"] == Number("test_accuracy", 0.9)
    assert found[f"curve/{CNN_RUN}/val_top1/2"] == Number("curve_accuracy", 0.97)


def test_differences_are_absolute_and_a_share_for_labels() -> None:
    expected = {
        "a": Number("test_accuracy", 0.9),
        "l": Number("curve_loss", 0.5),
        "c": Number("test_samples", 2.0),
        "x": Number("heldout_label", "Diptera"),
        "y": Number("heldout_label", "Diptera"),
    }
    actual = {
        "a": Number("test_accuracy", 0.85),
        "l": Number("curve_loss", 0.6),
        "x": Number("heldout_label", "Diptera"),
        "y": Number("heldout_label", "Coleoptera"),
        "d": Number("test_samples", 1.0),
    }
    found = numbers.differences(actual, expected)
    assert found["test_accuracy"] == pytest.approx(0.05)
    assert found["curve_loss"] == pytest.approx(0.1)
    assert found["test_samples"] == 2.0  # an absent confusion cell counts as 0 samples
    assert found["heldout_label"] == 0.5


def test_check_names_each_number_outside_its_tolerance_and_passes_within_it(tmp_path: Path) -> None:
    expected = numbers.trained_numbers(write_run(tmp_path / "a"), [RUN], RUN)
    tolerances = {kind: Tolerance(0.02 if kind != "test_samples" else 1.0, 0.0) for kind in numbers.KINDS}
    same = numbers.trained_numbers(write_run(tmp_path / "b", top1=0.91), [RUN], RUN)
    assert numbers.check(same, expected, tolerances) == []
    moved = numbers.trained_numbers(write_run(tmp_path / "c", top1=0.7, confusion_off=3), [RUN], RUN)
    failures = numbers.check(moved, expected, tolerances)
    assert any(line.startswith(f"test/{RUN}/top1: 0.7 against the recorded 0.9") for line in failures)
    assert any(line.startswith(f"confusion/{RUN}/Hymenoptera/Diptera: 3 against the recorded 1") for line in failures)
    assert not any("Diptera/Hymenoptera" in line for line in failures)
    uncompared = {**tolerances, "test_accuracy": Tolerance(None, 0.2), "test_samples": Tolerance(None, 2.0)}
    assert not [line for line in numbers.check(moved, expected, uncompared) if line.startswith(("test/", "confusion/"))]


def test_expectations_survive_a_round_trip_and_every_kind_needs_a_tolerance(tmp_path: Path) -> None:
    found = numbers.trained_numbers(write_run(tmp_path / "run"), [RUN], RUN)
    tolerances = {kind: Tolerance(None if kind in numbers.NOT_REPRODUCIBLE else 0.05, 0.01) for kind in numbers.KINDS}
    path = numbers.write_expectations(tmp_path / "expected.yaml", found, tolerances, "measured here\n\nby a test")
    assert path.read_text().startswith("# measured here\n#\n# by a test\n")
    assert numbers.read_expectations(path) == (found, tolerances)
    path.write_text(path.read_text().replace("  curve_loss:", "  curve_losses:"))
    with pytest.raises(ValueError, match=r"kind\(s\) \['curve_loss'\] have no tolerance"):
        numbers.read_expectations(path)
