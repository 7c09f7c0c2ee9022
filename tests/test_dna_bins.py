"""BINs and species: concordance counts on a hand-made frame, exact p-distances of hand-built reads, the candidate
search against brute force, the BIN as a 1-NN target, and the barcode gap of the sample."""

from __future__ import annotations

import matplotlib
import numpy as np
import pandas as pd
import pytest

from bioscan_lib.data.barcodes import BARCODE_SITES, base_codes
from bioscan_lib.data.bioscan1m import BARCODE_COLUMN, BIN_COLUMN, NOT_CLASSIFIED
from bioscan_lib.dna import bins
from bioscan_lib.sample.release import synthetic_metadata

matplotlib.use("Agg")

BASE = "ACGT" * 165  # 660 sites
# measured on synthetic_metadata(600, seed=1): every one of its 179 BINs is within 2.2 % and has a positive gap
SAMPLE_FLOORS = {"within_under_threshold": 0.95, "positive_gap": 0.9, "nearest_over_threshold": 0.9}


def substituted(read: str, sites: list[int]) -> str:
    """`read` with the base at each of `sites` replaced by the next base of ACGT."""
    bases = list(read)
    for site in sites:
        bases[site] = "ACGT"["ACGT".index(bases[site]) - 3]
    return "".join(bases)


def frame(reads: list[str], bin_names: list[str], species: list[str] | None = None) -> pd.DataFrame:
    columns = {BARCODE_COLUMN: reads, BIN_COLUMN: bin_names}
    return pd.DataFrame(columns | ({"species": species} if species else {}))


def test_concordance_counts_species_per_bin_and_bins_per_species() -> None:
    rows = frame(
        ["A"] * 7,
        ["B1", "B1", "B1", "B2", "B3", "B3", NOT_CLASSIFIED],
        ["s1", "s1", "s2", "s3", "s3", NOT_CLASSIFIED, "s1"],
    )
    per_bin = bins.bin_species(rows).set_index("bin")
    assert per_bin["species"].to_dict() == {"B1": 2, "B2": 1, "B3": 1}
    assert per_bin.loc["B1", "commonest_species"] == "s1" and per_bin.loc["B1", "commonest_share"] == pytest.approx(
        2 / 3
    )
    assert bins.species_bins(rows).set_index("species")["bins"].to_dict() == {"s1": 1, "s2": 1, "s3": 2}
    summary = bins.bin_species_summary(rows).set_index("group")
    assert summary["count"].tolist() == [2, 1, 2, 1]
    assert summary["share"].tolist() == pytest.approx([2 / 3, 1 / 3, 2 / 3, 1 / 3])


def test_p_distance_counts_only_sites_both_reads_cover() -> None:
    other = substituted(BASE, [0, 10, 20])
    with_ns = "N" * 10 + other[10:400]  # sites 0-9 unread, the read ends at 400: 390 shared sites, 2 mismatching
    codes = base_codes(pd.Series([BASE, other, with_ns, "N" * 50]))
    distances = bins.p_distances(codes, codes)
    assert distances[0, 1] == 3 / BARCODE_SITES
    assert distances[0, 2] == 2 / 390
    assert distances[1, 2] == 0.0
    assert np.isnan(distances[0, 3]) and np.isnan(distances[3, 3])


def two_bins() -> pd.DataFrame:
    """BIN X: the base read, one with 2 and one with 5 substitutions (5 apart at most from the base, 7 between the
    two); BIN Y: 30 substitutions from the base (sites 100-129), and a copy of it; BIN Z: one barcode, twice."""
    far = substituted(BASE, list(range(100, 130)))
    reads = [BASE, substituted(BASE, [1, 2]), substituted(BASE, [3, 4, 5, 6, 7]), far, far, BASE[:300], BASE[:300]]
    return frame(reads, ["X", "X", "X", "Y", "Y", "Z", "Z"])


def test_barcode_gap_of_hand_built_bins() -> None:
    gap = bins.barcode_gap(two_bins(), progress=False).set_index("bin")
    assert gap["specimens"].tolist() == [3, 2, 2] and gap["distinct_barcodes"].tolist() == [3, 1, 1]
    assert gap["max_within"].tolist() == [7 / BARCODE_SITES, 0.0, 0.0]
    assert gap.loc["X", "nearest_bin"] == "Z" and gap.loc["X", "nearest_distance"] == 0.0  # Z is X's first 300 sites
    assert gap.loc["Y", "nearest_bin"] == "X" and gap.loc["Y", "nearest_distance"] == 30 / BARCODE_SITES
    assert gap.loc["Y", "gap"] == 30 / BARCODE_SITES and gap.loc["Y", "within_under_threshold"]
    assert gap.loc["Y", "nearest_over_threshold"] and not gap.loc["X", "nearest_over_threshold"]


