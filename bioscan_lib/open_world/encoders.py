"""Barcode encoders for retrieval: each maps reads to one embedding row per read (k-mer profiles, a trained barcode
CNN's penultimate layer, a BarcodeBERT checkpoint's mean last hidden layer)."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from bioscan_lib.config import BarcodeCnnConfig
from bioscan_lib.core.runs import CHECKPOINT_BEST, RunFolder
from bioscan_lib.data import barcodes
from bioscan_lib.dna import barcodebert, kmer
from bioscan_lib.dna.cnn import BarcodeCnn

Encoder = Callable[[pd.Series], np.ndarray]
CNN_BATCH = 512
KMER_ENCODER, CNN_ENCODER, BARCODEBERT_ENCODER = (
    "k-mer profile (k={})",
    "barcode CNN, penultimate layer ({})",
    ("BarcodeBERT ({})"),
)


def kmer_encoder(k: int) -> Encoder:
    """Each read's ACGT k-mer frequencies (overlapping k-mers over their number)."""
    return lambda reads: kmer.features(reads, k)


def cnn_encoder(run_folder: str | os.PathLike) -> Encoder:
    """The 500-unit tanh layer of a trained barcode CNN run (its best checkpoint, loaded with `weights_only`), as
    BIOSCAN-5M embeds barcodes with its CNN baseline."""
    run = RunFolder(Path(run_folder))
    model = BarcodeCnn(len(run.classes))
    model.load_state_dict(run.best_checkpoint()["model"])
    model.eval()
    penultimate = torch.nn.Sequential(model.features, *list(model.head)[:-1])

    def encode(reads: pd.Series) -> np.ndarray:
        codes = barcodes.base_codes(reads)
        rows = []
        with torch.inference_mode():
            for start in range(0, len(codes), CNN_BATCH):
                rows.append(penultimate(torch.from_numpy(barcodes.one_hot(codes[start : start + CNN_BATCH]))[:, None]))
        return torch.cat(rows).numpy() if rows else np.zeros((0, 0), dtype=np.float32)

    return encode


def barcodebert_encoder(checkpoint: str | os.PathLike) -> Encoder:
    """The mean last hidden layer of a BarcodeBERT checkpoint in its published format (a local file)."""
    encoder = barcodebert.load_checkpoint(checkpoint)
    return lambda reads: barcodebert.embed(encoder, reads)


def trained_cnn_runs(configs: list[BarcodeCnnConfig]) -> list[Path]:
    """The run folders of `configs` that hold a best checkpoint (notebook 09 trained them)."""
    return [
        Path(config.run_folder) for config in configs if RunFolder(config.run_folder).file(CHECKPOINT_BEST).is_file()
    ]


def profile_encoders(k: int, cnn_runs: list[Path], barcodebert_checkpoint: str | None) -> dict[str, Encoder]:
    """Every encoder a profile has: k-mer profiles always, each trained CNN run, BarcodeBERT where a file is given."""
    encoders = {KMER_ENCODER.format(k): kmer_encoder(k)}
    encoders |= {CNN_ENCODER.format(Path(run).name): cnn_encoder(run) for run in cnn_runs}
    if barcodebert_checkpoint:
        encoders[BARCODEBERT_ENCODER.format(Path(barcodebert_checkpoint).name)] = barcodebert_encoder(
            barcodebert_checkpoint
        )
    return encoders
