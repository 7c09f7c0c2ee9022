"""The barcode-gap table (`dna.bins.barcode_gap`) over every BIN of the full-scale metadata: seconds and peak memory
(max RSS) of the metadata's generation, the distinct barcodes, the within-BIN part, the nearest-BIN part and the
total; beside it, in the same run, a plain per-read numpy loop on a subset of BINs (the largest and some drawn at
random) with the stacked code on the same subset, their ratio and whether they agree; and the exactness of the
nearest-BIN search at CANDIDATE_BINS and at other candidate counts: for BINs drawn at random, the share whose
nearest-BIN distance equals an exhaustive search over every distinct barcode of every other BIN, and the share whose
barcode-gap verdicts agree with it.

Usage: python benchmarks/bench_bins.py [--largest N] [--random N] [--exhaustive N] [--candidates N ...]
"""

from __future__ import annotations

import argparse
import resource
import time
from collections.abc import Callable
from typing import TypeVar

import numpy as np

from bioscan_lib.config import DEFAULT_SEED
from bioscan_lib.data.barcodes import NO_BASE
from bioscan_lib.data.bioscan1m import BARCODE_COLUMN, BIN_COLUMN
from bioscan_lib.dna import bins
from bioscan_lib.sample.release import full_scale_metadata

Result = TypeVar("Result")


