"""BINs beside species: how many named species each BIN holds, the barcode gap of each BIN (largest distance within
it against the distance to the nearest other BIN), and the BIN as a 1-NN classifier target.

Distances are uncorrected p-distances between reads compared site by site from their first base, as aligned COI-5P
reads are: mismatching sites over the sites where both reads have an ACGT base. They are ratios of integer counts,
counted exactly (float32 products of 0/1 values, exact below 2**24), so the tables are the same on every machine
and at any thread count.
"""

from __future__ import annotations

from dataclasses import dataclass

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from threadpoolctl import threadpool_limits
from tqdm.auto import tqdm

from bioscan_lib.core.retrieval import majority_accuracy, nearest_keys, retrieval_accuracy
from bioscan_lib.data.barcodes import BARCODE_SITES, BASES, NO_BASE, base_codes, kmer_counts
from bioscan_lib.data.bioscan1m import BARCODE_COLUMN, BIN_COLUMN
from bioscan_lib.data.metadata import labelled
from bioscan_lib.dna.kmer import features

BOLD_BIN_THRESHOLD = 0.022  # BOLD proposes BINs at about 2.2 % uncorrected distance
SPECIES_COLUMN = "species"
CANDIDATE_BINS = 8  # other BINs searched exactly for each BIN's nearest, the most k-mer-similar consensus reads
CANDIDATE_KMER = 4  # k of the consensus profiles the candidates are picked by (4**k dims)
SCORE_GROUP = 128  # columns per group when the top candidates are picked from group maxima
BLOCK_ROWS = 1024  # rows per matrix product: reads of a distance tile, BINs of a candidate block
BATCHED_BARCODES = 256  # BINs of at most this many distinct barcodes are compared in stacks of one size
STACK_VALUES = 1 << 24  # one-hot values per stack of equal-sized BINs (64 MB of float32)
CHANNELS = len(BASES) * BARCODE_SITES  # one-hot width: a column per site and ACGT base
_BASE_ONE_HOT = np.eye(NO_BASE + 1, NO_BASE, dtype=np.float32)  # a code's one-hot row; NO_BASE is all zeros


def require_columns(frame: pd.DataFrame, *columns: str) -> None:
    """Refuse a frame without one of `columns`, naming it."""
    for column in columns:
        if column not in frame.columns:
            raise ValueError(
                f"the frame has no {column!r} column; pass metadata rows as read_metadata gives them, "
                f"{column!r} kept (it holds {'the BIN' if column == BIN_COLUMN else 'that value'} of each specimen)"
            )


# --- BINs and named species ---------------------------------------------------------------------------------------


def _bin_species_pairs(frame: pd.DataFrame) -> pd.DataFrame:
    """Specimens per (BIN, species) of the rows with both a BIN and a named species."""
    require_columns(frame, BIN_COLUMN, SPECIES_COLUMN)
    known = (labelled(frame[BIN_COLUMN]) & labelled(frame[SPECIES_COLUMN])).to_numpy()
    pairs = pd.DataFrame(
        {"bin": frame[BIN_COLUMN][known].astype(str), "species": frame[SPECIES_COLUMN][known].astype(str)}
    )
    return pairs.value_counts().rename("specimens").reset_index().sort_values(["bin", "species"], ignore_index=True)


def bin_species(frame: pd.DataFrame) -> pd.DataFrame:
    """Per BIN with species-labelled specimens: those specimens, how many named species, the commonest and its share."""
    pairs = _bin_species_pairs(frame).sort_values(["bin", "specimens", "species"], ascending=[True, False, True])
    per_bin = pairs.groupby("bin", sort=True)
    table = pd.DataFrame(
        {
            "specimens": per_bin["specimens"].sum(),
            "species": per_bin.size(),
            "commonest_species": per_bin["species"].first(),
            "commonest_share": per_bin["specimens"].first() / per_bin["specimens"].sum(),
        }
    )
    return table.rename_axis("bin").reset_index()


def species_bins(frame: pd.DataFrame) -> pd.DataFrame:
    """Per named species with a BIN: its specimens and the number of BINs they fall in."""
    per_species = _bin_species_pairs(frame).groupby("species", sort=True)
    table = pd.DataFrame({"specimens": per_species["specimens"].sum(), "bins": per_species.size()})
    return table.rename_axis("species").reset_index()


