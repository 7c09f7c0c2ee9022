"""Time the six experiments' splits: vectorised at full scale, and against the per-row reference on a 100,000-row subset."""

from __future__ import annotations

import sys
import time
import warnings
from pathlib import Path

import pandas as pd

from bioscan_lib.core import reference
from bioscan_lib.sample.release import full_scale_metadata
from bioscan_lib.split import rules as split

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from split_reference import make_splits_per_row  # noqa: E402  (the oracle lives with the tests)

TARGET_SECONDS = 30.0
SUBSET_ROWS = 100_000
SEED = 2023


def best_time(function, repeats: int) -> tuple[float, pd.DataFrame]:
    """The fastest of `repeats` calls and the last result."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        result = function()
        times.append(time.perf_counter() - start)
    return min(times), result


def main() -> None:
    start = time.perf_counter()
    metadata = full_scale_metadata()
    print(
        f"full-scale metadata: {len(metadata):,} rows generated in {time.perf_counter() - start:.1f} s (not timed below)"
    )

    seconds, frame = best_time(lambda: split.make_splits(metadata, SEED), repeats=3)
    sizes = split.split_size_table(frame)
    print(
        f"all six experiments, {len(metadata):,} rows: {seconds:.2f} s (target {TARGET_SECONDS:.0f} s: "
        f"{TARGET_SECONDS / seconds:.0f}x under)"
    )
    print(sizes.to_string(index=False))
    published_orders = metadata["order"].isin(list(reference.published_order_counts()))
    derived = split.split_size_table(split.make_splits(metadata[published_orders], SEED)).set_index("experiment")
    print(
        "split sizes on the 16 published orders equal the derived table:",
        derived.to_dict(orient="index") == reference.split_sizes(),
    )

    subset = metadata.iloc[:SUBSET_ROWS]
    scale = SUBSET_ROWS / len(metadata)
    medium, small = round(split.SIZES["medium"] * scale), round(split.SIZES["small"] * scale)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", split.SplitBudgetWarning)
        fast_seconds, fast = best_time(lambda: split.make_splits(subset, SEED, medium, small), repeats=3)
        slow_seconds, slow = best_time(lambda: make_splits_per_row(subset, SEED, medium, small), repeats=1)
    same = all(fast[c].astype(str).equals(slow[c].astype(str)) for c in split.EXPERIMENTS)
    print(
        f"{SUBSET_ROWS:,}-row subset (Medium {medium:,}, Small {small:,}): vectorised {fast_seconds:.3f} s, "
        f"per-row {slow_seconds:.2f} s, speed-up {slow_seconds / fast_seconds:.0f}x, identical columns: {same}"
    )


if __name__ == "__main__":
    main()
