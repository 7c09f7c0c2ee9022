"""The paper's six experiments: per-class train/validation/test splits made by the published rules, vectorised."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from bioscan_lib.core.files import atomic_path
from bioscan_lib.data.bioscan1m import (
    BUDGETS,
    DIPTERA,
    EXPERIMENTS,
    N_DIPTERA_FAMILIES,
    NOT_CLASSIFIED,
    SPLIT_COLUMNS,
    experiment_size,
    experiment_task,
    label_column,
)
from bioscan_lib.data.metadata import TaxonomyWarning, read_metadata, write_metadata

# SPLIT_FILE_NAME and split_folder are re-exported: the stages and the notebooks take them from here
from bioscan_lib.split.files import SPLIT_FILE_NAME as SPLIT_FILE_NAME
from bioscan_lib.split.files import class_list_path, existing_class_list, existing_split_file
from bioscan_lib.split.files import split_folder as split_folder

SPLITS = ("train", "validation", "test")
NO_SPLIT = "no_split"
FRACTIONS = {"train": 0.7, "validation": 0.1, "test": 0.2}
SPECIMEN_COLUMNS = ("image_file", "sampleid")  # each names one specimen: one row each
_SPLIT_CATEGORIES = (*SPLITS, NO_SPLIT)
_NO_SPLIT_CODE = _SPLIT_CATEGORIES.index(NO_SPLIT)


class SplitBudgetWarning(UserWarning):
    """A Medium or Small split asked for more samples than its Large pool holds and took them all."""


def split_budgets(size: int) -> dict[str, int]:
    """Samples per split of a Medium or Small experiment of `size` samples (70/10/20)."""
    return {split: int(round(fraction * size)) for split, fraction in FRACTIONS.items()}


def class_split_counts(n: np.ndarray) -> np.ndarray:
    """Train, validation and test counts (columns) of classes of `n` samples; all zero for a left-out class.

    Below 3 the class is left out; 3 to 5 give one to test and validation; otherwise the
    counts are round(0.7 n), round(0.1 n), round(0.2 n) (halves to even) with the remainder,
    negative as well as positive, given to train (n = 8 gives 5/1/2).
    """
    n = np.asarray(n, dtype=np.int64)
    validation = np.rint(0.1 * n).astype(np.int64)
    test = np.rint(0.2 * n).astype(np.int64)
    few = (n >= 3) & (n <= 5)
    validation[few], test[few] = 1, 1
    counts = np.stack([n - validation - test, validation, test], axis=1)
    counts[(n < 3) | (counts <= 0).any(axis=1)] = 0
    return counts


def _categorical(column: pd.Series) -> pd.Categorical:
    return column.array if isinstance(column.dtype, pd.CategoricalDtype) else pd.Categorical(column.astype(str))


def _ranks_within_classes(codes: np.ndarray, keys: np.ndarray) -> np.ndarray:
    """Each row's 0-based rank within its class when ordered by `keys` (ties by row position)."""
    order = np.lexsort((keys, codes))
    sizes = np.bincount(codes, minlength=int(codes.max(initial=-1)) + 1)
    starts = np.cumsum(sizes) - sizes
    ranks = np.empty(len(codes), dtype=np.int64)
    ranks[order] = np.arange(len(codes)) - starts[codes[order]]
    return ranks


def _split_classes(codes: np.ndarray, keys: np.ndarray) -> np.ndarray:
    """Split codes for rows of class `codes` (-1: not a candidate), each class shuffled by `keys`."""
    result = np.full(len(codes), _NO_SPLIT_CODE, dtype=np.int8)
    rows = np.flatnonzero(codes >= 0)
    if len(rows) == 0:
        return result
    row_codes = codes[rows]
    ranks = _ranks_within_classes(row_codes, keys[rows])
    bounds = np.cumsum(class_split_counts(np.bincount(row_codes)), axis=1)[row_codes]
    chosen = np.full(len(rows), _NO_SPLIT_CODE, dtype=np.int8)
    for split_code in reversed(range(len(SPLITS))):
        chosen[ranks < bounds[:, split_code]] = split_code
    result[rows] = chosen
    return result


