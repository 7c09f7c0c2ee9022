"""Time the CLIBD partition at full scale: making it from a seed, writing its ten files, and reading them back beside
a baseline that attaches them as bioscan-dataset does (a `read_csv` per file, then a merge on the sample ID).

Usage: python benchmarks/bench_clibd.py [--repeats 3]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import pandas as pd
from timing import best_time

from bioscan_lib.data.bioscan1m import CLIBD_ID_COLUMN, CLIBD_SPLIT_COLUMN, CLIBD_SPLITS
from bioscan_lib.sample.release import full_scale_metadata
from bioscan_lib.split import clibd

TARGET_SECONDS = 5.0
SEED = 2023


def merge_as_bioscan_dataset(folder: Path, sample_ids: pd.Series) -> pd.Series:
    """Baseline: each file read by pandas with one named column, stacked, and merged onto the metadata's IDs."""
    listed = pd.concat(
        pd.read_csv(clibd.split_file(folder, split), names=[CLIBD_ID_COLUMN]).assign(**{CLIBD_SPLIT_COLUMN: split})
        for split in CLIBD_SPLITS
    )
    return pd.merge(sample_ids.to_frame(), listed, on=CLIBD_ID_COLUMN, how="left")[CLIBD_SPLIT_COLUMN]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    repeats = parser.parse_args().repeats
    frame = full_scale_metadata()
    made, splits = best_time(lambda: clibd.make_partition(frame, SEED), repeats)
    print(f"make_partition, {len(frame):,} rows: {made:.2f} s (target {TARGET_SECONDS:.0f} s)")
    with tempfile.TemporaryDirectory() as folder:
        written, _ = best_time(lambda: clibd.write_partition(frame[CLIBD_ID_COLUMN], splits, folder), repeats)
        read, back = best_time(lambda: clibd.read_partition(Path(folder), frame[CLIBD_ID_COLUMN]), repeats)
        merged, theirs = best_time(lambda: merge_as_bioscan_dataset(Path(folder), frame[CLIBD_ID_COLUMN]), repeats)
    print(f"write_partition: {written:.2f} s")
    print(f"read_partition: {read:.2f} s, with its checks; bioscan-dataset's read_csv and merge: {merged:.2f} s")
    same = back.equals(splits) and (theirs.to_numpy() == splits.astype(str).to_numpy()).all()
    print(f"read back as made, and as bioscan-dataset reads it: {same}")


if __name__ == "__main__":
    main()
