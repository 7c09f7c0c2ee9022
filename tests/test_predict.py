"""Labelling new photographs: sources, top-k predictions, the validation threshold, scores and the command."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest
from PIL import Image
from tiny_run import TINY

from bioscan_lib import cli
from bioscan_lib.classify import predict, train
from bioscan_lib.config import TrainConfig
from bioscan_lib.data.bioscan1m import HDF5_GROUP
from bioscan_lib.data.images import PhotoSource


@pytest.fixture(scope="module")
def run_dir(small_sample: Path, output_with_splits) -> Path:
    """A one-epoch tiny order classifier trained on the small sample."""
    out = output_with_splits()
    return train.train(
        TrainConfig(**{**TINY, "epochs": 1, "data_root": str(small_sample), "output_dir": str(out)}), progress=False
    )


@pytest.fixture(scope="module")
def photos(small_sample: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Eight full-size photographs in nested folders, as a user might hand them over."""
    folder = tmp_path_factory.mktemp("photos")
    originals = sorted((small_sample / "bioscan1m" / "images" / "original_full" / "part1").iterdir())[:8]
    for index, photo in enumerate(originals):
        target = folder / ("day2" if index % 2 else "day1") / photo.name
        target.parent.mkdir(exist_ok=True)
        shutil.copy(photo, target)
    return folder


def test_sources_list_photographs_of_every_format(small_sample: Path, photos: Path) -> None:
    assert len(PhotoSource(photos).names()) == 8
    assert PhotoSource(photos).names()[0].startswith("day1/")
    for package in ("original_256.zip", "original_256.hdf5"):
        source = PhotoSource(small_sample / "release" / package)
        names = source.names()
        assert len(names) == 240 and source.read(names[0])[:2] == b"\xff\xd8"


def test_missing_or_empty_sources_are_explained(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="absent: no such photograph, folder or file of photographs"):
        PhotoSource(tmp_path / "absent")
    with pytest.raises(ValueError, match="no photographs"):
        PhotoSource(tmp_path).names()


def test_predictions_are_ranked_and_flagged_with_the_validation_threshold(run_dir: Path, photos: Path) -> None:
    table = predict.predict_photographs(run_dir, photos, crop=True, top_k=3)
    assert len(table) == 8 and list(table.columns[:3]) == ["image_file", "label_1", "probability_1"]
    assert (table["probability_1"] >= table["probability_2"]).all() and (
        table["probability_2"] >= table["probability_3"]
    ).all()
    assert set(table["label_1"]) <= set(predict.run_classes(run_dir))
    stored = json.loads((run_dir / predict.THRESHOLD_FILE).read_text())
    assert table["uncertain"].tolist() == (table["confidence"] < stored["threshold"]).tolist()
    assert stored["validation_samples"] > 0
    everything = predict.predict_photographs(run_dir, photos, top_k=2, threshold=1.01)
    assert everything["uncertain"].all() and "label_3" not in everything.columns


def test_scores_count_accuracy_and_separate_unseen_orders() -> None:
    predictions = pd.DataFrame(
        {
            "image_file": list("abcd"),
            "label_1": ["Diptera", "Diptera", "Coleoptera", "Diptera"],
            "confidence": [0.9, 0.8, 0.3, 0.2],
            "uncertain": [False, False, True, True],
        }
    )
    labels = pd.DataFrame(
        {
            "image_file": list("abcd"),
            "order": ["Diptera", "Coleoptera", "Zoraptera", "Strepsiptera"],
            "seen_order": [True, True, False, False],
        }
    )
    scores = predict.heldout_scores(predictions, labels).set_index("measure")["value"]
    assert scores["top-1 accuracy on known orders (%)"] == 50.0
    assert scores["unseen orders flagged uncertain: recall at the threshold (%)"] == 100.0
    assert scores["known orders flagged uncertain: false alarms at the threshold (%)"] == 0.0
    assert scores["AUROC of low confidence for unseen orders (0.5: chance)"] == 1.0
    truth = predict.with_truth(predictions, labels)
    assert truth["correct"].tolist() == [True, False, False, False]
    assert truth["true_order"].tolist() == labels["order"].tolist()
    assert predict.with_truth(truth, labels).equals(truth), "truth joined twice is joined once"


def test_reliability_bins_hold_accuracy_and_mean_confidence_per_confidence_bin() -> None:
    predictions = pd.DataFrame(
        {
            "confidence": [0.05, 0.55, 0.58, 0.95, 1.0, 0.9],
            "correct": [False, True, False, True, True, False],
            "problem": ["", "", "", "", "", "unreadable"],  # left out: never labelled
        }
    )
    bins = predict.reliability_table(predictions, bins=4).set_index("low")
    assert bins["photographs"].tolist() == [1, 0, 2, 2], "a confidence of 1 lies in the last bin"
    assert (
        bins.loc[0.5, "accuracy"] == 0.5 and bins.loc[0.75, "accuracy"] == 1.0 and np.isnan(bins.loc[0.25, "accuracy"])
    )
    assert bins.loc[0.5, "confidence"] == pytest.approx(0.565) and bins.loc[0.75, "confidence"] == pytest.approx(0.975)
    gaps = 1 * 0.05 + 2 * abs(0.5 - 0.565) + 2 * abs(1.0 - 0.975)
    assert predict.expected_calibration_error(bins) == pytest.approx(gaps / 5)


