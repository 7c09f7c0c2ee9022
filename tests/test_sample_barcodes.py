"""The sample's barcodes evolve down its taxonomy: distances rise from BIN to order, with a barcode gap."""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd
import pytest

from bioscan_lib.config import DEFAULT_SEED
from bioscan_lib.data import barcodes
from bioscan_lib.data.bioscan1m import NOT_CLASSIFIED
from bioscan_lib.sample import DEFAULT_RECORDS
from bioscan_lib.sample.barcodes import (
    AMBIGUOUS_SHARE,
    BARCODE_LENGTH,
    BASES,
    CODON_POSITION_RATES,
    FAILED_SHARE,
    LOWER_CASE_SHARE,
)
from bioscan_lib.sample.release import synthetic_metadata

SHORTEST_READ = 400  # every sample read covers these sites
SAMPLE_BARCODES_SHA256 = "a6e77d40c90bf694ee12fbf1c916e82d81e6aff89794a41a81bddfbf29aac987"


@pytest.fixture(scope="module")
def sample() -> pd.DataFrame:
    return synthetic_metadata(DEFAULT_RECORDS, DEFAULT_SEED)


@pytest.fixture(scope="module")
def distances(sample: pd.DataFrame) -> np.ndarray:
    """Uncorrected pairwise distances over the first 658 sites, counting only sites where both reads have a base."""
    reads = np.array(
        [list(r[:BARCODE_LENGTH].upper().ljust(BARCODE_LENGTH, "N")) for r in sample["nucraw"].astype(str)]
    )
    onehot = np.stack([reads == base for base in "ACGT"], axis=2).astype(np.float32)
    flat = onehot.reshape(len(reads), -1)
    present = onehot.sum(axis=2)
    distances = 1 - (flat @ flat.T) / np.maximum(present @ present.T, 1)
    failed = present.sum(axis=1) < SHORTEST_READ / 2  # failed reads (only Ns) are left out, as any analysis does
    distances[failed, :] = distances[:, failed] = np.nan
    return distances


def _pairs(sample: pd.DataFrame, distances: np.ndarray) -> dict[str, np.ndarray]:
    """Distances of pairs related at each rank: same BIN, congeneric species, confamilial genera, other orders."""
    upper = np.triu_indices(len(sample), 1)
    labels = {c: sample[c].astype(str).to_numpy() for c in ("uri", "species", "genus", "family", "order")}
    same = {c: v[upper[0]] == v[upper[1]] for c, v in labels.items()}
    known = {c: (v[upper[0]] != NOT_CLASSIFIED) & (v[upper[1]] != NOT_CLASSIFIED) for c, v in labels.items()}
    values = distances[upper]
    pairs = {
        "bin": same["uri"],
        "species": known["species"] & ~same["species"] & same["genus"] & known["genus"],
        "genus": known["genus"] & ~same["genus"] & same["family"] & known["family"],
        "order": ~same["order"],
    }
    return {rank: values[chosen & ~np.isnan(values)] for rank, chosen in pairs.items()}


def test_distances_rise_from_bin_to_order_in_the_ranges_of_insect_coi(
    sample: pd.DataFrame, distances: np.ndarray
) -> None:
    pairs = _pairs(sample, distances)
    medians = {rank: float(np.median(values)) for rank, values in pairs.items()}
    assert all(len(values) > 20 for values in pairs.values()), {rank: len(v) for rank, v in pairs.items()}
    assert np.percentile(pairs["bin"], 99) < 0.02
    assert 0.04 <= medians["species"] <= 0.12
    assert 0.12 <= medians["genus"] <= 0.20
    assert 0.20 <= medians["order"] <= 0.30
    assert list(medians.values()) == sorted(medians.values())


def test_most_bins_have_a_barcode_gap(sample: pd.DataFrame, distances: np.ndarray) -> None:
    """The largest distance inside a BIN is below the distance to the nearest specimen of another BIN."""
    read = ~np.isnan(distances).all(axis=1)
    codes = np.where(read, pd.factorize(sample["uri"])[0], -1)
    gaps = [
        np.nanmax(distances[np.ix_(codes == b, codes == b)]) < np.nanmin(distances[np.ix_(codes == b, codes != b)])
        for b in np.flatnonzero(np.bincount(codes[read]) > 1)
    ]
    assert len(gaps) > 100 and np.mean(gaps) > 0.95


def test_every_bin_nests_in_its_rows_labels(sample: pd.DataFrame) -> None:
    by_bin = sample.groupby("uri", observed=True)
    for rank in ("order", "family", "genus", "species"):
        assert (by_bin[rank].nunique() == 1).all(), rank


def test_composition_is_at_rich_and_third_codon_positions_vary_most(sample: pd.DataFrame) -> None:
    reads = np.array(
        [np.frombuffer(r[:SHORTEST_READ].upper().encode(), np.uint8) for r in sample["nucraw"].astype(str)]
    )
    bases = np.isin(reads, BASES)
    at = np.isin(reads, np.frombuffer(b"AT", np.uint8)).sum() / bases.sum()
    assert 0.65 <= at <= 0.70
    majority = np.array([np.bincount(column[np.isin(column, BASES)]).max() for column in reads.T])
    variable = 1 - majority / bases.sum(axis=0)
    by_position = [variable[position::3].mean() for position in range(3)]
    assert np.argsort(by_position).tolist() == np.argsort(CODON_POSITION_RATES).tolist()


def test_a_few_reads_hold_what_the_release_holds_beyond_clean_bases(sample: pd.DataFrame) -> None:
    counts = barcodes.problem_counts(barcodes.problems(sample["nucraw"], sample["sampleid"]))["barcodes"].tolist()
    assert counts[:3] == [
        pytest.approx(len(sample) * share, abs=8) for share in (LOWER_CASE_SHARE, AMBIGUOUS_SHARE, FAILED_SHARE)
    ]


def test_barcodes_are_the_same_bytes_on_every_machine(sample: pd.DataFrame) -> None:
    """Integer draws only: the default sample's barcodes hash to what they hashed to where they were made."""
    digest = hashlib.sha256("\n".join(sample["nucraw"].astype(str)).encode()).hexdigest()
    assert digest == SAMPLE_BARCODES_SHA256