def _diptera_family_codes(metadata: pd.DataFrame) -> np.ndarray:
    """Row codes 0..39 of the 40 largest known Diptera families (by count, then name), -1 elsewhere."""
    family = _categorical(metadata["family"])
    candidate = np.asarray(metadata["order"] == DIPTERA) & np.asarray(family != NOT_CLASSIFIED) & (family.codes >= 0)
    counts = np.bincount(family.codes[candidate], minlength=len(family.categories))
    ranked = pd.DataFrame({"name": family.categories.astype(str), "count": counts})
    ranked = ranked[ranked["count"] > 0].sort_values(["count", "name"], ascending=[False, True])
    lookup = np.full(len(family.categories), -1, dtype=np.int64)
    lookup[ranked.index[:N_DIPTERA_FAMILIES]] = np.arange(min(N_DIPTERA_FAMILIES, len(ranked)))
    return np.where(candidate, lookup[family.codes], -1)


def _warn_of_families_outside_diptera(metadata: pd.DataFrame, family_codes: np.ndarray) -> None:
    """One warning naming the classified Diptera families that also have records under another order, which the
    Diptera experiments leave out (they take a family's records under Diptera only)."""
    chosen = metadata["family"][family_codes >= 0].astype("string").unique()
    order = metadata["order"].astype("string")
    elsewhere = metadata["family"].astype("string").isin(chosen) & order.notna() & (order != DIPTERA)
    elsewhere &= order != NOT_CLASSIFIED
    if elsewhere.any():
        counts = metadata.loc[elsewhere, "family"].astype("string").value_counts()
        shown = ", ".join(f"{name} ({count:,})" for name, count in counts.head(3).items())
        more = f" and {len(counts) - 3} more" if len(counts) > 3 else ""
        warnings.warn(
            f"{len(counts)} classified Diptera famil{'y' if len(counts) == 1 else 'ies'} also sit under another order "
            f"({shown}{more} records there): the Diptera family experiments take only their records under Diptera; "
            "see the names_under_two_parents table of the dataset statistics",
            TaxonomyWarning,
            stacklevel=3,
        )


def round_robin_counts(sizes: np.ndarray, names: np.ndarray, budget: int) -> np.ndarray:
    """Samples taken per class by the smallest-first round-robin draw of `budget` from pools of `sizes`.

    Rounds are complete: after round R each class holds min(size, R). The first R whose total
    reaches the budget is used and the overshoot is removed from the largest class (the last
    visited: by size, then name), continuing to the next largest should that one run out.
    A budget at or above the pool's total takes everything.
    """
    sizes = np.asarray(sizes, dtype=np.int64)
    if budget >= sizes.sum():
        return sizes.copy()
    low, high = 0, int(sizes.max())
    while low < high:
        middle = (low + high) // 2
        if np.minimum(sizes, middle).sum() >= budget:
            high = middle
        else:
            low = middle + 1
    taken = np.minimum(sizes, low)
    excess = int(taken.sum()) - budget
    visit_order = pd.DataFrame({"size": sizes, "name": names}).sort_values(["size", "name"]).index
    for index in visit_order[::-1]:
        cut = min(excess, int(taken[index]))
        taken[index] -= cut
        excess -= cut
        if excess == 0:
            break
    return taken


def _draw(codes: np.ndarray, names: np.ndarray, large: np.ndarray, size: int, experiment: str) -> np.ndarray:
    """Split codes of a Medium or Small experiment drawn from its Large parent's split codes."""
    result = np.full(len(codes), _NO_SPLIT_CODE, dtype=np.int8)
    for split_code, (split, budget) in enumerate(split_budgets(size).items()):
        rows = np.flatnonzero(large == split_code)
        pool = np.bincount(codes[rows], minlength=len(names))
        if budget > pool.sum():
            warnings.warn(
                f"{experiment}: the {split} split of its Large parent holds {pool.sum():,} samples, fewer than the "
                f"budget of {budget:,}; taking all of them. Use a smaller size for data this small.",
                SplitBudgetWarning,
                stacklevel=3,
            )
        taken = round_robin_counts(pool, names, budget)
        ranks = _ranks_within_classes(codes[rows], np.zeros(len(rows)))
        result[rows[ranks < taken[codes[rows]]]] = split_code
    return result


