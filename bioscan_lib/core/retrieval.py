"""Exact cosine 1-nearest-neighbour retrieval over any embeddings (k-mer profiles, a network's features, images), its
micro and macro accuracy per rank, and the majority baseline beside it."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

NO_NEIGHBOUR = -1  # the nearest key of a zero query, or of any query when every key is zero: cosine is undefined


def _unit_rows(matrix: np.ndarray, name: str) -> np.ndarray:
    """float32 rows scaled to length 1; a zero row stays zero (and -0.0 becomes 0.0, so equal rows are equal bytes)."""
    rows = np.asarray(matrix, dtype=np.float32)
    lengths = np.sqrt(np.einsum("ij,ij->i", rows, rows, dtype=np.float64))[:, None]
    if not np.isfinite(lengths).all():
        raise ValueError(f"{name} hold NaN or infinite values; replace or drop those rows first")
    units = np.zeros(rows.shape, dtype=np.float32)
    np.divide(rows, lengths.astype(np.float32), out=units, where=lengths > 0)
    units += 0
    return units


def _first_of_each_nonzero_row(units: np.ndarray, chunk_rows: int = 4096) -> np.ndarray:
    """Ascending row numbers of the first of each distinct nonzero row: a stable sort of the rows' bytes, then each
    row compared with the one before it, `chunk_rows` at a time (no copy of the whole matrix)."""
    order = units.view(np.dtype((np.void, units.shape[1] * units.itemsize))).ravel().argsort(kind="stable")
    starts_a_group = np.ones(len(order), dtype=bool)
    for start in range(1, len(order), chunk_rows):
        rows = order[start - 1 : start + chunk_rows]
        starts_a_group[start : start + len(rows) - 1] = (units[rows[1:]] != units[rows[:-1]]).any(axis=1)
    first = np.sort(order[starts_a_group])
    return first[np.einsum("ij,ij->i", units, units)[first] > 0]


def _check_shapes(queries: np.ndarray, keys: np.ndarray, block_rows: int) -> None:
    if np.ndim(queries) != 2 or np.ndim(keys) != 2 or not np.shape(keys)[1]:
        raise ValueError(
            f"queries and keys must be (rows, dims) with dims > 0; got {np.shape(queries)} and {np.shape(keys)}"
        )
    if np.shape(queries)[1] != np.shape(keys)[1]:
        raise ValueError(
            f"queries have {np.shape(queries)[1]} dims and keys {np.shape(keys)[1]}; embed both with the same encoder"
        )
    if block_rows < 1:
        raise ValueError(f"block_rows must be at least 1; got {block_rows}")


def nearest_keys(queries: np.ndarray, keys: np.ndarray, block_rows: int = 256, progress: bool = True) -> np.ndarray:
    """Row number in `keys` of each query's most cosine-similar key (exact, float32), or `NO_NEIGHBOUR`.

    Ties go to the lowest key row (keys equal after scaling are searched once, as their first); zero keys are never
    nearest. Tied scores of keys that differ come out of float sums, which may round otherwise on another machine.
    Memory: the scaled keys (keys x dims x 4 bytes; twice that while repeats are dropped or other dtypes converted)
    plus one block's scores (block_rows x keys x 4 bytes).
    """
    _check_shapes(queries, keys, block_rows)
    key_units = _unit_rows(keys, "keys")
    candidates = _first_of_each_nonzero_row(key_units)
    if len(candidates) < len(key_units):
        key_units = key_units[candidates]
    nearest = np.full(len(queries), NO_NEIGHBOUR, dtype=np.int64)
    if not len(candidates):
        return nearest
    starts = range(0, len(queries), block_rows)
    for start in tqdm(starts, desc="nearest keys", unit="block", leave=False, disable=not progress or len(starts) < 2):
        block = _unit_rows(queries[start : start + block_rows], "queries")
        best = candidates[(block @ key_units.T).argmax(axis=1)]
        nearest[start : start + len(block)] = np.where(block.any(axis=1), best, NO_NEIGHBOUR)
    return nearest


def _labels(frame: pd.DataFrame, rank: str) -> np.ndarray:
    """One rank's labels as objects, missing ones None."""
    return frame[rank].to_numpy(dtype=object, na_value=None)


def _micro_macro(truth: np.ndarray, answers: np.ndarray) -> dict[str, float | int]:
    """Queries scored, their classes, micro and macro accuracy; queries without a label are left out."""
    labelled = pd.notna(truth)
    truth, hits = truth[labelled], truth[labelled] == answers[labelled]
    per_class = pd.Series(hits, dtype=float).groupby(truth).mean()
    micro = float(hits.mean()) if len(hits) else float("nan")
    return {"queries": len(truth), "classes": len(per_class), "micro": micro, "macro": float(per_class.mean())}


def _table(rows: dict[str, dict[str, float | int]]) -> pd.DataFrame:
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("rank")


def _checked_nearest(nearest: np.ndarray, queries: int, keys: int) -> np.ndarray:
    nearest = np.asarray(nearest, dtype=np.int64)
    if nearest.shape != (queries,) or (queries and not NO_NEIGHBOUR <= nearest.min() <= nearest.max() < keys):
        raise ValueError(
            f"nearest must hold one key row (0..{keys - 1}) or {NO_NEIGHBOUR} for each of the {queries} queries; "
            "pass what nearest_keys returned for these queries and keys"
        )
    return nearest


def retrieval_accuracy(
    query_labels: pd.DataFrame, key_labels: pd.DataFrame, nearest: np.ndarray, ranks: Sequence[str]
) -> pd.DataFrame:
    """Per rank: share of queries whose nearest key has their label (micro) and its mean over the queries' classes
    (macro), as CLIBD scores 1-NN. A query without a label at a rank is left out of it; one whose nearest key has
    none there, or that has `NO_NEIGHBOUR`, is a miss."""
    nearest = _checked_nearest(nearest, len(query_labels), len(key_labels))
    found = nearest != NO_NEIGHBOUR
    rows = {}
    for rank in ranks:
        answers = np.full(len(nearest), None, dtype=object)
        answers[found] = _labels(key_labels, rank)[nearest[found]]
        rows[rank] = _micro_macro(_labels(query_labels, rank), answers)
    return _table(rows)


def majority_accuracy(query_labels: pd.DataFrame, key_labels: pd.DataFrame, ranks: Sequence[str]) -> pd.DataFrame:
    """The same scores for always answering the most frequent key label at each rank (ties: the first in sort order)."""
    rows = {}
    for rank in ranks:
        counts = pd.Series(_labels(key_labels, rank)).dropna().value_counts()
        answer = min(counts.index[counts == counts.max()]) if len(counts) else None
        rows[rank] = _micro_macro(_labels(query_labels, rank), np.full(len(query_labels), answer, dtype=object))
    return _table(rows)
