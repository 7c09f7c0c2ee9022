"""Encoders for retrieval: each maps metadata rows to one embedding row per specimen. Barcodes: k-mer profiles, a
trained barcode CNN's penultimate layer, a BarcodeBERT checkpoint's mean last hidden layer. Photographs: a trained
image run's features before its classifier."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from bioscan_lib.classify.data import PackageDataset, eval_transform
from bioscan_lib.classify.predict import run_classes
from bioscan_lib.classify.test import load_best
from bioscan_lib.config import BarcodeCnnConfig, run_config
from bioscan_lib.core.paths import resolve_path
from bioscan_lib.core.runs import CHECKPOINT_BEST, RunFolder
from bioscan_lib.data import barcodes
from bioscan_lib.data.bioscan1m import BARCODE_COLUMN
from bioscan_lib.dna import barcodebert, kmer
from bioscan_lib.dna.cnn import BarcodeCnn
from bioscan_lib.engine import make_loader, predict, start_runtime

Encoder = Callable[[pd.DataFrame], np.ndarray]
CNN_BATCH = 512
KMER_ENCODER, CNN_ENCODER = "k-mer profile (k={})", "barcode CNN, penultimate layer ({})"
BARCODEBERT_ENCODER, IMAGE_ENCODER = "BarcodeBERT ({})", "image run, features before the classifier ({})"


def kmer_encoder(k: int) -> Encoder:
    """Each barcode's ACGT k-mer frequencies (overlapping k-mers over their number)."""
    return lambda rows: kmer.features(rows[BARCODE_COLUMN], k)


def cnn_encoder(run_folder: str | os.PathLike) -> Encoder:
    """The 500-unit tanh layer of a trained barcode CNN run (its best checkpoint, loaded with `weights_only`), as
    BIOSCAN-5M embeds barcodes with its CNN baseline."""
    run = RunFolder(Path(run_folder))
    model = BarcodeCnn(len(run.classes))
    model.load_state_dict(run.best_checkpoint()["model"])
    model.eval()
    penultimate = torch.nn.Sequential(model.features, *list(model.head)[:-1])

    def encode(rows: pd.DataFrame) -> np.ndarray:
        codes = barcodes.base_codes(rows[BARCODE_COLUMN])
        embedded: list[np.ndarray] = []
        with torch.inference_mode():
            for start in range(0, len(codes), CNN_BATCH):
                batch = torch.from_numpy(barcodes.one_hot(codes[start : start + CNN_BATCH]))[:, None]
                embedded.append(penultimate(batch).numpy())
        return np.concatenate(embedded) if embedded else np.zeros((0, 0), dtype=np.float32)

    return encode


def barcodebert_encoder(checkpoint: str | os.PathLike) -> Encoder:
    """The mean last hidden layer of a BarcodeBERT checkpoint in its published format (a local file)."""
    encoder = barcodebert.load_checkpoint(checkpoint)
    return lambda rows: barcodebert.embed(encoder, rows[BARCODE_COLUMN])


class _PreLogits(torch.nn.Module):
    """A timm classifier up to its last layer: pooled features, pre-logits."""

    def __init__(self, model: torch.nn.Module):
        super().__init__()
        self.model = model

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        return self.model.forward_head(self.model.forward_features(inputs), pre_logits=True)


def image_encoder(run_folder: str | os.PathLike, data_root: str | os.PathLike | None = None) -> Encoder:
    """A trained image run's features before its classifier, over its package's photographs (the run's evaluation
    transform), through the engine's prediction loop."""
    config = run_config(RunFolder(Path(run_folder)))
    runtime = start_runtime(config, config.channels_last)
    model, _ = load_best(run_folder, len(run_classes(run_folder)), runtime)
    package = Path(resolve_path(data_root or config.data_root)) / config.package
    transform = eval_transform(config.image_size, config.crop_size, config.normalize)

    def encode(rows: pd.DataFrame) -> np.ndarray:
        records = pd.DataFrame({"image_file": rows["image_file"].astype(str), "chunk_number": rows["chunk_number"]})
        dataset = PackageDataset(package, records.assign(label=0), transform, decode_size=config.image_size)
        loader = make_loader(dataset, config.batch_size, config.workers)
        return predict(_PreLogits(model), loader, runtime, progress=False)[0]

    return encode


def trained_runs(folders: list[Path]) -> list[Path]:
    """The run folders of `folders` that hold a best checkpoint."""
    return [Path(folder) for folder in folders if RunFolder(Path(folder)).file(CHECKPOINT_BEST).is_file()]


def trained_cnn_runs(configs: list[BarcodeCnnConfig]) -> list[Path]:
    """The CNN runs of `configs` that notebook 09 trained."""
    return trained_runs([Path(config.run_folder) for config in configs])


def barcode_encoders(k: int, cnn_runs: list[Path], barcodebert_checkpoint: str | None) -> dict[str, Encoder]:
    """Every barcode encoder a profile has: k-mer profiles always, each trained CNN run, BarcodeBERT where a file
    is given."""
    encoders = {KMER_ENCODER.format(k): kmer_encoder(k)}
    encoders |= {CNN_ENCODER.format(Path(run).name): cnn_encoder(run) for run in cnn_runs}
    if barcodebert_checkpoint:
        encoders[BARCODEBERT_ENCODER.format(Path(barcodebert_checkpoint).name)] = barcodebert_encoder(
            barcodebert_checkpoint
        )
    return encoders


def image_encoders(image_runs: list[Path], data_root: str | os.PathLike) -> dict[str, Encoder]:
    """An encoder per trained image run, over the profile's photographs."""
    return {IMAGE_ENCODER.format(Path(run).name): image_encoder(run, data_root) for run in trained_runs(image_runs)}
