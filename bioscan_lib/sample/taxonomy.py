"""A synthetic but consistent taxonomy for the sample: counts per order and family, finer ranks, BINs and names."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from bioscan_lib.data import bioscan1m

# Five specimens of orders outside the published 16 (the release has some; each too rare to become a class).
RARE_ORDER_COUNTS = {"Strepsiptera": 2, "Zoraptera": 2, "Mecoptera": 1}
FINER_RANKS = ("subfamily", "tribe", "genus", "species")
RANK_PARENT = {"subfamily": "family", "tribe": "subfamily", "genus": "family", "species": "genus"}
_CONSONANTS = "bcdfglmnprstvz"
_VOWELS = "aeiou"
_RANK_SUFFIX = {"family": "idae", "subfamily": "inae", "tribe": "ini", "genus": "us", "species": "a"}
RELEASE_SIZED_RANKS = ("genus", "species")  # a sample's classes of these ranks are as large as the release's
LABEL_FILL = 0.85  # at most this share of a parent class's rows is drawn to carry a child label, where classes are few


def allocate(total: int, weights: np.ndarray, minimum: int = 0, maximum: np.ndarray | None = None) -> np.ndarray:
    """Integer counts summing to `total`, proportional to `weights`, each within [minimum, maximum] (largest remainder)."""
    weights = np.asarray(weights, dtype=float)
    cap = np.full(len(weights), total, dtype=np.int64) if maximum is None else np.asarray(maximum, dtype=np.int64)
    counts = np.minimum(np.full(len(weights), minimum, dtype=np.int64), cap)
    if counts.sum() > total or cap.sum() < total:
        raise ValueError(f"cannot allocate {total} over {len(weights)} classes within [{minimum}, max]")
    while (left := total - counts.sum()) > 0:
        room = cap - counts
        share = np.where(room > 0, weights, 0.0)
        ideal = left * share / share.sum()
        step = np.minimum(np.floor(ideal).astype(np.int64), room)
        if step.sum() == 0:
            order = np.argsort(-(ideal - np.floor(ideal)) - (room > 0) * 1e-9, kind="stable")
            step = np.zeros_like(counts)
            step[[i for i in order if room[i] > 0][:left]] = 1
        counts += step
    return counts


def latin_names(count: int, rank: str, rng: np.random.Generator) -> list[str]:
    """`count` distinct pseudo-Latin names for a rank (e.g. `Bavoridae` for families)."""
    names: list[str] = []
    seen: set[str] = set()
    suffix = _RANK_SUFFIX[rank]
    while len(names) < count:
        syllables = rng.integers(2, 4)
        stem = "".join(rng.choice(list(_CONSONANTS)) + rng.choice(list(_VOWELS)) for _ in range(syllables))
        name = (stem + "r" + suffix).capitalize() if rank != "species" else stem + "ra"
        if name not in seen:
            seen.add(name)
            names.append(name)
    return names


def sample_order_counts(records: int, full_scale: bool) -> dict[str, int]:
    """Rows per order: the published counts at full scale, tempered (power 0.65, floor up to 30) for a sample."""
    published = bioscan1m.published_order_counts()
    if full_scale:
        return {**published, **RARE_ORDER_COUNTS}
    budget = records - sum(RARE_ORDER_COUNTS.values())
    floor = max(3, min(30, budget // (2 * len(published))))
    counts = allocate(budget, np.array(list(published.values())) ** 0.65, minimum=floor)
    return {**dict(zip(published, counts.tolist())), **RARE_ORDER_COUNTS}


def family_table(orders: dict[str, int], full_scale: bool, rng: np.random.Generator) -> pd.DataFrame:
    """Families with their order and row count; `not_classified` rows per order included."""
    published = bioscan1m.taxonomy_statistics()["family"]
    top40 = bioscan1m.diptera_family_counts()
    diptera = orders[bioscan1m.DIPTERA]
    if full_scale:
        top_counts = np.array(list(top40.values()))
        extra_families, extra_rows, diptera_unknown = 60, 3986, diptera - sum(top40.values()) - 3986
    else:
        floor = max(1, min(25, diptera // 50))
        extra_families, extra_rows, diptera_unknown = (4, 12, 3) if floor > 4 else (0, 0, 1)
        top_counts = allocate(diptera - extra_rows - diptera_unknown, np.sqrt(list(top40.values())), minimum=floor)
    smallest = int(top_counts.min())
    rows = [(bioscan1m.DIPTERA, family, int(n)) for family, n in zip(top40, top_counts)]
    extra = allocate(
        extra_rows, 1.0 / np.arange(1, extra_families + 1), minimum=1, maximum=np.full(extra_families, smallest - 1)
    )
    others = {o: n for o, n in orders.items() if o != bioscan1m.DIPTERA}
    other_total = sum(others.values())
    if full_scale:
        labelled_total = published["labelled"] - sum(top40.values()) - extra_rows
        family_count = published["categories"] - 40 - extra_families
    else:
        labelled_total = round(other_total * 0.938)
        family_count = max(len(others), other_total // 8)
    labelled = allocate(
        labelled_total, np.array(list(others.values())), minimum=1, maximum=np.array(list(others.values()))
    )
    families_per_order = allocate(family_count, np.sqrt(labelled), minimum=1, maximum=labelled)
    names = iter(latin_names(extra_families + int(families_per_order.sum()), "family", rng))
    rows += [(bioscan1m.DIPTERA, next(names), int(n)) for n in extra]
    rows.append((bioscan1m.DIPTERA, bioscan1m.NOT_CLASSIFIED, int(diptera_unknown)))
    for (order, total), known, k in zip(others.items(), labelled, families_per_order):
        sizes = allocate(int(known), 1.0 / np.arange(1, k + 1) ** 1.1, minimum=1)
        rows += [(order, next(names), int(n)) for n in sizes]
        if total > known:
            rows.append((order, "not_classified", int(total - known)))
    return pd.DataFrame(rows, columns=["order", "family", "count"])


def children_per_parent(rank: str) -> float:
    """The release's classes of `rank` per class of its parent rank (2.43 species per genus, 7.01 genera per family)."""
    published = bioscan1m.taxonomy_statistics()
    return published[rank]["categories"] / published[RANK_PARENT[rank]]["categories"]


