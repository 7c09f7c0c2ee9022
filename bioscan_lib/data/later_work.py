"""Published figures of the later BIOSCAN work on species no classifier saw, each with where it comes from and on
what data (percent)."""

from __future__ import annotations

from typing import NamedTuple

import pandas as pd

from bioscan_lib.data.bioscan1m import CLIBD_KEYS_OF_QUERIES

BIOSCAN5M_SOURCE = "BIOSCAN-5M, repository README (bioscan-ml/BIOSCAN-5M)"
BIOSCAN5M_DATA = "BIOSCAN-5M: test_unseen barcodes, cosine 1-NN among train (seen species)"
BLAST_SOURCE = "BIOSCAN-5M README; BLAST run of bioscan-ml/BarcodeBERT, branch BIOSCAN-5M"
CLIBD_SOURCE = "CLIBD (ICLR 2025), project page bioscan-ml.github.io/clibd"
CLIBD_DATA = "BIOSCAN-1M, CLIBD partition: test_seen / test_unseen queries against their keys"
DNA_TO_DNA, IMAGE_TO_IMAGE = "DNA→DNA 1-NN", "image→image 1-NN"
MICRO = "micro"  # BarcodeBERT's knn_probing.py reports sklearn's accuracy_score
NOT_STATED = "not stated there (the paper reports micro and macro)"


class PublishedFigure(NamedTuple):
    """One published number: encoder, what it scores, its value and its provenance."""

    encoder: str
    task: str
    queries_split: str
    keys_split: str
    rank: str
    value: float
    average: str
    source: str
    data: str


def _bioscan5m(encoder: str, value: float, source: str = BIOSCAN5M_SOURCE) -> PublishedFigure:
    return PublishedFigure(
        encoder, DNA_TO_DNA, "test_unseen", "train_seen", "genus", value, MICRO, source, BIOSCAN5M_DATA
    )


def _clibd(encoder: str, task: str, seen: float, unseen: float) -> list[PublishedFigure]:
    return [
        PublishedFigure(
            encoder, task, split, CLIBD_KEYS_OF_QUERIES[split], "species", value, NOT_STATED, CLIBD_SOURCE, CLIBD_DATA
        )
        for split, value in (("test_seen", seen), ("test_unseen", unseen))
    ]


PUBLISHED_OPEN_WORLD = (
    _bioscan5m("CNN baseline", 29.88),
    _bioscan5m("NT", 21.67),
    _bioscan5m("DNABERT-2", 17.99),
    _bioscan5m("DNABERT-S", 17.70),
    _bioscan5m("HyenaDNA", 19.26),
    _bioscan5m("BarcodeBERT (pretrained on 1.5M Canadian invertebrates)", 23.15),
    _bioscan5m("BarcodeBERT 8-4-4 (pretrained on BIOSCAN-5M)", 47.03),
    _bioscan5m("BLAST", 58.74, BLAST_SOURCE),
    *_clibd("BarcodeBERT, before alignment", DNA_TO_DNA, 76.4, 63.6),
    *_clibd("CLIBD (BarcodeBERT aligned with images and text)", DNA_TO_DNA, 95.6, 90.4),
    *_clibd("CLIBD (image encoder aligned)", IMAGE_TO_IMAGE, 59.3, 45.0),
)


def published_open_world() -> pd.DataFrame:
    """The published figures as a table, one row each."""
    return pd.DataFrame(PUBLISHED_OPEN_WORLD, columns=list(PublishedFigure._fields))
