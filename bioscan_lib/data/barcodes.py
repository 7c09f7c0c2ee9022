"""DNA barcodes as the data layer reads them: one stated cleaning, base codes, k-mer counts and one-hot arrays.

The cleaning: upper case, trailing Ns stripped, cut at 660 bases (as `bioscan-dataset` and BIOSCAN-5M do). Any byte
other than A, C, G or T (an IUPAC ambiguity code, a gap, an N) is kept as "no base": it breaks every k-mer that
holds it and is the N channel of the one-hot code.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from numpy.lib.stride_tricks import sliding_window_view

BARCODE_SITES = 660  # bases kept of a read; one-hot codes are padded with N to this length
BASES = "ACGT"
NO_BASE = len(BASES)  # the code of any other byte, and of the padding past a read's end
ONE_HOT_CHANNELS = len(BASES) + 1  # A, C, G, T and N
LONGEST_PLAUSIBLE_READ = 2000  # a read longer than this is not a COI barcode
AMBIGUITY_CODES = "RYKMSWBDHVN"
ROWS_PER_CHUNK = 1 << 10  # small enough that a chunk's tally stays in cache (measured in benchmarks/bench_barcodes.py)

_CODE_OF_BYTE = bytes(
    BASES.index(chr(byte).upper()) if chr(byte).upper() in BASES else NO_BASE for byte in range(256)
)  # a bytes.translate table
_PADDING = bytes([NO_BASE]) * BARCODE_SITES


def kmer_names(k: int) -> list[str]:
    """The 4**k ACGT k-mers, in the order of the count columns (itertools.product order)."""
    return ["".join(kmer) for kmer in itertools.product(BASES, repeat=k)]


def _arrow(reads: pd.Series) -> pa.LargeStringArray:
    """Reads as one Arrow array of large strings (one chunk, as after `pd.concat` there may be several), a missing
    read as an empty one."""
    values = pa.array(reads.astype("string[pyarrow]"), type=pa.large_string())
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    return pc.fill_null(values, "")


def clean(reads: pd.Series) -> pa.LargeStringArray:
    """The stated cleaning of raw reads (`nucraw`): upper case, trailing Ns stripped, cut at 660 bases."""
    return pc.utf8_slice_codeunits(pc.ascii_rtrim(pc.ascii_upper(_arrow(reads)), characters="N"), 0, BARCODE_SITES)


def _in_chunks(rows: int, work: Callable[[slice], None]) -> None:
    """Run `work` on consecutive row slices, in threads (numpy releases the GIL; each slice writes its own rows)."""
    chunks = [slice(start, min(start + ROWS_PER_CHUNK, rows)) for start in range(0, rows, ROWS_PER_CHUNK)]
    with ThreadPoolExecutor(max(1, min(len(chunks), os.cpu_count() or 1))) as pool:
        list(pool.map(work, chunks))


def base_codes(reads: pd.Series) -> np.ndarray:
    """(reads, 660) uint8 codes of the cleaned reads: 0-3 for A, C, G, T in either case; 4 for any other byte and
    past the read's end (so trailing Ns and padding are alike)."""
    values = _arrow(reads)
    _, offsets, data = values.buffers()
    offsets = np.frombuffer(offsets, np.int64, len(values) + 1, values.offset * 8)
    data = memoryview(data) if data is not None else memoryview(b"")
    codes = np.empty((len(values), BARCODE_SITES), dtype=np.uint8)
    sites = np.arange(BARCODE_SITES)

    def encode(rows: slice) -> None:
        bounds = offsets[rows.start : rows.stop + 1]
        span = bytes(data[bounds[0] : bounds[-1]]).translate(_CODE_OF_BYTE) + _PADDING
        windows = sliding_window_view(np.frombuffer(span, np.uint8), BARCODE_SITES)[bounds[:-1] - bounds[0]]
        codes[rows] = np.where(sites < np.diff(bounds)[:, None], windows, NO_BASE)

    _in_chunks(len(values), encode)
    return codes


