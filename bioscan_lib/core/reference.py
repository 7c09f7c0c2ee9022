"""The published numbers of the BIOSCAN-1M paper and release, as shipped with the suite."""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

N_IMAGES = 1_128_313
RANKS = ("phylum", "class", "order", "family", "subfamily", "tribe", "genus", "species", "uri")


@cache
def published() -> dict[str, Any]:
    """Every published number (a copy of the reference `published.json`)."""
    return json.loads(resources.files("bioscan_lib.core").joinpath("published.json").read_text("utf-8"))


def published_order_counts() -> dict[str, int]:
    """The 16 orders and their specimen counts, largest first."""
    return dict(published()["order_counts"])


def diptera_family_counts() -> dict[str, int]:
    """The 40 most populous Diptera families and their counts, largest first."""
    return dict(published()["diptera_top40_family_counts"])


def taxonomy_statistics() -> dict[str, dict[str, int]]:
    """Per rank: number of categories and of labelled samples."""
    return dict(published()["taxonomy_statistics"])


def split_sizes() -> dict[str, dict[str, int]]:
    """Classes and train/validation/test sizes of the six experiments."""
    return dict(published()["split_sizes_derived"])
