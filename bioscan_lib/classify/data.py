"""The image binding's data: an experiment's split as a torch Dataset over any image package and format, with the
paper's transforms, and its classes."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import torch
from timm.data import IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD
from torch.utils.data import Dataset
from torchvision.transforms import v2

from bioscan_lib.config import EngineConfig, TrainConfig
from bioscan_lib.core.paths import resolve_path
from bioscan_lib.data.bioscan1m import label_column
from bioscan_lib.data.images import decode_image, held_images, open_package
from bioscan_lib.split.rules import SPLITS, read_class_list, read_split, split_folder

MISSING_SHOWN = 5


def train_transform(image_size: int = 256, crop_size: int = 224, normalize: bool = False) -> v2.Compose:
    """The paper's training transform: resize the shorter side, random crop, horizontal flip, to a [0, 1] tensor."""
    steps = [v2.Resize(image_size), v2.RandomCrop(crop_size), v2.RandomHorizontalFlip(), *_to_tensor(normalize)]
    return v2.Compose(steps)


def eval_transform(image_size: int = 256, crop_size: int = 224, normalize: bool = False) -> v2.Compose:
    """The paper's evaluation transform: resize the shorter side, centre crop, to a [0, 1] tensor."""
    return v2.Compose([v2.Resize(image_size), v2.CenterCrop(crop_size), *_to_tensor(normalize)])


def _to_tensor(normalize: bool) -> list:
    steps = [v2.ToImage(), v2.ToDtype(torch.float32, scale=True)]
    return steps + [v2.Normalize(IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD)] if normalize else steps


def split_records(
    split_frame: pd.DataFrame, classes: pd.DataFrame, experiment: str, split: str, columns: tuple[str, ...] = ()
) -> pd.DataFrame:
    """The rows of one split of an experiment: image_file, chunk_number, any other `columns` and label (the class's
    index)."""
    if split not in SPLITS:
        raise ValueError(f"Unknown split {split!r}; the splits are {', '.join(SPLITS)}.")
    if experiment not in split_frame.columns:
        raise ValueError(f"The split table has no column {experiment!r}; make the splits first (notebook 03).")
    chosen = split_frame[experiment] == split
    rows = split_frame.loc[chosen, ["image_file", "chunk_number", *columns, label_column(experiment)]]
    lookup = dict(zip(classes["class"].astype(str), classes["index"].astype(int)))
    names = rows.pop(label_column(experiment)).astype(str)
    unknown = sorted(set(names) - set(lookup))
    if unknown:
        raise ValueError(
            f"{experiment} {split}: class(es) {unknown[:MISSING_SHOWN]} are not in the experiment's class "
            "list; the split and the class list disagree, so remake the split (notebook 03)."
        )
    return rows.assign(
        image_file=rows["image_file"].astype(str),
        chunk_number=rows["chunk_number"].astype(int),
        label=names.map(lookup).astype(int),
    ).reset_index(drop=True)


def missing_images(package_path: str | os.PathLike, records: pd.DataFrame) -> list[str]:
    """The image files of `records` that the package lacks."""
    held = held_images(package_path, records["image_file"].tolist(), records["chunk_number"].tolist())
    return records.loc[~held, "image_file"].tolist()


class PackageDataset(Dataset):
    """Images and labels read from a package (folder, ZIP or HDF5), opened lazily once in each process that reads."""

    def __init__(
        self, package_path: str | os.PathLike, records: pd.DataFrame, transform=None, decode_size: int | None = None
    ):
        self.package_path = Path(package_path)
        self.files = records["image_file"].astype(str).tolist()
        self.chunks = records["chunk_number"].astype(int).tolist()
        self.labels = records["label"].astype(int).to_numpy()
        self.transform = transform
        self.decode_size = decode_size
        self._package = None
        self._owner_pid: int | None = None

    def __len__(self) -> int:
        return len(self.files)

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_package": None, "_owner_pid": None}

    def _reader(self):
        if self._package is None or self._owner_pid != os.getpid():
            self._package = open_package(self.package_path)
            self._owner_pid = os.getpid()
        return self._package

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        image = decode_image(self._reader().read(self.files[index], self.chunks[index]), shorter_side=self.decode_size)
        return (self.transform(image) if self.transform else image), int(self.labels[index])


def experiment_dataset(
    data_root: str | os.PathLike,
    split_dir: str | os.PathLike,
    experiment: str,
    split: str,
    package: str,
    transform=None,
    decode_size: int | None = None,
) -> PackageDataset:
    """One split of an experiment over `<data_root>/<package>`; every image is checked to exist first."""
    package_path = Path(data_root) / package
    records = split_records(read_split(split_dir), read_class_list(split_dir, experiment), experiment, split)
    missing = missing_images(package_path, records)
    if missing:
        raise FileNotFoundError(
            f"{len(missing)} of {len(records)} {experiment} {split} images are missing from {package_path}, "
            f"e.g. {', '.join(missing[:MISSING_SHOWN])}; download or extract the package (notebook 01) or choose another."
        )
    return PackageDataset(package_path, records, transform, decode_size)


def build_datasets(config: TrainConfig, splits: tuple[str, ...]) -> dict[str, PackageDataset]:
    """The datasets of some splits of a run, training transform for train and evaluation transform otherwise."""
    split_dir = split_folder(resolve_path(config.output_dir))
    datasets = {}
    for split in splits:
        make = train_transform if split == "train" else eval_transform
        datasets[split] = experiment_dataset(
            resolve_path(config.data_root),
            split_dir,
            config.experiment,
            split,
            config.package,
            make(config.image_size, config.crop_size, config.normalize),
            decode_size=config.image_size,
        )
    return datasets


def class_names(config: EngineConfig) -> list[str]:
    """An experiment's classes in label order."""
    split_dir = split_folder(resolve_path(config.output_dir))
    return read_class_list(split_dir, config.experiment)["class"].astype(str).tolist()
