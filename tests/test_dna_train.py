"""The DNA stage resumes: a run tested with the same parameters on the same split is kept."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

from bioscan_lib.config import KmerConfig
from bioscan_lib.core.runs import METRICS_JSON
from bioscan_lib.dna.train import train_kmer_runs
from bioscan_lib.split import rules as split


def test_an_up_to_date_run_is_kept_and_a_changed_one_trained_again(output_with_splits: Callable[[], Path]) -> None:
    out = output_with_splits()
    frame = split.read_split(split.split_folder(out))
    config = KmerConfig(experiment="large_insect_order", output_dir=str(out), kmer=3)
    first = train_kmer_runs([config], frame, progress=False)[0] / METRICS_JSON
    written = first.stat().st_mtime_ns
    train_kmer_runs([config], frame, progress=False)
    assert first.stat().st_mtime_ns == written
    train_kmer_runs([dataclasses.replace(config, regularization=0.5)], frame, progress=False)
    assert first.stat().st_mtime_ns > written
