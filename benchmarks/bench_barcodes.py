"""Time the barcode reader on the full-scale metadata: base codes and k-mer counts of all 1,128,313 barcodes, beside
scikit-learn's CountVectorizer on a slice of the same rows (scaled up), with the counts compared on that slice.

Usage: python benchmarks/bench_barcodes.py [--k 5] [--slice 20000] [--repeats 2]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from sklearn.feature_extraction.text import CountVectorizer

from bioscan_lib.data import barcodes
from bioscan_lib.data.bioscan1m import BARCODE_COLUMN
from bioscan_lib.sample.release import full_scale_metadata

TARGET_SECONDS = 10.0
TARGET_RATIO = 20.0


def best_time(function, repeats: int):
    """The fastest of `repeats` calls and the last result."""
    times, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = function()
        times.append(time.perf_counter() - start)
    return min(times), result


def count_vectorizer(reads: list[str], k: int) -> np.ndarray:
    """Baseline: CountVectorizer's character k-grams of the cleaned reads, in the suite's column order (ACGT only)."""
    vectorizer = CountVectorizer(analyzer="char", ngram_range=(k, k), lowercase=False)
    counted = vectorizer.fit_transform(reads).tocsc()
    dense = np.zeros((len(reads), 4**k), dtype=np.int64)
    for column, kmer in enumerate(barcodes.kmer_names(k)):
        if kmer in vectorizer.vocabulary_:
            dense[:, column] = counted[:, vectorizer.vocabulary_[kmer]].toarray().ravel()
    return dense


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--k", type=int, default=5)
    parser.add_argument("--slice", type=int, default=20_000, help="rows CountVectorizer counts (default %(default)s)")
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    reads = full_scale_metadata()[BARCODE_COLUMN]
    print(f"{len(reads):,} barcodes, k = {args.k}")

    coding, codes = best_time(lambda: barcodes.base_codes(reads), args.repeats)
    counting, counts = best_time(lambda: barcodes.kmer_counts(codes, args.k), args.repeats)
    suite = coding + counting
    part = reads.iloc[: args.slice]
    cleaned = barcodes.clean(part).to_pylist()
    baseline_slice, expected = best_time(lambda: count_vectorizer(cleaned, args.k), 1)
    baseline = baseline_slice * len(reads) / len(part)
    equal = np.array_equal(counts[: len(part)], expected)

    print(
        f"suite: base codes {coding:.2f} s + k-mer counts {counting:.2f} s = {suite:.2f} s (target < {TARGET_SECONDS:g} s)"
    )
    print(
        f"CountVectorizer: {baseline_slice:.2f} s on {len(part):,} rows, {baseline:.1f} s scaled to all "
        f"(cleaning not counted)"
    )
    print(f"ratio: {baseline / suite:.1f}x (target >= {TARGET_RATIO:g}x); counts equal on the slice: {equal}")


if __name__ == "__main__":
    main()
