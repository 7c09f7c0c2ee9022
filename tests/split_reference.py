"""The split rules one row at a time in plain Python: the oracle of tests/test_split.py and the speed baseline of
benchmarks/bench_split.py for the vectorised `bioscan_lib.split.rules.make_splits`."""

from __future__ import annotations

from collections import defaultdict

import numpy as np
import pandas as pd

from bioscan_lib.data import bioscan1m
from bioscan_lib.split.rules import _SPLIT_CATEGORIES, NO_SPLIT, split_budgets


def _split_per_row(rows: list[int], keys: np.ndarray, column: list[str]) -> None:
    """Assign one class's rows (shuffled by `keys`) to train, validation, test in place, as the rules read."""
    rows = sorted(rows, key=lambda row: (keys[row], row))
    n = len(rows)
    if n < 3:
        return
    if n <= 5:
        train, validation, test = n - 2, 1, 1
    else:
        train, validation, test = round(0.7 * n), round(0.1 * n), round(0.2 * n)
        train += n - (train + validation + test)
        if min(train, validation, test) == 0:
            return
    for position, row in enumerate(rows):
        column[row] = "train" if position < train else "validation" if position < train + validation else "test"


def _round_robin_per_row(pools: dict[str, list[int]], budget: int) -> list[int]:
    """Rows drawn by visiting classes smallest first, one sample per visit, round after round."""
    classes = sorted(pools, key=lambda name: (len(pools[name]), name))
    taken: dict[str, list[int]] = {name: [] for name in classes}
    total = min(budget, sum(len(rows) for rows in pools.values()))
    drawn = 0
    while drawn < total:
        for name in classes:
            if len(taken[name]) < len(pools[name]):
                taken[name].append(pools[name][len(taken[name])])
                drawn += 1
    for name in reversed(classes):
        while drawn > total and taken[name]:
            taken[name].pop()
            drawn -= 1
    return [row for rows in taken.values() for row in rows]


def make_splits_per_row(
    metadata: pd.DataFrame,
    seed: int,
    medium_size: int = bioscan1m.BUDGETS["medium"],
    small_size: int = bioscan1m.BUDGETS["small"],
) -> pd.DataFrame:
    """The same rules one row at a time in plain Python: the check and speed baseline for `make_splits`."""
    generator = np.random.default_rng(seed)
    family_keys, order_keys = generator.random(len(metadata)), generator.random(len(metadata))
    labels = {
        "insect_order": metadata["order"].astype(str).tolist(),
        "diptera_family": metadata["family"].astype(str).tolist(),
    }
    orders, families = labels["insect_order"], labels["diptera_family"]
    columns = {name: [NO_SPLIT] * len(metadata) for name in bioscan1m.SPLIT_COLUMNS}
    members: dict[str, list[int]] = defaultdict(list)
    for row in range(len(metadata)):
        if orders[row] == bioscan1m.DIPTERA and families[row] != bioscan1m.NOT_CLASSIFIED:
            members[families[row]].append(row)
    for family in sorted(members, key=lambda name: (-len(members[name]), name))[: bioscan1m.N_DIPTERA_FAMILIES]:
        _split_per_row(members[family], family_keys, columns["large_diptera_family"])
    members = defaultdict(list)
    for row in range(len(metadata)):
        if columns["large_diptera_family"][row] != NO_SPLIT:
            columns["large_insect_order"][row] = columns["large_diptera_family"][row]
        elif orders[row] != bioscan1m.NOT_CLASSIFIED:
            members[orders[row]].append(row)
    for rows in members.values():
        _split_per_row(rows, order_keys, columns["large_insect_order"])
    sizes = {"medium": medium_size, "small": small_size}
    for experiment in bioscan1m.EXPERIMENTS[2:]:
        task = bioscan1m.experiment_task(experiment)
        large = columns[f"large_{task}"]
        for split, budget in split_budgets(sizes[bioscan1m.experiment_size(experiment)]).items():
            pools: dict[str, list[int]] = defaultdict(list)
            for row in range(len(metadata)):
                if large[row] == split:
                    pools[labels[task][row]].append(row)
            for row in _round_robin_per_row(pools, budget):
                columns[experiment][row] = split
    return metadata.assign(
        **{name: pd.Categorical(values, categories=_SPLIT_CATEGORIES) for name, values in columns.items()}
    )


def published_class_index(frame: pd.DataFrame, experiment: str) -> dict[str, int]:
    """The authors' numbering, written as their loader does it: a dict of training rows in file order, sorted stably."""
    label = bioscan1m.label_column(experiment)
    members: dict[str, list[int]] = {}
    for row, (name, part) in enumerate(zip(frame[label].astype(str), frame[experiment].astype(str))):
        if part == "train":
            members.setdefault(name, []).append(row)
    ranked = sorted(enumerate(len(rows) for rows in members.values()), key=lambda item: item[1], reverse=True)
    names = list(members)
    return {names[position]: index for index, (position, _) in enumerate(ranked)}
