"""The barcode reader: its cleaning, k-mer counts equal to scikit-learn's, one-hot codes, repeats, bad input."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.feature_extraction.text import CountVectorizer

from bioscan_lib.config import DEFAULT_SEED
from bioscan_lib.data import barcodes
from bioscan_lib.sample import DEFAULT_RECORDS
from bioscan_lib.sample.release import synthetic_metadata

ODD_READS = ["acgtacgtnn", "ACGRTACYGT", "", "NNNNNN", "A" * 2500, "ACG-TAC*GT", "NNACGTNACGTNNN"]


@pytest.fixture(scope="module")
def reads() -> pd.Series:
    """Every sample barcode, then reads of each kind the cleaning handles."""
    sample = synthetic_metadata(DEFAULT_RECORDS, DEFAULT_SEED)["nucraw"].astype(str).tolist()
    return pd.Series(sample + ODD_READS, dtype="string[pyarrow]")


def test_cleaning_upper_cases_strips_trailing_ns_and_cuts_at_660() -> None:
    cleaned = barcodes.clean(pd.Series(ODD_READS + [None], dtype="string[pyarrow]")).to_pylist()
    assert cleaned[:4] == ["ACGTACGT", "ACGRTACYGT", "", ""]
    assert cleaned[4] == "A" * barcodes.BARCODE_SITES and cleaned[5] == "ACG-TAC*GT"
    assert cleaned[6] == "NNACGTNACGT" and cleaned[7] == ""


@pytest.mark.parametrize("k", [3, 5])
def test_kmer_counts_equal_count_vectorizer_on_acgt_kmers(reads: pd.Series, k: int) -> None:
    cleaned = barcodes.clean(reads)
    counts = barcodes.kmer_counts(barcodes.base_codes(reads), k)
    vectorizer = CountVectorizer(analyzer="char", ngram_range=(k, k), lowercase=False)
    expected = vectorizer.fit_transform(cleaned.to_pylist()).toarray()
    vocabulary = vectorizer.vocabulary_
    reference = np.zeros_like(counts, dtype=np.int64)
    for column, kmer in enumerate(barcodes.kmer_names(k)):
        if kmer in vocabulary:
            reference[:, column] = expected[:, vocabulary[kmer]]
    assert counts.shape == (len(reads), 4**k)
    np.testing.assert_array_equal(counts, reference)


def test_base_codes_and_one_hot_pad_with_n() -> None:
    codes = barcodes.base_codes(pd.Series(["ACGTRN-A"], dtype="string[pyarrow]"))
    assert codes.shape == (1, barcodes.BARCODE_SITES)
    assert codes[0, :9].tolist() == [0, 1, 2, 3, 4, 4, 4, 0, 4]
    encoded = barcodes.one_hot(codes)
    assert encoded.shape == (1, barcodes.BARCODE_SITES, barcodes.ONE_HOT_CHANNELS)
    assert (encoded.sum(axis=2) == 1).all() and encoded[0, 8:, barcodes.NO_BASE].all()


def test_a_repeated_barcode_is_counted_once() -> None:
    reads = pd.Series(["ACGT", "acgtNN", "ACGA", "ACGT"], dtype="string[pyarrow]")
    assert barcodes.first_of_each_barcode(barcodes.base_codes(reads)).tolist() == [0, 2]


def test_kmer_length_outside_the_range_is_refused() -> None:
    with pytest.raises(ValueError, match="dna_kmer"):
        barcodes.kmer_counts(np.zeros((1, barcodes.BARCODE_SITES), np.uint8), 9)


def test_each_kind_of_bad_read_is_counted_with_its_rows() -> None:
    ids = pd.Series([f"S{i}" for i in range(len(ODD_READS))])
    table = barcodes.problems(pd.Series(ODD_READS, dtype="string[pyarrow]"), ids)
    found = table.groupby("problem")["sampleid"].agg(list).to_dict()
    assert found == dict(zip(barcodes.PROBLEMS, [["S0"], ["S1"], ["S2", "S3"], ["S4"], ["S5"]]))
    assert barcodes.problem_counts(table)["barcodes"].tolist() == [1, 1, 2, 1, 1]
    assert barcodes.problem_counts(table.iloc[:0])["barcodes"].tolist() == [0] * len(barcodes.PROBLEMS)


def test_reads_held_in_several_arrow_chunks_are_read_as_one() -> None:
    first, second = (pd.Series(part, dtype="string[pyarrow]") for part in (["ACGT", "NNAC"], ["acgtn", None]))
    chunked = pd.concat([first, second], ignore_index=True)
    whole = pd.Series(["ACGT", "NNAC", "acgtn", None], dtype="string[pyarrow]")
    assert np.array_equal(barcodes.base_codes(chunked), barcodes.base_codes(whole))
