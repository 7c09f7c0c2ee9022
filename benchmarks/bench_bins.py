"""The barcode-gap table (`dna.bins.barcode_gap`) over every BIN of the full-scale metadata: seconds and peak memory
(max RSS) of the metadata's generation, the distinct barcodes, the within-BIN part, the nearest-BIN part and the
total; beside it, in the same run, a plain per-read numpy loop on a subset of BINs (the largest and some drawn at
random) with the stacked code on the same subset, their ratio and whether they agree; and the recall of the
candidate search: the share of BINs drawn at random whose nearest BIN by consensus read, searched exhaustively over
every BIN, is among their CANDIDATE_BINS k-mer candidates.

Usage: python benchmarks/bench_bins.py [--largest N] [--random N] [--recall N]
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
    return bins.BinBarcodes(barcodes.names[numbers], barcodes.specimens[numbers], barcodes.codes[rows], starts)


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


def candidate_recall(barcodes: bins.BinBarcodes, consensus: np.ndarray, candidates: np.ndarray, drawn: int) -> None:
    """Share of BINs drawn at random whose nearest consensus read over all BINs is among their candidates."""
    queries = np.random.default_rng(DEFAULT_SEED + 1).choice(len(consensus), drawn, replace=False)
    distances = bins.p_distances(consensus[queries], consensus)
    distances[np.arange(drawn), queries] = np.inf
    truth = np.argmin(np.where(np.isnan(distances), np.inf, distances), axis=1)
    found = (candidates[queries] == truth[:, None]).any(axis=1)
    print(
        f"candidate recall on {drawn} random BINs (exhaustive nearest consensus among the candidates): {found.mean():.1%}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--largest", type=int, default=50, help="largest BINs in the baseline's subset")
    parser.add_argument("--random", type=int, default=2000, help="BINs drawn at random into that subset")
    parser.add_argument("--recall", type=int, default=300, help="BINs drawn for the candidates' recall")
    arguments = parser.parse_args()
    _, frame = timed("metadata generation", lambda: full_scale_metadata(DEFAULT_SEED)[[BIN_COLUMN, BARCODE_COLUMN]])
    print(f"{len(frame):,} rows, {frame[BIN_COLUMN].nunique():,} BINs")
    seconds = {}
    seconds["barcodes"], barcodes = timed(
        "distinct barcodes per BIN",
        lambda: bins.bin_barcodes(frame.pop(BARCODE_COLUMN).to_frame().assign(**{BIN_COLUMN: frame[BIN_COLUMN]})),
    )
    seconds["within"], within = timed("within-BIN (exact)", lambda: bins.max_within(barcodes, progress=False))
    seconds["consensus"], consensus = timed("consensus reads", lambda: bins.consensus_reads(barcodes))
    seconds["candidates"], candidates = timed("candidate BINs", lambda: bins.candidate_bins(consensus, progress=False))
    seconds["nearest"], (nearest, distance) = timed(
        "nearest BIN (exact, members)", lambda: bins.nearest_other_bins(barcodes, candidates, progress=False)
    )
    print(f"{'total (without generation)':28} {sum(seconds.values()):8.1f} s  peak {peak_mb():8.0f} MB")
    summary = bins.barcode_gap_summary(bins.gap_table(barcodes, within, nearest, distance))
    print(summary.to_string(index=False))
    compare_with_plain_loop(barcodes, arguments.largest, arguments.random)
    candidate_recall(barcodes, consensus, candidates, arguments.recall)


if __name__ == "__main__":
    main()