def _refuse_repeated_specimens(metadata: pd.DataFrame) -> None:
    """Refuse a table where one image file or sample id has several rows: that specimen could land in two parts."""
    for column in SPECIMEN_COLUMNS:
        if column in metadata.columns and not metadata[column].is_unique:
            repeated = metadata[column].duplicated(keep=False)
            examples = metadata.loc[repeated, column].astype(str).unique()[:3].tolist()
            raise ValueError(
                f"metadata column {column} repeats over {int(repeated.sum()):,} rows "
                f"({metadata.loc[repeated, column].nunique():,} values, e.g. {examples}); one specimen could land "
                f"in two parts of a split. Keep one row per specimen first (e.g. frame.drop_duplicates({column!r}))."
            )


def make_splits(
    metadata: pd.DataFrame,
    seed: int,
    medium_size: int = BUDGETS["medium"],
    small_size: int = BUDGETS["small"],
) -> pd.DataFrame:
    """A copy of `metadata` with the six split columns made by the published rules, deterministic from `seed`."""
    missing = [c for c in ("order", "family") if c not in metadata.columns]
    if missing:
        raise ValueError(f"metadata lacks column(s) {', '.join(missing)}, needed to make the splits.")
    if min(medium_size, small_size) < 0:
        raise ValueError(f"Medium and Small sizes must not be negative; got {medium_size} and {small_size}.")
    _refuse_repeated_specimens(metadata)
    generator = np.random.default_rng(seed)
    family_keys, order_keys = generator.random(len(metadata)), generator.random(len(metadata))
    family_codes = _diptera_family_codes(metadata)
    _warn_of_families_outside_diptera(metadata, family_codes)
    splits = {"large_diptera_family": _split_classes(family_codes, family_keys)}
    order = _categorical(metadata["order"])
    order_candidates = (splits["large_diptera_family"] == _NO_SPLIT_CODE) & np.asarray(order != NOT_CLASSIFIED)
    order_candidates &= order.codes >= 0
    large_order = _split_classes(np.where(order_candidates, order.codes, -1), order_keys)
    splits["large_insect_order"] = np.where(order_candidates, large_order, splits["large_diptera_family"])
    labels = {"diptera_family": _categorical(metadata["family"]), "insect_order": order}
    sizes = {"medium": medium_size, "small": small_size}
    for experiment in EXPERIMENTS[2:]:
        task = experiment_task(experiment)
        codes = labels[task].codes.astype(np.int64)
        names = np.asarray(labels[task].categories.astype(str))
        splits[experiment] = _draw(
            codes, names, splits[f"large_{task}"], sizes[experiment_size(experiment)], experiment
        )
    columns = {name: pd.Categorical.from_codes(codes, categories=_SPLIT_CATEGORIES) for name, codes in splits.items()}
    return metadata.assign(**{name: columns[name] for name in SPLIT_COLUMNS})


def has_official_splits(frame: pd.DataFrame) -> bool:
    """Whether any split column holds a train, validation or test value (the real TSV does; the sample does not)."""
    return any(frame[column].isin(SPLITS).any() for column in SPLIT_COLUMNS if column in frame.columns)


def class_split_table(frame: pd.DataFrame, experiment: str) -> pd.DataFrame:
    """Samples per class (rows) and split (columns train, validation, test) of an experiment."""
    label = label_column(experiment)
    assigned = frame[experiment].isin(SPLITS)
    labels = frame.loc[assigned, label].astype(str)
    splits = frame.loc[assigned, experiment].astype(str)
    table = pd.crosstab(labels, splits).reindex(columns=list(SPLITS), fill_value=0)
    table.index.name, table.columns.name = "class", None
    return table.astype(np.int64)


