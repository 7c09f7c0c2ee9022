"""Exact cosine 1-NN retrieval: the blocked search against a full argmax and scikit-learn, ties, zero rows, and the
micro, macro and majority scores on hand-made labels."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.neighbors import NearestNeighbors

from bioscan_lib.core.retrieval import NO_NEIGHBOUR, majority_accuracy, nearest_keys, retrieval_accuracy
from bioscan_lib.data.bioscan1m import RANKS

GENUS, SPECIES = RANKS[-2:]


def random_rows(rows: int, dims: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((rows, dims)).astype(np.float32)


def full_argmax(queries: np.ndarray, keys: np.ndarray) -> np.ndarray:
    """The oracle: argmax of the whole float64 cosine matrix."""
    q = queries / np.linalg.norm(queries.astype(np.float64), axis=1, keepdims=True)
    k = keys / np.linalg.norm(keys.astype(np.float64), axis=1, keepdims=True)
    return (q @ k.T).argmax(axis=1)


@pytest.mark.parametrize("block_rows", [1, 7, 50, 64])
def test_blocked_search_equals_the_full_argmax(block_rows):
    queries, keys = random_rows(50, 16, seed=1), random_rows(300, 16, seed=2)
    np.testing.assert_array_equal(nearest_keys(queries, keys, block_rows=block_rows), full_argmax(queries, keys))


def test_agrees_with_scikit_learns_brute_cosine_neighbours():
    queries, keys = random_rows(200, 32, seed=3), random_rows(1000, 32, seed=4)
    search = NearestNeighbors(n_neighbors=1, metric="cosine", algorithm="brute").fit(keys)
    np.testing.assert_array_equal(nearest_keys(queries, keys), search.kneighbors(queries, return_distance=False)[:, 0])


def test_column_major_inputs_give_the_same_neighbours():
    queries, keys = random_rows(20, 8, seed=8), random_rows(100, 8, seed=9)
    assert (
        nearest_keys(np.asfortranarray(queries), np.asfortranarray(keys)).tolist()
        == full_argmax(queries, keys).tolist()
    )


def test_equal_similarities_go_to_the_lowest_key_row():
    query = np.array([[1.0, 0.0]])
    assert nearest_keys(query, np.array([[0.0, 1.0], [1.0, -1.0], [1.0, 1.0]]))[0] == 1
    assert nearest_keys(query, np.array([[0.0, 1.0], [2.0, 0.0], [1.0, 0.0], [3.0, 0.0]]))[0] == 1


def test_repeated_keys_give_the_first_copy():
    distinct = random_rows(100, 8, seed=5)
    keys = distinct[np.random.default_rng(6).integers(0, len(distinct), size=1000)]
    nearest = nearest_keys(random_rows(300, 8, seed=7), keys, block_rows=64)
    first_copy = {row.tobytes(): number for number, row in reversed(list(enumerate(keys)))}
    assert [first_copy[keys[n].tobytes()] for n in nearest] == nearest.tolist()


def test_zero_queries_have_no_neighbour_and_zero_keys_are_never_nearest():
    queries = np.array([[0.0, 0.0], [1.0, 0.0]])
    assert nearest_keys(queries, np.array([[0.0, 0.0], [-1.0, 0.0]])).tolist() == [NO_NEIGHBOUR, 1]
    assert nearest_keys(queries, np.zeros((3, 2))).tolist() == [NO_NEIGHBOUR, NO_NEIGHBOUR]


def test_queries_and_keys_of_different_widths_are_refused():
    with pytest.raises(ValueError, match="queries have 3 dims and keys 2"):
        nearest_keys(np.ones((2, 3)), np.ones((4, 2)))


def test_embeddings_without_dims_are_refused():
    with pytest.raises(ValueError, match="dims > 0"):
        nearest_keys(np.ones((2, 0)), np.ones((4, 0)))


def test_non_finite_values_are_refused():
    with pytest.raises(ValueError, match="keys hold NaN"):
        nearest_keys(np.ones((2, 2)), np.array([[1.0, np.nan]]))


# four queries, three keys: species s1 s1 s1 s2 answered s1 s1 s2 s3 (micro 2/4, macro (2/3 + 0) / 2); genus all g1
# answered g1 g1 g2 g1 (micro = macro = 3/4, one class)
QUERIES = pd.DataFrame({GENUS: ["g1", "g1", "g1", "g1"], SPECIES: ["s1", "s1", "s1", "s2"]})
KEYS = pd.DataFrame({GENUS: ["g1", "g2", "g1"], SPECIES: ["s1", "s2", "s3"]})
NEAREST = np.array([0, 0, 1, 2])


def test_micro_and_macro_accuracy_of_a_hand_made_example():
    scores = retrieval_accuracy(QUERIES, KEYS, NEAREST, [GENUS, SPECIES])
    assert scores.loc[SPECIES, ["micro", "macro"]].tolist() == pytest.approx([1 / 2, 1 / 3])
    assert scores.loc[GENUS, ["micro", "macro"]].tolist() == pytest.approx([3 / 4, 3 / 4])
    assert scores.loc[SPECIES, ["queries", "classes"]].tolist() == [4, 2]


def test_a_query_without_a_label_is_left_out_of_that_rank():
    queries = pd.concat([QUERIES, pd.DataFrame({GENUS: ["g2"], SPECIES: [None]})], ignore_index=True)
    scores = retrieval_accuracy(queries, KEYS, np.append(NEAREST, 0), [GENUS, SPECIES])
    assert scores.loc[SPECIES, ["queries", "micro", "macro"]].tolist() == pytest.approx([4, 1 / 2, 1 / 3])
    assert scores.loc[GENUS, ["queries", "micro"]].tolist() == pytest.approx([5, 3 / 5])


def test_no_neighbour_and_an_unlabelled_key_are_misses():
    keys = KEYS.assign(**{SPECIES: ["s1", "s2", np.nan]})
    scores = retrieval_accuracy(QUERIES, keys, np.array([0, NO_NEIGHBOUR, 0, 2]), [SPECIES])
    assert scores.loc[SPECIES, ["queries", "micro"]].tolist() == pytest.approx([4, 2 / 4])


def test_nearest_rows_outside_the_keys_are_refused():
    with pytest.raises(ValueError, match="nearest must hold one key row"):
        retrieval_accuracy(QUERIES, KEYS, np.array([0, 0, 1, 3]), [SPECIES])


def test_majority_baseline_answers_the_most_frequent_key_label():
    keys = pd.DataFrame({SPECIES: ["s2", "s1", "s1", None, "s3"]})
    queries = pd.DataFrame({SPECIES: ["s1", "s2", "s2"]})
    scores = majority_accuracy(queries, keys, [SPECIES])
    assert scores.loc[SPECIES, ["micro", "macro"]].tolist() == pytest.approx([1 / 3, 1 / 2])


def test_majority_baseline_breaks_a_tie_by_sort_order():
    queries = pd.DataFrame({SPECIES: ["s1", "s1", "s2"]})
    scores = majority_accuracy(queries, pd.DataFrame({SPECIES: ["s2", "s1"]}), [SPECIES])
    assert scores.loc[SPECIES, "micro"] == pytest.approx(2 / 3)
