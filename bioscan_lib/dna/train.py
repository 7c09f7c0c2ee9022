"""Train and test the DNA classifiers of a profile, experiment by experiment; a run tested with the same parameters
on the same split is kept, so an interrupted stage resumes where it stopped."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import pandas as pd
from tqdm.auto import tqdm

from bioscan_lib.config import BarcodeCnnConfig, KmerConfig
from bioscan_lib.core.paths import resolve_path
from bioscan_lib.core.runs import CHECKPOINT_BEST, METRICS_JSON, RunFolder
from bioscan_lib.dna import cnn, kmer
from bioscan_lib.split.rules import SPLIT_FILE_NAME, read_class_list, split_folder


def _up_to_date(config: KmerConfig | BarcodeCnnConfig, split_tsv: Path, inputs: tuple[str, ...] = ()) -> bool:
    """Whether the run folder holds this configuration's test results, newer than the split and the run's `inputs`
    (its best checkpoint, for a trained network)."""
    run = RunFolder(config.run_folder)
    metrics = run.file(METRICS_JSON)
    sources = [split_tsv, *(run.file(name) for name in inputs)]
    if not (run.is_run() and metrics.is_file() and all(source.is_file() for source in sources)):
        return False
    newer = all(metrics.stat().st_mtime >= source.stat().st_mtime for source in sources)
    return newer and run.params == dataclasses.asdict(config)


def train_cnn_runs(
    configs: list[BarcodeCnnConfig], split_frame: pd.DataFrame, force: bool = False, progress: bool = True
) -> list[Path]:
    """Train (resuming) and test the CNN baseline per configuration through the engine, skipping those up to date;
    with `force`, from scratch."""
    folders = []
    for config in configs:
        split_dir = split_folder(resolve_path(config.output_dir))
        if force:
            shutil.rmtree(config.run_folder, ignore_errors=True)
        if not _up_to_date(config, split_dir / SPLIT_FILE_NAME, (CHECKPOINT_BEST,)):
            classes = read_class_list(split_dir, config.experiment)["class"].astype(str).tolist()
            cnn.train_and_test(config, split_frame, classes, progress)
        folders.append(config.run_folder)
    return folders


def train_kmer_runs(
    configs: list[KmerConfig], split_frame: pd.DataFrame, force: bool = False, progress: bool = True
) -> list[Path]:
    """Fit and test a k-mer classifier per configuration (skipping those up to date unless `force`); their folders."""
    folders = []
    for config in tqdm(configs, desc="DNA runs", disable=not progress):
        split_dir = split_folder(resolve_path(config.output_dir))
        if force or not _up_to_date(config, split_dir / SPLIT_FILE_NAME):
            classes = read_class_list(split_dir, config.experiment)["class"].astype(str).tolist()
            kmer.train_and_test(config, split_frame, classes)
        folders.append(config.run_folder)
    return folders