def release_class_size(rank: str) -> float:
    """Specimens per class in the release: 10.1 per species; a genus as large as its 2.43 species together (24.5)."""
    published = bioscan1m.taxonomy_statistics()
    species = published["species"]["labelled"] / published["species"]["categories"]
    return species if rank == "species" else species * children_per_parent("species")


def rank_targets(records: int, full_scale: bool) -> dict[str, tuple[int, int]]:
    """(labelled rows, categories) per finer rank and BIN: published at full scale, scaled down for a sample.

    A sample keeps each rank's published labelled share. Genera and species are as large as the release's, so that
    CLIBD's rule (species of 10 or more specimens are common) finds common species as it does in the release; the
    other ranks shrink as a subsample's would."""
    published = bioscan1m.taxonomy_statistics()
    targets = {}
    for rank in (*FINER_RANKS, "uri"):
        labelled, categories = published[rank]["labelled"], published[rank]["categories"]
        if not full_scale:
            share = labelled / bioscan1m.N_IMAGES
            labelled = max(10, round(records * share))
            subsample = round(categories * np.sqrt(labelled / published[rank]["labelled"]))
            release_sized = round(labelled / release_class_size(rank)) if rank in RELEASE_SIZED_RANKS else subsample
            categories = max(2, min(round(labelled * 0.3), release_sized))
        targets[rank] = (labelled, categories)
    return targets


def _parents_to_fill(sizes: np.ndarray, labelled: int, categories: int, per_parent: float | None) -> np.ndarray:
    """The parent classes that receive children, largest first: one per child class (`per_parent` None), or
    categories / `per_parent` of them, more where those cannot hold `labelled` rows at LABEL_FILL."""
    order = np.argsort(-sizes, kind="stable")[: int((sizes > 0).sum())]
    if per_parent is None:
        return order[:categories]
    holding = int(np.searchsorted(np.cumsum(sizes[order]), math.ceil(labelled / LABEL_FILL))) + 1
    return order[: max(math.ceil(categories / per_parent), holding)]


def assign_children(
    parent: np.ndarray, labelled: int, categories: int, rng: np.random.Generator, per_parent: float | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Label `labelled` rows with `categories` child classes (more if the parents filled need more), each inside the
    row's parent class (-1 = no parent), about `per_parent` children to a parent if given.

    Returns the child code per row (-1 where unlabelled) and the parent code of each child class.
    """
    eligible = np.flatnonzero(parent >= 0)
    sizes = np.bincount(parent[eligible], minlength=parent.max() + 1)
    allowed = _parents_to_fill(sizes, labelled, categories, per_parent)
    categories = max(categories, len(allowed))
    pool = eligible[np.isin(parent[eligible], allowed)]
    if len(pool) < labelled:
        raise ValueError(f"only {len(pool)} rows can carry {labelled} labels")
    chosen = np.sort(rng.choice(pool, size=labelled, replace=False))
    chosen_parent = parent[chosen]
    present, per_parent = np.unique(chosen_parent, return_counts=True)
    classes_per_parent = allocate(categories, per_parent**0.8, minimum=1, maximum=per_parent)
    offsets = np.concatenate([[0], np.cumsum(classes_per_parent)[:-1]])
    slot = np.searchsorted(present, chosen_parent)
    shuffled = rng.permutation(len(chosen))
    rank_in_parent = np.empty(len(chosen), dtype=np.int64)
    order = np.lexsort((shuffled, slot))
    group_start = np.concatenate([[0], np.cumsum(per_parent)[:-1]])
    rank_in_parent[order] = np.arange(len(chosen)) - np.repeat(group_start, per_parent)
    k = classes_per_parent[slot]
    skewed = np.floor(k * rng.random(len(chosen)) ** 2).astype(np.int64)
    local = np.where(rank_in_parent < k, rank_in_parent, skewed)
    child = np.full(len(parent), -1, dtype=np.int64)
    child[chosen] = offsets[slot] + local
    return child, np.repeat(present, classes_per_parent)


def most_specific(codes: list[np.ndarray]) -> np.ndarray:
    """Per row, its most specific labelled class of `codes` (ranks coarse to fine, -1 unlabelled), numbered across
    ranks so that BINs drawn inside it nest in every labelled rank."""
    parent = np.full(len(codes[0]), -1, dtype=np.int64)
    offset = 0
    for code in codes:
        parent = np.where(code >= 0, offset + code, parent)
        offset += int(code.max()) + 1
    return parent


def bin_uris(count: int, rng: np.random.Generator) -> np.ndarray:
    """`count` distinct BIN URIs shaped like `BOLD:AAB1234`."""
    codes = rng.choice(26**3 * 10_000, size=count, replace=False)
    letters, digits = np.divmod(codes, 10_000)
    first, rest = np.divmod(letters, 26 * 26)
    second, third = np.divmod(rest, 26)
    alphabet = np.array(list("ABCDEFGHIJKLMNOPQRSTUVWXYZ"))
    return np.char.add(
        np.char.add("BOLD:", np.char.add(np.char.add(alphabet[first], alphabet[second]), alphabet[third])),
        np.char.zfill(digits.astype(str), 4),
    )
