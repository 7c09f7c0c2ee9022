"""The training Dataset: every package format gives the same samples, labels follow the class list, missing files are named."""

from __future__ import annotations

import pickle
import shutil
import warnings
from pathlib import Path

import pandas as pd
import pytest
import torch

from bioscan_lib import engine
from bioscan_lib.classify import data
from bioscan_lib.data.metadata import find_metadata, read_metadata
from bioscan_lib.split import rules as split

PACKAGES = {
    "folder": "bioscan1m/images/original_256",
    "zip": "release/original_256.zip",
    "hdf5": "release/original_256.hdf5",
}
EXPERIMENT = "large_insect_order"


@pytest.fixture(scope="module")
def split_dir(small_sample: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The small sample's splits and class lists."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", split.SplitBudgetWarning)
        frame = split.make_splits(read_metadata(find_metadata(small_sample / "bioscan1m")), 7, 100, 40)
    folder = tmp_path_factory.mktemp("out") / "split"
    split.write_split(frame, folder / split.SPLIT_FILE_NAME)
    return folder


def test_records_select_the_split_and_map_labels_by_the_class_list(split_dir: Path) -> None:
    frame, classes = split.read_split(split_dir), split.read_class_list(split_dir, EXPERIMENT)
    records = data.split_records(frame, classes, EXPERIMENT, "test")
    assert len(records) == int((frame[EXPERIMENT] == "test").sum()) > 0
    expected = (
        frame.loc[frame[EXPERIMENT] == "test", "order"].astype(str).map(dict(zip(classes["class"], classes["index"])))
    )
    assert records["label"].tolist() == expected.tolist()
    assert records["label"].value_counts().idxmax() == 0  # the largest class has index 0


def test_a_class_missing_from_the_class_list_is_an_error(split_dir: Path) -> None:
    frame, classes = split.read_split(split_dir), split.read_class_list(split_dir, EXPERIMENT)
    with pytest.raises(ValueError, match="not in the experiment's class list"):
        data.split_records(frame, classes.iloc[1:], EXPERIMENT, "train")


def test_every_package_format_gives_the_same_tensors(small_sample: Path, split_dir: Path) -> None:
    transform = data.eval_transform(72, 64)
    batches = {}
    for kind, package in PACKAGES.items():
        dataset = data.experiment_dataset(small_sample, split_dir, EXPERIMENT, "validation", package, transform, 72)
        images, labels = next(iter(engine.make_loader(dataset, 8, workers=0)))
        batches[kind] = (images, labels)
    assert batches["folder"][0].shape == (8, 3, 64, 64) and batches["folder"][0].dtype == torch.float32
    assert 0.0 <= float(batches["folder"][0].min()) and float(batches["folder"][0].max()) <= 1.0
    for kind in ("zip", "hdf5"):
        assert torch.equal(batches[kind][0], batches["folder"][0]) and torch.equal(
            batches[kind][1], batches["folder"][1]
        )


@pytest.mark.parametrize("kind", ["zip", "hdf5"])
def test_archives_open_once_per_process_and_not_when_pickled(small_sample: Path, split_dir: Path, kind: str) -> None:
    dataset = data.experiment_dataset(small_sample, split_dir, EXPERIMENT, "validation", PACKAGES[kind])
    assert dataset._package is None  # nothing opened in the parent before workers start
    dataset[0], dataset[1]
    reader = dataset._package
    assert reader is not None and dataset[2] and dataset._package is reader
    assert pickle.loads(pickle.dumps(dataset))._package is None
    images = [
        image
        for image, _ in engine.make_loader(
            data.PackageDataset(dataset.package_path, _records(dataset), data.eval_transform(40, 32)), 4, workers=2
        )
    ]
    assert sum(len(batch) for batch in images) == len(dataset)


def _records(dataset: data.PackageDataset) -> pd.DataFrame:
    return pd.DataFrame({"image_file": dataset.files, "chunk_number": dataset.chunks, "label": dataset.labels})


def test_missing_images_are_named_up_front(small_sample: Path, split_dir: Path, tmp_path: Path) -> None:
    copy = tmp_path / "bioscan1m" / "images" / "original_256"
    shutil.copytree(small_sample / PACKAGES["folder"], copy)
    records = data.split_records(
        split.read_split(split_dir), split.read_class_list(split_dir, EXPERIMENT), EXPERIMENT, "train"
    )
    gone = records.iloc[3]
    (copy / f"part{gone['chunk_number']}" / gone["image_file"]).unlink()
    with pytest.raises(FileNotFoundError, match=f"1 of {len(records)} .* missing .*{gone['image_file']}"):
        data.experiment_dataset(tmp_path, split_dir, EXPERIMENT, "train", PACKAGES["folder"])


def test_train_transform_crops_and_flips_deterministically_from_the_torch_seed(
    small_sample: Path, split_dir: Path
) -> None:
    dataset = data.experiment_dataset(
        small_sample,
        split_dir,
        EXPERIMENT,
        "train",
        PACKAGES["folder"],
        data.train_transform(72, 64, normalize=True),
        72,
    )
    torch.manual_seed(0)
    first = dataset[0][0]
    torch.manual_seed(0)
    assert torch.equal(dataset[0][0], first) and first.shape == (3, 64, 64)
    assert float(first.min()) < 0.0  # normalised: no longer within [0, 1]