def peak_mb() -> float:
    """This process's peak resident memory so far (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def timed(name: str, work: Callable[[], Result]) -> tuple[float, Result]:
    """Run `work` once; print its seconds and the peak memory after it."""
    start = time.perf_counter()
    result = work()
    seconds = time.perf_counter() - start
    print(f"{name:28} {seconds:8.1f} s  peak {peak_mb():8.0f} MB", flush=True)
    return seconds, result


def plain_max_within(members: np.ndarray) -> float:
    """The baseline: one read at a time against the others, boolean numpy."""
    largest = 0.0
    covered = members < NO_BASE
    for row in range(len(members) - 1):
        shared = covered[row] & covered[row + 1 :]
        mismatching = (members[row] != members[row + 1 :]) & shared
        counts = shared.sum(axis=1)
        distances = mismatching.sum(axis=1)[counts > 0] / counts[counts > 0]
        largest = max(largest, float(distances.max(initial=0.0)))
    return largest


def subset(barcodes: bins.BinBarcodes, numbers: np.ndarray) -> bins.BinBarcodes:
    """The BINs `numbers` of `barcodes`, as a BinBarcodes of their own."""
    rows = np.concatenate([np.arange(barcodes.starts[n], barcodes.starts[n + 1]) for n in numbers])
    starts = np.concatenate([[0], np.cumsum(barcodes.sizes[numbers])])
    return bins.BinBarcodes(
        barcodes.names[numbers],
        barcodes.specimens[numbers],
        barcodes.codes[rows],
        starts,
        barcodes.order[numbers],
        barcodes.family[numbers],
    )


def compare_with_plain_loop(barcodes: bins.BinBarcodes, largest: int, drawn: int) -> None:
    """The within-BIN part and the baseline on the same BINs: seconds, ratio, agreement."""
    rng = np.random.default_rng(DEFAULT_SEED)
    numbers = np.argsort(-barcodes.sizes, kind="stable")[:largest]
    rest = np.setdiff1d(np.arange(len(barcodes.sizes)), numbers)
    numbers = np.sort(np.concatenate([numbers, rng.choice(rest, drawn, replace=False)]))
    chosen = subset(barcodes, numbers)
    print(f"subset: the {largest} largest BINs and {drawn} drawn at random, {len(chosen.codes):,} distinct barcodes")
    plain_seconds, plain = timed(
        "  plain per-read loop", lambda: [plain_max_within(chosen.members(n)) for n in range(len(numbers))]
    )
    ours_seconds, ours = timed("  max_within", lambda: bins.max_within(chosen, progress=False))
    print(f"  x{plain_seconds / ours_seconds:.1f} faster, results equal: {np.array_equal(np.array(plain), ours)}")


def exhaustive_nearest(barcodes: bins.BinBarcodes, numbers: np.ndarray, keys: int = 1 << 15) -> np.ndarray:
    """Per BIN of `numbers`, the smallest p-distance from its barcodes to any barcode of another BIN, over all."""
    rows = np.concatenate([np.arange(barcodes.starts[n], barcodes.starts[n + 1]) for n in numbers])
    bin_of_key = np.repeat(np.arange(len(barcodes.sizes)), barcodes.sizes)
    bin_of_query = bin_of_key[rows]
    smallest = np.full(len(rows), np.inf)
    for start in range(0, len(barcodes.codes), keys):
        distances = bins.p_distances(barcodes.codes[rows], barcodes.codes[start : start + keys])
        distances[(bin_of_query[:, None] == bin_of_key[start : start + keys]) | np.isnan(distances)] = np.inf
        np.minimum(smallest, distances.min(axis=1), out=smallest)
    return np.minimum.reduceat(smallest, np.concatenate([[0], np.cumsum(barcodes.sizes[numbers])[:-1]]))


def search_exactness(
    within: np.ndarray, distances: dict[int, np.ndarray], drawn: int, barcodes: bins.BinBarcodes
) -> None:
    """Per candidate count: the share of BINs drawn at random whose nearest-BIN distance equals the exhaustive
    search's, the largest excess, and the share whose barcode-gap verdicts (gap > 0, nearest over 2.2 %) agree."""
    queries = np.random.default_rng(DEFAULT_SEED + 1).choice(len(within), drawn, replace=False)
    _, truth = timed(f"exhaustive, {drawn} BINs", lambda: exhaustive_nearest(barcodes, queries))
    verdicts = np.column_stack([truth > within[queries], truth > bins.BOLD_BIN_THRESHOLD])
    for count, distance in distances.items():
        found = np.where(np.isnan(distance[queries]), np.inf, distance[queries])
        equal = found == truth
        agree = (np.column_stack([found > within[queries], found > bins.BOLD_BIN_THRESHOLD]) == verdicts).all(axis=1)
        excess = np.max(found - truth, initial=0.0)
        print(
            f"  {count:3} candidates: distance exact for {equal.mean():.1%} of {drawn} random BINs, "
            f"largest excess {excess:.4f}, verdicts agree for {agree.mean():.1%}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--largest", type=int, default=50, help="largest BINs in the baseline's subset")
    parser.add_argument("--random", type=int, default=2000, help="BINs drawn at random into that subset")
    parser.add_argument("--exhaustive", type=int, default=300, help="BINs drawn for the exhaustive check")
    parser.add_argument("--candidates", type=int, nargs="*", default=[16, 32], help="other candidate counts to try")
    arguments = parser.parse_args()
    _, frame = timed(
        "metadata generation",
        lambda: full_scale_metadata(DEFAULT_SEED)[[BIN_COLUMN, BARCODE_COLUMN, *bins.SEARCH_RANKS]],
    )
    print(f"{len(frame):,} rows, {frame[BIN_COLUMN].nunique():,} BINs")
    seconds = {}
    seconds["barcodes"], barcodes = timed("distinct barcodes per BIN", lambda: bins.bin_barcodes(frame))
    seconds["within"], within = timed("within-BIN (exact)", lambda: bins.max_within(barcodes, progress=False))
    seconds["consensus"], consensus = timed("consensus reads", lambda: bins.consensus_reads(barcodes))
    seconds["candidates"], candidates = timed(
        "candidate BINs", lambda: bins.candidate_bins(barcodes, consensus, progress=False)
    )
    seconds["nearest"], (nearest, distance) = timed(
        "nearest BIN (exact, members)", lambda: bins.nearest_other_bins(barcodes, candidates, progress=False)
    )
    print(f"{'total (without generation)':28} {sum(seconds.values()):8.1f} s  peak {peak_mb():8.0f} MB")
    summary = bins.barcode_gap_summary(bins.gap_table(barcodes, within, nearest, distance))
    print(summary.to_string(index=False))
    compare_with_plain_loop(barcodes, arguments.largest, arguments.random)
    distances = {bins.CANDIDATE_BINS: distance}
    for count in arguments.candidates:
        _, more = timed(f"{count} candidates", lambda: bins.candidate_bins(barcodes, consensus, count, progress=False))
        _, (_, distances[count]) = timed(
            f"  nearest of {count}", lambda: bins.nearest_other_bins(barcodes, more, progress=False)
        )
    search_exactness(within, distances, arguments.exhaustive, barcodes)


if __name__ == "__main__":
    main()
