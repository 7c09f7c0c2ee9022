"""The barcode CNN: the BIOSCAN-5M DNA task's supervised baseline (one-hot 660 x 5, three convolutions of 64, 32 and
16 channels with batch norm and max-pooling, a 500-unit tanh layer), a second binding of the training engine."""

from __future__ import annotations

import pandas as pd
import torch
from torch import nn
from torch.utils.data import Dataset

from bioscan_lib import engine
from bioscan_lib.classify.test import write_test_results
from bioscan_lib.config import BarcodeCnnConfig
from bioscan_lib.core.runs import RunFolder
from bioscan_lib.data import barcodes
from bioscan_lib.data.bioscan1m import BARCODE_COLUMN
from bioscan_lib.dna.data import barcode_split, unseen_bin_scores
from bioscan_lib.split.rules import SPLITS

CHANNELS = (64, 32, 16)
HIDDEN = 500


def _block(inputs: int, outputs: int) -> nn.Sequential:
    """A convolution along the barcode (kernel 3 x 1), batch norm, ReLU and max-pooling by 3."""
    return nn.Sequential(nn.Conv2d(inputs, outputs, (3, 1)), nn.BatchNorm2d(outputs), nn.ReLU(), nn.MaxPool2d((3, 1)))


class BarcodeCnn(nn.Module):
    """The CNN baseline over a (1, 660, 5) one-hot barcode."""

    def __init__(self, classes: int, sites: int = barcodes.BARCODE_SITES):
        super().__init__()
        widths = (1, *CHANNELS)
        self.features = nn.Sequential(*(_block(a, b) for a, b in zip(widths, widths[1:])), nn.Flatten())
        flat = self.features(torch.zeros(1, 1, sites, barcodes.ONE_HOT_CHANNELS)).shape[1]
        self.head = nn.Sequential(nn.BatchNorm1d(flat), nn.Linear(flat, HIDDEN), nn.Tanh(), nn.Linear(HIDDEN, classes))

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(inputs))


class BarcodeDataset(Dataset):
    """Barcodes as (1, 660, 5) one-hot tensors with their class index, encoded when read."""

    def __init__(self, rows: pd.DataFrame):
        self.codes = barcodes.base_codes(rows[BARCODE_COLUMN])
        self.labels = rows["label"].to_numpy()

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        encoded = barcodes.one_hot(self.codes[index : index + 1])
        return torch.from_numpy(encoded), int(self.labels[index])


def train_and_test(
    config: BarcodeCnnConfig, split_frame: pd.DataFrame, classes: list[str], progress: bool = True
) -> dict[str, float]:
    """Train (or resume) through the engine, then test the best epoch; write the run folder's test results."""
    runtime = engine.start_runtime(config)
    engine.check_resumable(config)
    engine.seed_everything(config.seed)
    rows = {split: barcode_split(split_frame, classes, config.experiment, split) for split in SPLITS}
    datasets = {split: BarcodeDataset(part) for split, part in rows.items()}
    model = runtime.place(BarcodeCnn(len(classes)))
    folder = engine.fit(config, model, datasets, classes, runtime, {}, progress)
    state = RunFolder(folder).best_checkpoint()
    model.load_state_dict(state["model"])
    logits = {}
    for split in ("validation", "test"):
        loader = engine.make_loader(datasets[split], config.batch_size, config.workers)
        logits[split], _ = engine.predict(model, loader, runtime, progress, split)
    labels = {split: dataset.labels for split, dataset in datasets.items()}
    extra = {"best_epoch": int(state["epoch"])} | unseen_bin_scores(
        logits["test"], labels["test"], rows["train"], rows["test"]
    )
    validation = (logits["validation"], labels["validation"])
    return write_test_results(folder, classes, logits["test"], labels["test"], validation, rows["test"], extra)