def kmer_counts(codes: np.ndarray, k: int) -> np.ndarray:
    """(reads, 4**k) uint16 counts of each ACGT k-mer (overlapping); a k-mer holding any other byte is not counted."""
    if not 1 <= k <= 8:
        raise ValueError(f"k-mer length {k} is outside 1-8; set the profile's `dna_kmer` to a value in that range.")
    columns = len(BASES) ** k
    counts = np.empty((len(codes), columns), dtype=np.uint16)
    windows = codes.shape[1] - k + 1

    def count(rows: slice) -> None:
        chunk = codes[rows]
        bits = np.minimum(chunk, NO_BASE - 1).astype(np.int32)
        index = bits[:, :windows].copy()
        for offset in range(1, k):
            index <<= 2
            index |= bits[:, offset : offset + windows]
        bad = np.zeros((len(chunk), codes.shape[1] + 1), dtype=np.int16)
        np.cumsum(chunk == NO_BASE, axis=1, out=bad[:, 1:])
        index[bad[:, k:] != bad[:, :windows]] = columns  # a column of its own, dropped below
        index += np.arange(len(chunk), dtype=np.int32)[:, None] * (columns + 1)
        tally = np.bincount(index.ravel(), minlength=len(chunk) * (columns + 1)).reshape(-1, columns + 1)
        counts[rows] = tally[:, :columns]

    _in_chunks(len(codes), count)
    return counts


def one_hot(codes: np.ndarray) -> np.ndarray:
    """(reads, 660, 5) float32: one channel per base and one for N (ambiguity codes, gaps and padding)."""
    return np.eye(ONE_HOT_CHANNELS, dtype=np.float32)[codes]


def first_of_each_barcode(codes: np.ndarray) -> np.ndarray:
    """Sorted row numbers of the first read of each distinct barcode (BIOSCAN-5M counts a repeat once), reads
    compared by their base codes."""
    rows = np.ascontiguousarray(codes).view(np.dtype((np.void, codes.shape[1]))).ravel()
    return np.sort(np.unique(rows, return_index=True)[1])


PROBLEMS = (  # what a read can hold beyond the stated cleaning, in the order the problem tables list them
    "lower-case bases (read upper-cased)",
    "IUPAC ambiguity codes (break k-mers)",
    "empty or only Ns (no k-mer)",
    f"longer than {LONGEST_PLAUSIBLE_READ:,} bases (cut at {BARCODE_SITES})",
    "bytes that are no base, code or gap (break k-mers)",
)


def without_bases(reads: pd.Series) -> np.ndarray:
    """Per read, whether it is empty or only Ns (in either case): no k-mer, no one-hot base."""
    return reads.astype("string[pyarrow]").fillna("").str.fullmatch("[Nn]*").to_numpy(bool)


def problems(reads: pd.Series, ids: pd.Series) -> pd.DataFrame:
    """One row per read and problem of `PROBLEMS` (problem, sample ID, the read's first 60 bytes)."""
    raw = reads.astype("string[pyarrow]").fillna("")
    upper = raw.str.upper()
    found = (
        raw.str.contains("[acgtn]", regex=True),
        upper.str.contains(f"[{AMBIGUITY_CODES[:-1]}]", regex=True),
        pd.Series(without_bases(raw), index=raw.index),
        raw.str.len() > LONGEST_PLAUSIBLE_READ,
        upper.str.contains(f"[^{BASES}{AMBIGUITY_CODES}-]", regex=True),
    )
    rows = [
        pd.DataFrame({"problem": name, "sampleid": ids[hit.to_numpy(bool)], "read": raw[hit.to_numpy(bool)]})
        for name, hit in zip(PROBLEMS, found)
    ]
    table = pd.concat(rows, ignore_index=True)
    return table.assign(read=table["read"].str.slice(0, 60))


def problem_counts(table: pd.DataFrame) -> pd.DataFrame:
    """Reads per problem of `PROBLEMS` (zero included) from a `problems` table."""
    counts = table["problem"].value_counts().reindex(list(PROBLEMS), fill_value=0)
    return counts.rename_axis("problem").reset_index(name="barcodes")