def test_gallery_titles_show_the_truth() -> None:
    rows = pd.DataFrame(
        {
            "label_1": ["Diptera", "Diptera", "Psocodea"],
            "probability_1": [0.97, 0.4, 0.99],
            "uncertain": [False, True, False],
            "true_order": ["Diptera", "Coleoptera", "Mecoptera"],
            "seen_order": [True, True, False],
            "correct": [True, False, False],
        }
    )
    titles = [predict._gallery_title(row) for row in rows.itertuples()]
    assert titles == ["Diptera 0.97\n✓", "Diptera 0.40 ?\n✗ true: Coleoptera", "Psocodea 0.99\n✗ unseen: Mecoptera"]
    assert predict._gallery_title(rows.drop(columns=["true_order"]).iloc[:1].itertuples().__next__()) == "Diptera 0.97"


def test_command_writes_the_csv(run_dir: Path, photos: Path, tmp_path: Path) -> None:
    out = tmp_path / "labels.csv"
    assert (
        cli.main(["predict", "--run", str(run_dir), "--input", str(photos), "--output", str(out), "--top-k", "1"]) == 0
    )
    written = pd.read_csv(out)
    assert len(written) == 8 and {"label_1", "probability_1", "uncertain"} <= set(written.columns)


def test_threshold_is_kept_in_the_run_folder_until_refreshed(run_dir: Path) -> None:
    first = predict.confidence_threshold(run_dir)
    stored = run_dir / predict.THRESHOLD_FILE
    stored.write_text(json.dumps({"threshold": 2.0}))
    assert predict.confidence_threshold(run_dir) == 2.0
    assert predict.confidence_threshold(run_dir, refresh=True) == pytest.approx(first)


def test_full_size_photographs_without_crop_warn(run_dir: Path, photos: Path) -> None:
    with pytest.warns(UserWarning, match="look full-size.*--crop"):
        predict.predict_photographs(run_dir, photos, top_k=1, threshold=0.5)
    assert predict.full_size_side(PhotoSource(photos), image_size=256) is None, "180 px is no full-size photograph"


def test_an_output_folder_is_refused_before_any_work(
    run_dir: Path, photos: Path, tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(predict, "predict_photographs", lambda *arguments: 1 / 0)
    assert cli.main(["predict", "--run", str(run_dir), "--input", str(photos), "--output", str(tmp_path)]) == 2
    assert "is a folder; give the file to write" in capsys.readouterr().err


def test_unreadable_photographs_are_listed_and_the_rest_labelled(run_dir: Path, photos: Path, tmp_path: Path) -> None:
    folder = tmp_path / "mixed"
    shutil.copytree(photos, folder)
    good = next(folder.rglob("*.jpg")).read_bytes()
    (folder / "truncated.jpg").write_bytes(good[: len(good) // 3])
    (folder / "notes.jpg").write_text("not a photograph")
    Image.new("L", (1, 12000)).save(folder / "thin.png")
    out = tmp_path / "labels.csv"
    argv = ["predict", "--run", str(run_dir), "--input", str(folder), "--output", str(out), "--threshold", "0.1"]
    assert cli.main(argv) == 0
    written = pd.read_csv(out).set_index("image_file")
    assert len(written) == 11
    problems = written["problem"].dropna()
    assert sorted(problems.index) == ["notes.jpg", "thin.png", "truncated.jpg"]
    assert "not an image" in problems["notes.jpg"] and "more elongated" in problems["thin.png"]
    assert written.loc[problems.index, "label_1"].isna().all() and written["label_1"].notna().sum() == 8
    scores = predict.heldout_scores(
        pd.read_csv(out), pd.DataFrame({"image_file": written.index, "order": "Diptera", "seen_order": True})
    )
    assert scores.set_index("measure").loc["photographs of known orders", "value"] == 8


def test_an_hdf5_source_with_a_nested_group_or_no_hdf5_at_all(run_dir: Path, photos: Path, tmp_path: Path, capsys):
    source = tmp_path / "photos.hdf5"
    with h5py.File(source, "w") as file:
        group = file.create_group(HDF5_GROUP)
        for photo in sorted(photos.rglob("*.jpg"))[:2]:
            group[photo.name] = np.frombuffer(photo.read_bytes(), dtype=np.uint8)
        group.create_group("nested.jpg")
    table = predict.predict_photographs(run_dir, source, threshold=0.1).set_index("image_file")
    assert table["label_1"].notna().sum() == 2
    assert "nested.jpg is a group, not an image's bytes" in table.loc["nested.jpg", "problem"]
    (tmp_path / "fake.hdf5").write_text("<html>not an HDF5 file</html>")
    argv = ["predict", "--run", str(run_dir), "--input", str(tmp_path / "fake.hdf5"), "--output", str(tmp_path / "o")]
    assert cli.main(argv) == 2
    assert "fake.hdf5: not a readable HDF5 file" in capsys.readouterr().err
