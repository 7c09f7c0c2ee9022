"""BINs beside species: how many named species each BIN holds, the barcode gap of each BIN (largest distance within
it against the distance to the nearest other BIN), and the BIN as a 1-NN classifier target.

Distances are uncorrected p-distances between reads compared site by site from their first base, as aligned COI-5P
reads are: mismatching sites over the sites where both reads have an ACGT base. They are ratios of integer counts,
counted exactly (float32 products of 0/1 values, exact below 2**24, or bit counts of packed reads), so the tables
are the same on every machine and at any thread count.
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
from bioscan_lib.data.barcodes import BARCODE_SITES, BASES, NO_BASE, base_codes
from bioscan_lib.data.bioscan1m import BARCODE_COLUMN, BIN_COLUMN, PARENT_RANKS
from bioscan_lib.data.metadata import labelled
from bioscan_lib.dna.kmer import features

BOLD_BIN_THRESHOLD = 0.022  # BOLD proposes BINs at about 2.2 % uncorrected distance
SPECIES_COLUMN = "species"
CANDIDATE_BINS = 8  # other BINs searched exactly for each BIN's nearest: those of nearest consensus read
SEARCH_RANKS = (PARENT_RANKS["family"], "family")  # the nearest other BIN is sought in the BIN's family, else order
TIE_STEP = 1e-13  # per BIN number, added to consensus distances to order ties (under 1e-7 for a million BINs)
MEMBER_PAIRS = 1 << 19  # barcode pairs compared at once by bit counts (about 0.5 GB); larger BIN pairs are tiled
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


# --- distinct barcodes per BIN ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BinBarcodes:
    """The distinct barcodes of each BIN: BIN names (sorted), specimens per BIN, the barcodes' base codes grouped by
    BIN (BIN i's are rows starts[i]:starts[i + 1]), and each BIN's commonest named order and family as codes (-1 for
    none), which bound the search for its nearest other BIN."""

    names: np.ndarray
    specimens: np.ndarray
    codes: np.ndarray
    starts: np.ndarray
    order: np.ndarray
    family: np.ndarray

    @property
    def sizes(self) -> np.ndarray:
        """Distinct barcodes per BIN."""
        return np.diff(self.starts)

    def members(self, bin_number: int) -> np.ndarray:
        return self.codes[self.starts[bin_number] : self.starts[bin_number + 1]]


def _commonest_named(frame: pd.DataFrame, column: str, bin_of_row: np.ndarray, bins: int) -> np.ndarray:
    """Per BIN, the code of the commonest named value of `column` among its rows (ties: the first name in sorted
    order); -1 where none is named or the frame has no such column."""
    commonest = np.full(bins, -1, dtype=np.int64)
    if column not in frame.columns:
        return commonest
    values = frame[column].astype("string")
    codes, _ = pd.factorize(values.where(labelled(frame[column])), sort=True)
    named = codes >= 0
    counts = pd.DataFrame({"bin": bin_of_row[named], "code": codes[named]}).value_counts().rename("rows").reset_index()
    first = counts.sort_values(["bin", "rows", "code"], ascending=[True, False, True]).drop_duplicates("bin")
    commonest[first["bin"].to_numpy()] = first["code"].to_numpy()
    return commonest


def bin_barcodes(frame: pd.DataFrame) -> BinBarcodes:
    """The distinct barcodes (by base codes) of every BIN with a read holding an ACGT base, with its order and family
    where the frame names them; rows without a BIN and reads without a base are left out (a BIN's `specimens`
    counts all its rows)."""
    require_columns(frame, BIN_COLUMN, BARCODE_COLUMN)
    with_bin = labelled(frame[BIN_COLUMN]).to_numpy()
    bins = frame[BIN_COLUMN][with_bin].astype(str).to_numpy()
    names, bin_of_row, specimens = np.unique(bins, return_inverse=True, return_counts=True)
    order, family = (_commonest_named(frame[with_bin], rank, bin_of_row, len(names)) for rank in SEARCH_RANKS)
    codes = base_codes(frame[BARCODE_COLUMN][with_bin])
    has_base = (codes < NO_BASE).any(axis=1)
    codes, bin_of_row = codes[has_base], bin_of_row[has_base]
    _, barcode_of_row = np.unique(codes.view(np.dtype((np.void, BARCODE_SITES))).ravel(), return_inverse=True)
    pairs = bin_of_row.astype(np.int64) * (int(barcode_of_row.max(initial=0)) + 1) + barcode_of_row.ravel()
    _, first = np.unique(pairs, return_index=True)  # sorted by BIN, then barcode
    kept = np.unique(bin_of_row)
    starts = np.searchsorted(bin_of_row[first], np.append(kept, len(names)))
    return BinBarcodes(names[kept], specimens[kept], codes[first], starts, order[kept], family[kept])


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


# --- candidates for the nearest other BIN: consensus reads within the family ----------------------------------------


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


def search_groups(barcodes: BinBarcodes) -> list[tuple[np.ndarray, np.ndarray]]:
    """(query BINs, key BINs) pairs covering every BIN once as a query: a named family's BINs search that family and
    the BINs of their order with no family; a BIN with no family searches its whole order; BINs with no order, and
    every BIN of them, are searched by all. Any pair of BINs is compared both ways or not at all."""
    no_order = np.flatnonzero(barcodes.order < 0)
    groups = [(no_order, np.arange(len(barcodes.order)))] if len(no_order) else []
    for order in np.unique(barcodes.order[barcodes.order >= 0]):
        in_order = barcodes.order == order
        no_family = np.flatnonzero(in_order & (barcodes.family < 0))
        if len(no_family):
            groups.append((no_family, np.union1d(np.flatnonzero(in_order), no_order)))
        for family in np.unique(barcodes.family[in_order & (barcodes.family >= 0)]):
            members = np.flatnonzero(in_order & (barcodes.family == family))
            groups.append((members, np.union1d(np.union1d(members, no_family), no_order)))
    return groups


def _closest(distances: np.ndarray, keys: np.ndarray, count: int) -> tuple[np.ndarray, np.ndarray]:
    """Per row, the `count` keys (BIN numbers, -1 for none) of smallest distance, ties to the lowest BIN, and their
    distances; -1 and inf where fewer share a site. Distances are ratios of site counts under 2**10, over 2e-6 apart
    when they differ, so adding TIE_STEP per BIN number orders ties and nothing else."""
    ordered = np.where(keys >= 0, distances, np.inf) + np.maximum(keys, 0) * TIE_STEP
    best = np.argpartition(ordered, count - 1, axis=1)[:, :count]
    chosen, chosen_keys = np.take_along_axis(distances, best, 1), np.take_along_axis(keys, best, 1)
    found = np.isfinite(chosen) & (chosen_keys >= 0)
    return np.where(found, chosen_keys, -1), np.where(found, chosen, np.inf)


def _group_candidates(consensus: np.ndarray, queries: np.ndarray, keys: np.ndarray, count: int) -> np.ndarray:
    """(queries, count) nearest keys by consensus p-distance for one search group, tile by tile."""
    candidates = np.full((len(queries), count), -1, dtype=np.int64)
    distances = np.full((len(queries), count), np.inf)
    for rows in _tiles(len(queries)):
        for columns in _tiles(len(keys)):
            tile = _ratios(*mismatches_and_shared(consensus[queries[rows]], consensus[keys[columns]]), np.inf)
            tile[queries[rows][:, None] == keys[columns]] = np.inf  # not its own candidate
            tile_keys = np.broadcast_to(keys[columns], tile.shape)
            candidates[rows], distances[rows] = _closest(
                np.hstack([distances[rows], tile]), np.hstack([candidates[rows], tile_keys]), count
            )
    return candidates


def candidate_bins(
    barcodes: BinBarcodes, consensus: np.ndarray, count: int = CANDIDATE_BINS, progress: bool = True
) -> np.ndarray:
    """(BINs, count) per BIN the other BINs of its search group (`search_groups`) whose consensus reads are nearest
    by exact p-distance (ties: the lowest BIN), in ascending order, -1 first where fewer share a site."""
    candidates = np.full((len(consensus), count), -1, dtype=np.int64)
    groups = search_groups(barcodes)
    with tqdm(total=len(consensus), desc="candidate BINs", unit="BIN", leave=False, disable=not progress) as bar:
        for queries, keys in groups:
            candidates[queries] = _group_candidates(consensus, queries, keys, count)
            bar.update(len(queries))
    return np.sort(candidates, axis=1)


# --- the nearest other BIN: exact over the candidates' distinct barcodes ----------------------------------------


@dataclass(frozen=True)
class PackedReads:
    """Reads as bits in uint64 words: a bit per site and ACGT base, and a bit per site holding one."""

    bases: np.ndarray
    covered: np.ndarray


def packed_reads(codes: np.ndarray) -> PackedReads:
    """Base-code reads packed as bits, BLOCK_ROWS reads at a time (the one-hot of all would not fit)."""

    def words(bits: np.ndarray) -> np.ndarray:
        packed = np.packbits(bits, axis=1)
        padded = np.zeros((len(packed), -(-packed.shape[1] // 8) * 8), dtype=np.uint8)
        padded[:, : packed.shape[1]] = packed
        return padded.view(np.uint64)

    blocks = [(words(_one_hot(codes[rows]) > 0), words(codes[rows] < NO_BASE)) for rows in _tiles(len(codes))]
    blocks = blocks or [(words(np.zeros((0, CHANNELS), bool)), words(np.zeros((0, BARCODE_SITES), bool)))]
    return PackedReads(*(np.concatenate(part) for part in zip(*blocks)))


def _packed_distances(reads: PackedReads, first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """p-distances of the read pairs (first[i], second[i]), exact from bit counts; inf where they share no site."""
    matching = np.bitwise_count(reads.bases[first] & reads.bases[second]).sum(axis=1, dtype=np.int32)
    shared = np.bitwise_count(reads.covered[first] & reads.covered[second]).sum(axis=1, dtype=np.int32)
    return _ratios(shared - matching, shared, np.inf)


def _candidate_pairs(candidates: np.ndarray) -> np.ndarray:
    """(pairs, 2) the distinct unordered pairs of a BIN and one of its candidates, lower BIN first, sorted."""
    pairs = np.column_stack([np.repeat(np.arange(len(candidates)), candidates.shape[1]), candidates.ravel()])
    pairs = np.sort(pairs[pairs[:, 1] >= 0], axis=1)
    return np.unique(pairs, axis=0)


def _chunks(work: np.ndarray, limit: int) -> list[slice]:
    """Consecutive slices of items whose `work` sums to at most `limit` (an item over it alone)."""
    edges, start, total = [], 0, 0
    for index, amount in enumerate(work.tolist()):
        if index > start and total + amount > limit:
            edges.append(slice(start, index))
            start, total = index, 0
        total += amount
    return [*edges, slice(start, len(work))] if len(work) else []


def _closest_members(barcodes: BinBarcodes, reads: PackedReads, pairs: np.ndarray) -> np.ndarray:
    """Per pair of BINs (rows of `pairs`, at most MEMBER_PAIRS barcode pairs in all), the smallest p-distance between
    a barcode of one and a barcode of the other."""
    sizes_first, sizes_second = barcodes.sizes[pairs[:, 0]], barcodes.sizes[pairs[:, 1]]
    work = sizes_first * sizes_second
    offsets = np.concatenate([[0], np.cumsum(work)[:-1]])
    pair_of = np.repeat(np.arange(len(pairs)), work)
    within = np.arange(int(work.sum())) - offsets[pair_of]
    first = barcodes.starts[pairs[pair_of, 0]] + within // sizes_second[pair_of]
    second = barcodes.starts[pairs[pair_of, 1]] + within % sizes_second[pair_of]
    return np.minimum.reduceat(_packed_distances(reads, first, second), offsets)


def _closest_large(barcodes: BinBarcodes, first: int, second: int) -> float:
    """The smallest p-distance between the barcodes of two BINs too large to pair member by member, tile by tile."""
    a, b, smallest = barcodes.members(first), barcodes.members(second), np.inf
    for rows in _tiles(len(a)):
        for columns in _tiles(len(b)):
            smallest = min(smallest, _ratios(*mismatches_and_shared(a[rows], b[columns]), np.inf).min())
    return smallest


def pair_distances(barcodes: BinBarcodes, pairs: np.ndarray, progress: bool = True) -> np.ndarray:
    """Per pair of BINs, the smallest p-distance between their distinct barcodes (exact; inf where none share a site):
    bit counts over packed reads in chunks of MEMBER_PAIRS barcode pairs, matrix products for larger pairs."""
    reads = packed_reads(barcodes.codes)
    work = barcodes.sizes[pairs[:, 0]] * barcodes.sizes[pairs[:, 1]] if len(pairs) else np.zeros(0, np.int64)
    distances = np.full(len(pairs), np.inf)
    large = np.flatnonzero(work > MEMBER_PAIRS)
    small = np.flatnonzero(work <= MEMBER_PAIRS)
    with _one_blas_thread():
        for pair in tqdm(large, desc="large BIN pairs", leave=False, disable=not progress or not len(large)):
            distances[pair] = _closest_large(barcodes, *pairs[pair])
        for chunk in tqdm(_chunks(work[small], MEMBER_PAIRS), desc="BIN pairs", leave=False, disable=not progress):
            distances[small[chunk]] = _closest_members(barcodes, reads, pairs[small[chunk]])
    return distances


def nearest_other_bins(
    barcodes: BinBarcodes, candidates: np.ndarray, progress: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """Per BIN, of its candidates and the BINs that have it as one, the BIN with the smallest p-distance between any
    of their distinct barcodes (ties: the lowest BIN number) and that distance; -1 and NaN where none shares a site."""
    pairs = _candidate_pairs(candidates)
    distances = pair_distances(barcodes, pairs, progress)
    found = np.isfinite(distances)
    bins, others = np.concatenate([pairs[found], pairs[found][:, ::-1]]).T
    both = np.concatenate([distances[found]] * 2)
    order = np.lexsort((others, both, bins))
    first = order[np.unique(bins[order], return_index=True)[1]]
    nearest, distance = np.full(len(candidates), -1, dtype=np.int64), np.full(len(candidates), np.nan)
    nearest[bins[first]], distance[bins[first]] = others[first], both[first]
    return nearest, distance


# --- the barcode gap ----------------------------------------------------------------------------------------------


def barcode_gap(frame: pd.DataFrame, progress: bool = True) -> pd.DataFrame:
    """Per BIN with a barcode: specimens, distinct barcodes, the largest p-distance within it (exact), the nearest other
    BIN and the smallest p-distance to it (exact over both BINs' distinct barcodes, among the CANDIDATE_BINS BINs of
    its family with the nearest consensus reads), the gap between them, and each beside BOLD's 2.2 %."""
    barcodes = bin_barcodes(frame)
    within = max_within(barcodes, progress)
    candidates = candidate_bins(barcodes, consensus_reads(barcodes), progress=progress)
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