@pytest.mark.parametrize("rows", [frame(["NNNN"], ["X"]), frame(["ACGT"], [NOT_CLASSIFIED]), frame([], [])])
def test_no_read_with_a_base_gives_an_empty_table(rows: pd.DataFrame) -> None:
    gap = bins.barcode_gap(rows, progress=False)
    assert gap.empty and list(gap.columns) == list(bins.barcode_gap(two_bins(), progress=False).columns)


def test_large_bins_are_tiled_and_stacked_alike(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(3)
    reads = ["".join(substituted(BASE, list(rng.choice(660, 8, replace=False)))) for _ in range(40)]
    barcodes = bins.bin_barcodes(frame(reads, ["X"] * 40))
    stacked = bins.max_within(barcodes, progress=False)
    monkeypatch.setattr(bins, "BATCHED_BARCODES", 4)
    monkeypatch.setattr(bins, "BLOCK_ROWS", 7)
    assert bins.max_within(barcodes, progress=False).tolist() == stacked.tolist()
    brute = bins.p_distances(barcodes.codes, barcodes.codes).max()
    assert stacked[0] == brute


def random_bins(count: int, per_bin: int, seed: int) -> pd.DataFrame:
    """Sister BINs in pairs: each pair's ancestor 8 % from a random root, each BIN's 1 % from it, each member 0.3 %
    from its BIN's (an answer for brute force to check)."""
    rng = np.random.default_rng(seed)

    def changed(read: np.ndarray, share: float) -> np.ndarray:
        return np.where(rng.random(BARCODE_SITES) < share, rng.integers(0, 4, BARCODE_SITES), read)

    root, reads, names = rng.integers(0, 4, BARCODE_SITES), [], []
    pairs = [changed(root, 0.08) for _ in range(-(-count // 2))]
    for number in range(count):
        ancestor = changed(pairs[number // 2], 0.01)
        for _ in range(per_bin):
            reads.append("".join(np.array(list("ACGT"))[changed(ancestor, 0.003)]))
            names.append(f"BIN{number:03d}")
    return frame(reads, names)


def brute_nearest(barcodes: bins.BinBarcodes) -> tuple[np.ndarray, np.ndarray]:
    """Every BIN's nearest other BIN and distance over all pairs of barcodes."""
    distances = np.where(np.isnan(d := bins.p_distances(barcodes.codes, barcodes.codes)), np.inf, d)
    per_bin = np.minimum.reduceat(np.minimum.reduceat(distances, barcodes.starts[:-1], axis=0), barcodes.starts[:-1], 1)
    np.fill_diagonal(per_bin, np.inf)
    return per_bin.argmin(axis=1), per_bin.min(axis=1)


def test_candidate_search_finds_the_true_nearest_bin() -> None:
    barcodes = bins.bin_barcodes(random_bins(200, 3, seed=5))
    candidates = bins.candidate_bins(barcodes, bins.consensus_reads(barcodes), progress=False)
    nearest, distance = bins.nearest_other_bins(barcodes, candidates, progress=False)
    true_nearest, true_distance = brute_nearest(barcodes)
    assert (candidates >= 0).all() and (np.diff(candidates, axis=1) > 0).all()
    assert (distance >= true_distance).all()
    assert np.mean(nearest == true_nearest) >= 0.99 and np.mean(distance == true_distance) >= 0.99


def test_candidates_are_the_nearest_consensus_reads_whatever_the_tiling(monkeypatch: pytest.MonkeyPatch) -> None:
    barcodes = bins.bin_barcodes(random_bins(60, 2, seed=4))
    consensus = bins.consensus_reads(barcodes)
    distances = bins.p_distances(consensus, consensus)
    np.fill_diagonal(distances, np.inf)
    expected = np.sort(np.lexsort((np.arange(60)[None, :].repeat(60, 0), distances), axis=1)[:, :8], axis=1)
    for rows in (1024, 7):
        monkeypatch.setattr(bins, "BLOCK_ROWS", rows)
        assert (bins.candidate_bins(barcodes, consensus, progress=False) == expected).all()


def test_ties_go_to_the_lowest_bin() -> None:
    reads = [BASE, substituted(BASE, [5]), substituted(BASE, [9]), substituted(BASE, [20])]
    barcodes = bins.bin_barcodes(frame(reads, ["W", "X", "Y", "Z"]))  # X, Y and Z are each one site from W
    candidates = bins.candidate_bins(barcodes, bins.consensus_reads(barcodes), count=2, progress=False)
    assert candidates[0].tolist() == [1, 2]
    assert bins.nearest_other_bins(barcodes, candidates, progress=False)[0].tolist() == [1, 0, 0, 0]


def test_the_search_stays_within_a_family_and_a_bin_without_one_searches_its_order() -> None:
    reads = [BASE, substituted(BASE, [1]), substituted(BASE, [2]), substituted(BASE, [3]), substituted(BASE, [4])]
    rows = frame(reads, ["A", "B", "C", "D", "E"]).assign(
        order=["O1", "O1", "O1", "O2", NOT_CLASSIFIED], family=["F1", "F2", NOT_CLASSIFIED, "F3", NOT_CLASSIFIED]
    )
    groups = {tuple(queries): set(keys) for queries, keys in bins.search_groups(bins.bin_barcodes(rows))}
    # A and B are in other families of O1: each searches its own, C (no family in O1) and E (no order)
    assert groups == {(4,): {0, 1, 2, 3, 4}, (2,): {0, 1, 2, 4}, (0,): {0, 2, 4}, (1,): {1, 2, 4}, (3,): {3, 4}}
    gap = bins.barcode_gap(rows, progress=False).set_index("bin")
    assert gap["nearest_bin"].tolist() == ["C", "C", "A", "E", "A"]


def test_packed_bit_counts_equal_the_matrix_products(monkeypatch: pytest.MonkeyPatch) -> None:
    barcodes = bins.bin_barcodes(random_bins(40, 4, seed=6).assign(nucraw=lambda rows: rows["nucraw"].str[:-30]))
    pairs = np.array([[first, second] for first in range(40) for second in range(first + 1, 40)])
    expected = [bins.p_distances(barcodes.members(a), barcodes.members(b)).min() for a, b in pairs]
    assert bins.pair_distances(barcodes, pairs, progress=False).tolist() == expected
    monkeypatch.setattr(bins, "MEMBER_PAIRS", 10)  # every pair of 4 x 4 barcodes through the tiled products
    assert bins.pair_distances(barcodes, pairs, progress=False).tolist() == expected


def test_the_same_input_gives_the_same_table() -> None:
    rows = random_bins(60, 4, seed=6)
    first, second = (bins.barcode_gap(rows, progress=False) for _ in range(2))
    pd.testing.assert_frame_equal(first, second)


def test_identical_reads_find_their_bin_and_beat_the_majority() -> None:
    rows = random_bins(20, 3, seed=7)
    rows = frame([*rows[BARCODE_COLUMN], *rows[BARCODE_COLUMN][:3]], [*rows[BIN_COLUMN], *rows[BIN_COLUMN][:3]])
    table = bins.bin_retrieval(rows, rows.iloc[::2], k=4, progress=False).set_index("method")
    assert table.loc["4-mer 1-NN", "micro"] == 1.0 and table.loc["4-mer 1-NN", "macro"] == 1.0
    assert table.loc["majority", "micro"] < 0.2


def test_test_bins_absent_from_training_are_left_out() -> None:
    rows = random_bins(4, 2, seed=8)
    test = frame([*rows[BARCODE_COLUMN], BASE], [*rows[BIN_COLUMN], "NEW"])
    assert bins.bin_retrieval(rows, test, k=3, progress=False)["queries"].tolist() == [8, 8]


@pytest.mark.parametrize("column", [BIN_COLUMN, BARCODE_COLUMN])
def test_a_missing_column_is_named(column: str) -> None:
    rows = two_bins().drop(columns=column)
    with pytest.raises(ValueError, match=f"no '{column}' column") as error:
        bins.barcode_gap(rows)
    assert "\n" not in str(error.value) and "read_metadata" in str(error.value)


def test_the_samples_bins_are_within_bolds_threshold_and_apart_from_their_neighbours() -> None:
    gap = bins.barcode_gap(synthetic_metadata(600, 1), progress=False)
    summary = bins.barcode_gap_summary(gap).iloc[0]
    assert summary["bins"] > 100
    for column, floor in SAMPLE_FLOORS.items():
        assert summary[column] >= floor, column
    assert summary["median_max_within"] < bins.BOLD_BIN_THRESHOLD < summary["median_nearest_distance"]
    figure = bins.barcode_gap_figure(gap)
    assert len(figure.axes[0].collections) == 2