def bin_species_summary(frame: pd.DataFrame) -> pd.DataFrame:
    """BINs of one named species and of several; species in one BIN and in several (count and share of each)."""
    species_per_bin, bins_per_species = bin_species(frame)["species"], species_bins(frame)["bins"]
    rows = [
        ("BINs with one named species", int((species_per_bin == 1).sum()), len(species_per_bin)),
        ("BINs with several named species", int((species_per_bin > 1).sum()), len(species_per_bin)),
        ("species in one BIN", int((bins_per_species == 1).sum()), len(bins_per_species)),
        ("species in several BINs", int((bins_per_species > 1).sum()), len(bins_per_species)),
    ]
    table = pd.DataFrame(rows, columns=["group", "count", "of"])
    return table.assign(share=table["count"] / table["of"].where(table["of"] > 0)).drop(columns="of")


# --- p-distances --------------------------------------------------------------------------------------------------


def _one_hot(codes: np.ndarray) -> np.ndarray:
    """(..., 660 * 4) float32: a 1 for each site's ACGT base, nothing for any other code."""
    return _BASE_ONE_HOT[codes].reshape(*codes.shape[:-1], CHANNELS)


def _covered(codes: np.ndarray) -> np.ndarray:
    """(..., 660) float32: 1 where a site holds an ACGT base."""
    return (codes < NO_BASE).astype(np.float32)


def _transposed(values: np.ndarray) -> np.ndarray:
    return np.swapaxes(values, -1, -2)


