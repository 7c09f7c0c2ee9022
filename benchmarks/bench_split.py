"""Time the six experiments' splits: vectorised at full scale, and against the per-row reference on a 100,000-row subset;
then the writing of the full-scale split TSV and class lists beside a naive pandas `to_csv`, bytes compared by SHA-256.

Usage: python benchmarks/bench_split.py [--write-only] [--repeats 3]
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import tempfile
import time
import warnings
from pathlib import Path

import pandas as pd

from bioscan_lib.data import bioscan1m
from bioscan_lib.data.bioscan1m import BUDGETS
from bioscan_lib.sample.release import full_scale_metadata
from bioscan_lib.split import rules as split

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from split_reference import make_splits_per_row  # noqa: E402  (the oracle lives with the tests)
from timing import best_time  # noqa: E402

TARGET_SECONDS = 30.0
WRITE_TARGET_SECONDS = 3.0
SUBSET_ROWS = 100_000
SEED = 2023


def sha256(path: Path) -> str:
    """Hex SHA-256 of a file."""
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def write_naively(frame: pd.DataFrame, path: Path) -> Path:
    """Baseline: pandas' own TSV writer over the same columns in the same order."""
    frame.to_csv(path, sep="\t", index=False)
    return path


def compare_writes(frame: pd.DataFrame, repeats: int) -> None:
    """Best-of-`repeats` seconds of write_split (TSV and six class lists) and of the naive TSV, and their digests."""
    with tempfile.TemporaryDirectory() as folder:
        suite_path, naive_path = Path(folder) / split.SPLIT_FILE_NAME, Path(folder) / "naive.tsv"
        suite, _ = best_time(lambda: split.write_split(frame, suite_path), repeats)
        naive, _ = best_time(lambda: write_naively(frame, naive_path), repeats)
        same = sha256(suite_path) == sha256(naive_path)
        print(f"split TSV of {len(frame):,} rows, best of {repeats} (target {WRITE_TARGET_SECONDS:.0f} s):")
        print(f"  suite write_split (TSV + six class lists) {suite:6.2f} s")
        print(f"  baseline pandas to_csv (TSV only)         {naive:6.2f} s   speed-up {naive / suite:.1f}x")
        print(f"  SHA-256 of the two TSVs identical: {same} ({sha256(suite_path)[:16]}…)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write-only", action="store_true", help="time only the writing of the split TSV")
    parser.add_argument("--repeats", type=int, default=3, help="runs per write measurement; the fastest is shown")
    arguments = parser.parse_args()
    start = time.perf_counter()
    metadata = full_scale_metadata()
    print(
        f"full-scale metadata: {len(metadata):,} rows generated in {time.perf_counter() - start:.1f} s (not timed below)"
    )
    if arguments.write_only:
        compare_writes(split.make_splits(metadata, SEED), arguments.repeats)
        return

    seconds, frame = best_time(lambda: split.make_splits(metadata, SEED), repeats=3)
    sizes = split.split_size_table(frame)
    print(
        f"all six experiments, {len(metadata):,} rows: {seconds:.2f} s (target {TARGET_SECONDS:.0f} s: "
        f"{TARGET_SECONDS / seconds:.0f}x under)"
    )
    print(sizes.to_string(index=False))
    published_orders = metadata["order"].isin(list(bioscan1m.published_order_counts()))
    derived = split.split_size_table(split.make_splits(metadata[published_orders], SEED)).set_index("experiment")
    print(
        "split sizes on the 16 published orders equal the derived table:",
        derived.to_dict(orient="index") == bioscan1m.split_sizes(),
    )

    subset = metadata.iloc[:SUBSET_ROWS]
    scale = SUBSET_ROWS / len(metadata)
    medium, small = round(BUDGETS["medium"] * scale), round(BUDGETS["small"] * scale)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", split.SplitBudgetWarning)
        fast_seconds, fast = best_time(lambda: split.make_splits(subset, SEED, medium, small), repeats=3)
        slow_seconds, slow = best_time(lambda: make_splits_per_row(subset, SEED, medium, small), repeats=1)
    same = all(fast[c].astype(str).equals(slow[c].astype(str)) for c in bioscan1m.EXPERIMENTS)
    print(
        f"{SUBSET_ROWS:,}-row subset (Medium {medium:,}, Small {small:,}): vectorised {fast_seconds:.3f} s, "
        f"per-row {slow_seconds:.2f} s, speed-up {slow_seconds / fast_seconds:.0f}x, identical columns: {same}"
    )
    compare_writes(frame, arguments.repeats)


if __name__ == "__main__":
    main()
