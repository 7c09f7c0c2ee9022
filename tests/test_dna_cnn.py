"""The barcode CNN: the BIOSCAN-5M baseline's shape, trained and resumed through the engine into a DNA run folder."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pandas as pd
import torch

from bioscan_lib.config import BarcodeCnnConfig
from bioscan_lib.core import runs
from bioscan_lib.data import barcodes
from bioscan_lib.dna import cnn
from bioscan_lib.dna.train import train_cnn_runs
from bioscan_lib.split import rules as split


def test_the_cnn_maps_a_one_hot_barcode_to_class_scores() -> None:
    model = cnn.BarcodeCnn(7).eval()
    codes = barcodes.base_codes(pd.Series(["ACGTRN-A" * 80, "A"], dtype="string[pyarrow]"))
    batch = torch.from_numpy(barcodes.one_hot(codes)).unsqueeze(1)
    assert batch.shape == (2, 1, barcodes.BARCODE_SITES, barcodes.ONE_HOT_CHANNELS)
    assert model(batch).shape == (2, 7)
    assert [block[0].out_channels for block in model.features[:3]] == list(cnn.CHANNELS)


def test_the_cnn_trains_tests_and_resumes_through_the_engine(output_with_splits: Callable[[], Path]) -> None:
    out = output_with_splits()
    frame = split.read_split(split.split_folder(out))
    config = BarcodeCnnConfig(experiment="large_insect_order", output_dir=str(out), epochs=2, batch_size=16, threads=1)
    folder = train_cnn_runs([config], frame, progress=False)[0]
    assert folder.parent.name == runs.DNA_RUNS_FOLDER
    for name in (
        runs.CHECKPOINT_BEST,
        runs.CHECKPOINT_LAST,
        runs.SUMMARY_FILE,
        runs.METRICS_JSON,
        runs.PREDICTIONS_CSV,
    ):
        assert (folder / name).is_file(), name
    metrics = runs.RunFolder(folder).json(runs.METRICS_JSON, "")
    assert {"top1", "top1_unseen_bins", "best_epoch", "average_k1"} <= set(metrics)
    last = (folder / runs.CHECKPOINT_LAST).stat().st_mtime_ns
    train_cnn_runs([config], frame, progress=False)
    assert (folder / runs.CHECKPOINT_LAST).stat().st_mtime_ns == last, "a tested run is not trained again"