def mismatches_and_shared(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per pair of reads (rows of base codes, or stacks of them): int32 mismatching sites and sites where both have an
    ACGT base; exact (float32 sums of 0/1 values below 2**24)."""
    matching = (_one_hot(a) @ _transposed(_one_hot(b))).astype(np.int32)
    shared = (_covered(a) @ _transposed(_covered(b))).astype(np.int32)
    return shared - matching, shared


def _ratios(mismatching: np.ndarray, shared: np.ndarray, no_shared_site: float) -> np.ndarray:
    """float64 mismatching / shared sites, `no_shared_site` where the reads share none."""
    return np.divide(mismatching, shared, out=np.full(shared.shape, no_shared_site), where=shared > 0)


def p_distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(rows of a, rows of b) uncorrected p-distances of base-code reads compared site by site from the first base;
    NaN where two reads share no ACGT site."""
    return _ratios(*mismatches_and_shared(a, b), np.nan)


def _one_blas_thread() -> threadpool_limits:
    """One BLAS thread for many small products: a second thread's start-up costs more than it saves, and waits long
    when another process holds the other core (measured: a 4 x 660 by 660 x 30 product at 0.05 ms alone, up to 80 ms
    with two threads on a busy machine)."""
    return threadpool_limits(limits=1, user_api="blas")


def _tiles(rows: int) -> list[slice]:
    return [slice(start, min(start + BLOCK_ROWS, rows)) for start in range(0, rows, BLOCK_ROWS)]


def _largest_distance(codes: np.ndarray) -> float:
    """The largest p-distance between any two of `codes`, tile by tile (each pair of tiles once)."""
    tiles, largest = _tiles(len(codes)), -np.inf
    for number, rows in enumerate(tiles):
        for columns in tiles[number:]:
            largest = max(largest, _ratios(*mismatches_and_shared(codes[rows], codes[columns]), -np.inf).max())
    return largest


def _smallest_per_column(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per read of `b`, its smallest p-distance to any read of `a` (inf where it shares no site with any)."""
    smallest = np.full(len(b), np.inf)
    for rows in _tiles(len(a)):
        for columns in _tiles(len(b)):
            tile = _ratios(*mismatches_and_shared(a[rows], b[columns]), np.inf)
            np.minimum(smallest[columns], tile.min(axis=0), out=smallest[columns])
    return smallest


# --- distinct barcodes per BIN ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BinBarcodes:
    """The distinct barcodes of each BIN: BIN names (sorted), specimens per BIN, the barcodes' base codes grouped by
    BIN (BIN i's are rows starts[i]:starts[i + 1])."""

    names: np.ndarray
    specimens: np.ndarray
    codes: np.ndarray
    starts: np.ndarray

    @property
    def sizes(self) -> np.ndarray:
        """Distinct barcodes per BIN."""
        return np.diff(self.starts)

    def members(self, bin_number: int) -> np.ndarray:
        return self.codes[self.starts[bin_number] : self.starts[bin_number + 1]]


def bin_barcodes(frame: pd.DataFrame) -> BinBarcodes:
    """The distinct barcodes (by base codes) of every BIN with a read holding an ACGT base; rows without a BIN and reads
    without a base are left out (a BIN's `specimens` counts all its rows)."""
    require_columns(frame, BIN_COLUMN, BARCODE_COLUMN)
    with_bin = labelled(frame[BIN_COLUMN]).to_numpy()
    bins = frame[BIN_COLUMN][with_bin].astype(str).to_numpy()
    names, bin_of_row, specimens = np.unique(bins, return_inverse=True, return_counts=True)
    codes = base_codes(frame[BARCODE_COLUMN][with_bin])
    has_base = (codes < NO_BASE).any(axis=1)
    codes, bin_of_row = codes[has_base], bin_of_row[has_base]
    _, barcode_of_row = np.unique(codes.view(np.dtype((np.void, BARCODE_SITES))).ravel(), return_inverse=True)
    pairs = bin_of_row.astype(np.int64) * (int(barcode_of_row.max(initial=0)) + 1) + barcode_of_row.ravel()
    _, first = np.unique(pairs, return_index=True)  # sorted by BIN, then barcode
    kept_bins = np.unique(bin_of_row)
    starts = np.searchsorted(bin_of_row[first], np.append(kept_bins, len(names)))
    return BinBarcodes(names[kept_bins], specimens[kept_bins], codes[first], starts)


# --- within a BIN -------------------------------------------------------------------------------------------------


def _stacks(bin_numbers: np.ndarray, size: int) -> list[np.ndarray]:
    """BIN numbers in stacks of at most STACK_VALUES one-hot values."""
    per_stack = max(1, STACK_VALUES // (size * CHANNELS))
    return [bin_numbers[start : start + per_stack] for start in range(0, len(bin_numbers), per_stack)]


def max_within(barcodes: BinBarcodes, progress: bool = True) -> np.ndarray:
    """Per BIN, the largest p-distance between two of its distinct barcodes (exact, all pairs); 0 for a BIN of one
    barcode, NaN where no two share a site."""
    sizes, largest = barcodes.sizes, np.zeros(len(barcodes.sizes))
    small = np.unique(sizes[(sizes > 1) & (sizes <= BATCHED_BARCODES)])
    with _one_blas_thread():
        for size in tqdm(small, desc="BINs by size", leave=False, disable=not progress):
            for stack in _stacks(np.flatnonzero(sizes == size), int(size)):
                rows = barcodes.starts[stack][:, None] + np.arange(size)
                distances = _ratios(*mismatches_and_shared(barcodes.codes[rows], barcodes.codes[rows]), -np.inf)
                largest[stack] = distances.max(axis=(1, 2))
    for bin_number in np.flatnonzero(sizes > BATCHED_BARCODES):
        largest[bin_number] = _largest_distance(barcodes.members(bin_number))
    return np.where(np.isfinite(largest), largest, np.nan)


# --- the nearest other BIN ----------------------------------------------------------------------------------------


def consensus_reads(barcodes: BinBarcodes) -> np.ndarray:
    """(BINs, 660) uint8 base codes: per site the commonest ACGT base of the BIN's distinct barcodes (ties: A, C, G,
    T first), NO_BASE where none has one."""
    consensus = np.empty((len(barcodes.sizes), BARCODE_SITES), dtype=np.uint8)
    for block in _tiles(len(barcodes.sizes)):
        rows = slice(barcodes.starts[block.start], barcodes.starts[block.stop])
        offsets = barcodes.starts[block] - rows.start
        chunk = barcodes.codes[rows]
        counts = np.stack([np.add.reduceat(chunk == base, offsets, axis=0, dtype=np.int32) for base in range(4)])
        consensus[block] = np.where(counts.any(axis=0), counts.argmax(axis=0), NO_BASE)
    return consensus


def _largest(scores: np.ndarray, count: int) -> np.ndarray:
    """Per row, the columns of its `count` largest scores (in no order)."""
    return np.argpartition(scores, scores.shape[1] - count, axis=1)[:, scores.shape[1] - count :]


def _top_columns(scores: np.ndarray, count: int) -> np.ndarray:
    """Per row, the ascending columns of its `count` largest finite scores (-1 for too few), found in the `count` column
    groups of largest maxima: any other group's maximum is below theirs, so it holds none of them."""
    rows, width = scores.shape
    groups = -(-width // SCORE_GROUP)
    padded = np.full((rows, groups * SCORE_GROUP), -np.inf, dtype=scores.dtype)
    padded[:, :width] = scores
    if groups > count:
        best_groups = _largest(padded.reshape(rows, groups, SCORE_GROUP).max(axis=2), count)
        columns = (best_groups[:, :, None] * SCORE_GROUP + np.arange(SCORE_GROUP)).reshape(rows, -1)
    else:
        columns = np.broadcast_to(np.arange(padded.shape[1]), padded.shape)
    picked = np.take_along_axis(padded, columns, axis=1)
    best = _largest(picked, count)
    found = np.isfinite(np.take_along_axis(picked, best, axis=1))
    return np.sort(np.where(found, np.take_along_axis(columns, best, axis=1), -1), axis=1)


def candidate_bins(consensus: np.ndarray, count: int = CANDIDATE_BINS, progress: bool = True) -> np.ndarray:
    """(BINs, count) other BINs whose consensus k-mer profiles are the most cosine-similar to each BIN's (ascending
    BIN numbers; -1 where fewer exist). Dot products of integer k-mer counts are exact in float32, and each is scaled
    by the key's inverse length alone, so the choice is the same at any thread count."""
    counts = kmer_counts(consensus, CANDIDATE_KMER).astype(np.float32)
    lengths = np.sqrt(np.einsum("ij,ij->i", counts, counts, dtype=np.float64))
    scale = np.divide(1, lengths, out=np.zeros_like(lengths), where=lengths > 0).astype(np.float32)
    count = min(count, len(consensus) - 1)
    candidates = np.full((len(consensus), max(count, 0)), -1, dtype=np.int64)
    if count < 1:
        return candidates
    blocks = _tiles(len(consensus))
    for block in tqdm(blocks, desc="candidate BINs", unit="block", leave=False, disable=not progress):
        scores = (counts[block] @ counts.T) * scale
        scores[np.arange(len(scores)), np.arange(block.start, block.stop)] = -np.inf  # not its own candidate
        scores[:, lengths == 0] = -np.inf
        candidates[block] = np.where(lengths[block, None] > 0, _top_columns(scores, count), -1)
    return candidates


def nearest_other_bins(
    barcodes: BinBarcodes, candidates: np.ndarray, progress: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """Per BIN, the candidate BIN with the smallest p-distance between any of their distinct barcodes (ties: the lowest
    BIN number) and that distance; -1 and NaN where no candidate shares a site with it."""
    nearest, distance = np.full(len(candidates), -1, dtype=np.int64), np.full(len(candidates), np.nan)
    with _one_blas_thread():
        for bin_number in tqdm(range(len(candidates)), desc="nearest BINs", leave=False, disable=not progress):
            _nearest_candidate(barcodes, candidates[bin_number], bin_number, nearest, distance)
    return nearest, distance


def _nearest_candidate(
    barcodes: BinBarcodes, candidates: np.ndarray, bin_number: int, nearest: np.ndarray, distance: np.ndarray
) -> None:
    """Write one BIN's nearest candidate and distance into `nearest` and `distance` (see `nearest_other_bins`)."""
    others = candidates[candidates >= 0]
    if not len(others):
        return
    rows = np.concatenate([np.arange(barcodes.starts[other], barcodes.starts[other + 1]) for other in others])
    smallest = _smallest_per_column(barcodes.members(bin_number), barcodes.codes[rows])
    per_other = np.minimum.reduceat(smallest, np.cumsum(np.r_[0, barcodes.sizes[others][:-1]]))
    best = int(np.argmin(per_other))  # candidates are ascending, so a tie goes to the lowest BIN
    if np.isfinite(per_other[best]):
        nearest[bin_number], distance[bin_number] = others[best], per_other[best]


# --- the barcode gap ----------------------------------------------------------------------------------------------


def barcode_gap(frame: pd.DataFrame, progress: bool = True) -> pd.DataFrame:
    """Per BIN with a barcode: specimens, distinct barcodes, the largest p-distance within it (exact), the nearest other
    BIN and the smallest p-distance to it (exact over both BINs' distinct barcodes, among the CANDIDATE_BINS BINs of
    most similar consensus k-mer profile), the gap between them, and each beside BOLD's 2.2 %."""
    barcodes = bin_barcodes(frame)
    within = max_within(barcodes, progress)
    candidates = candidate_bins(consensus_reads(barcodes), progress=progress)
    nearest, distance = nearest_other_bins(barcodes, candidates, progress)
    return gap_table(barcodes, within, nearest, distance)


def gap_table(barcodes: BinBarcodes, within: np.ndarray, nearest: np.ndarray, distance: np.ndarray) -> pd.DataFrame:
    """The barcode-gap table from its parts (see `barcode_gap`)."""
    return pd.DataFrame(
        {
            "bin": barcodes.names,
            "specimens": barcodes.specimens,
            "distinct_barcodes": barcodes.sizes,
            "max_within": within,
            "nearest_bin": np.where(nearest >= 0, barcodes.names[nearest], None),
            "nearest_distance": distance,
            "gap": distance - within,
            "within_under_threshold": within < BOLD_BIN_THRESHOLD,
            "nearest_over_threshold": distance > BOLD_BIN_THRESHOLD,
        }
    )


def barcode_gap_summary(gap: pd.DataFrame) -> pd.DataFrame:
    """One row: BINs, the shares with a positive gap, with max_within under 2.2 % and with the nearest BIN over it,
    and the medians of max_within, nearest_distance and gap."""
    return pd.DataFrame(
        [
            {
                "bins": len(gap),
                "positive_gap": float((gap["gap"] > 0).mean()),
                "within_under_threshold": float(gap["within_under_threshold"].mean()),
                "nearest_over_threshold": float(gap["nearest_over_threshold"].mean()),
                "median_max_within": gap["max_within"].median(),
                "median_nearest_distance": gap["nearest_distance"].median(),
                "median_gap": gap["gap"].median(),
            }
        ]
    )


def barcode_gap_figure(gap: pd.DataFrame) -> Figure:
    """Largest distance within each BIN against the distance to its nearest BIN (percent), BOLD's 2.2 % and y = x."""
    figure, axis = plt.subplots(figsize=(6, 5.5))
    within, nearest = 100 * gap["max_within"], 100 * gap["nearest_distance"]
    positive = (gap["gap"] > 0).to_numpy()
    axis.scatter(within[positive], nearest[positive], s=4, alpha=0.5, color="tab:blue", label="gap > 0")
    axis.scatter(within[~positive], nearest[~positive], s=4, alpha=0.5, color="tab:red", label="no gap")
    threshold = 100 * BOLD_BIN_THRESHOLD
    right = 1.2 * max(float(np.nanmax(within.to_numpy(), initial=0)), threshold)  # within-BIN distances are small
    top = 1.05 * max(float(np.nanmax(nearest.to_numpy(), initial=0)), right)
    axis.plot([0, right], [0, right], color="grey", linewidth=1, label="y = x")
    axis.axvline(threshold, color="black", linestyle="--", linewidth=1, label=f"BOLD {threshold:.1f} %")
    axis.axhline(threshold, color="black", linestyle="--", linewidth=1)
    axis.set_xlim(0, right)
    axis.set_ylim(0, top)
    axis.set_xlabel("largest p-distance within the BIN (%)")
    axis.set_ylabel("p-distance to the nearest other BIN (%)")
    axis.set_title(f"Barcode gap: {int(positive.sum()):,} of {len(gap):,} BINs above the diagonal")
    axis.legend(loc="upper right", framealpha=0.9, markerscale=3)
    figure.tight_layout()
    return figure


# --- the BIN as a classifier target -------------------------------------------------------------------------------


def bin_retrieval(train: pd.DataFrame, test: pd.DataFrame, k: int, progress: bool = True) -> pd.DataFrame:
    """1-NN BIN accuracy (micro and macro) of the test barcodes whose BIN occurs in training, by cosine k-mer profile
    among the training barcodes, beside always answering the commonest training BIN."""
    for frame in (train, test):
        require_columns(frame, BIN_COLUMN, BARCODE_COLUMN)
    keys = train[labelled(train[BIN_COLUMN]).to_numpy()]
    seen = test[BIN_COLUMN].astype(str).isin(set(keys[BIN_COLUMN].astype(str))).to_numpy()
    queries = test[seen & labelled(test[BIN_COLUMN]).to_numpy()]
    key_labels, query_labels = (rows[[BIN_COLUMN]].astype(str) for rows in (keys, queries))
    nearest = nearest_keys(features(queries[BARCODE_COLUMN], k), features(keys[BARCODE_COLUMN], k), progress=progress)
    table = pd.concat(
        {
            f"{k}-mer 1-NN": retrieval_accuracy(query_labels, key_labels, nearest, [BIN_COLUMN]),
            "majority": majority_accuracy(query_labels, key_labels, [BIN_COLUMN]),
        },
        names=["method"],
    )
    return table.reset_index()