def class_list(split_frame: pd.DataFrame, experiment: str) -> pd.DataFrame:
    """An experiment's classes with their training and total counts; `index` is the label, numbered as published.

    As the authors' loader: classes ranked by training samples, largest first, ties in order of first appearance
    among the training rows of the file (a stable sort of a dictionary built in row order). Classes with no
    training sample, which the published code cannot label, come last in order of first appearance.
    """
    label = label_column(experiment)
    assigned = split_frame[experiment].isin(SPLITS).to_numpy()
    codes, names = pd.factorize(split_frame.loc[assigned, label], use_na_sentinel=False)
    training = (split_frame.loc[assigned, experiment] == "train").to_numpy()
    classes = pd.DataFrame(
        {
            "class": np.asarray(names.astype(str), dtype=object),
            "train": np.bincount(codes[training], minlength=len(names)),
            "count": np.bincount(codes, minlength=len(names)),
            "first_train": _first_positions(codes, training, len(names)),
            "first": _first_positions(codes, np.ones(len(codes), dtype=bool), len(names)),
        }
    )
    classes = classes.sort_values(["train", "first_train", "first"], ascending=[False, True, True], kind="stable")
    classes = classes.reset_index(drop=True)
    classes["index"] = np.arange(len(classes))
    return classes[["class", "train", "count", "index"]].astype({"train": np.int64, "count": np.int64})


def _first_positions(codes: np.ndarray, among: np.ndarray, classes: int) -> np.ndarray:
    """Per class code: its first position among the rows where `among` holds; the row count where it never does."""
    first = np.full(classes, len(codes), dtype=np.int64)
    rows = np.flatnonzero(among)
    np.minimum.at(first, codes[rows], rows)  # unbuffered: the smallest row of each class, without sorting
    return first


def split_size_table(frame: pd.DataFrame) -> pd.DataFrame:
    """Per experiment: number of classes and samples in train, validation and test."""
    rows = []
    for experiment in EXPERIMENTS:
        table = class_split_table(frame, experiment)
        rows.append({"experiment": experiment, "classes": len(table), **table.sum().astype(int).to_dict()})
    return pd.DataFrame(rows, columns=["experiment", "classes", *SPLITS])


def compare_splits(official: pd.DataFrame, regenerated: pd.DataFrame) -> pd.DataFrame:
    """Per experiment, class and split: official and regenerated counts and their difference (regenerated - official)."""
    parts = []
    for experiment in EXPERIMENTS:
        both = (
            pd.concat(
                {
                    "official": class_split_table(official, experiment).stack(),
                    "regenerated": class_split_table(regenerated, experiment).stack(),
                },
                axis=1,
            )
            .fillna(0)
            .astype(np.int64)
        )
        both.index.names = ["class", "split"]
        parts.append(both.reset_index().assign(experiment=experiment))
    table = pd.concat(parts, ignore_index=True)
    table["difference"] = table["regenerated"] - table["official"]
    return table[["experiment", "class", "split", "official", "regenerated", "difference"]]


def read_split(folder: str | os.PathLike) -> pd.DataFrame:
    """The split TSV written into `folder` by notebook 03 or `bioscan-repro split`."""
    return read_metadata(existing_split_file(folder))


def read_class_list(folder: str | os.PathLike, experiment: str) -> pd.DataFrame:
    """An experiment's class list (class, count, index) as written beside the split TSV."""
    return pd.read_csv(existing_class_list(folder, experiment), keep_default_na=False)


def write_split(frame: pd.DataFrame, path: str | os.PathLike) -> Path:
    """Write the split TSV at `path` and each experiment's class list beside it."""
    path = Path(path)
    write_metadata(frame, path)
    for experiment in EXPERIMENTS:
        with atomic_path(class_list_path(path.parent, experiment)) as temporary:
            class_list(frame, experiment).to_csv(temporary, index=False)
    return path
