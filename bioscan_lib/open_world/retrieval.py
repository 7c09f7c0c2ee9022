"""Open-world retrieval on the CLIBD partition: cosine 1-NN of embeddings (barcodes or photographs) per rank, for seen and unseen
species as CLIBD scores it, and the genus of unseen species among the seen species' training barcodes as BIOSCAN-5M
scores it, each beside the majority answer."""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from bioscan_lib.core.retrieval import majority_accuracy, nearest_keys, retrieval_accuracy
from bioscan_lib.data.bioscan1m import (
    CLIBD_KEYS,
    CLIBD_KEYS_OF_QUERIES,
    CLIBD_QUERIES,
    CLIBD_SPLIT_COLUMN,
    CLIBD_SPLITS,
)
from bioscan_lib.data.later_work import DNA_TO_DNA
from bioscan_lib.data.metadata import labelled
from bioscan_lib.open_world.encoders import Encoder
from bioscan_lib.split.clibd import clibd_partition

RANKS = ("order", "family", "genus", "species")
SEEN_TRAINING = "train_seen"  # the seen species' training specimens: BIOSCAN-5M's keys for the genus of unseen species
UNSEEN_GENUS_QUERIES, UNSEEN_GENUS_RANK = "test_unseen", "genus"
EMBEDDED_SPLITS = (*CLIBD_QUERIES, *CLIBD_KEYS, SEEN_TRAINING)
MAJORITY = "majority answer"
SCORE_COLUMNS = ["queries", "classes", "micro", "macro"]


def partitioned(metadata: pd.DataFrame, metadata_path: str | os.PathLike, seed: int) -> pd.DataFrame:
    """The metadata with each specimen's CLIBD split (read from `CLIBD_partitioning/` if present, else made)."""
    return metadata.assign(**{CLIBD_SPLIT_COLUMN: clibd_partition(metadata, metadata_path, seed)})


def partition_counts(frame: pd.DataFrame) -> pd.DataFrame:
    """Per CLIBD split: specimens, and the species and genera they hold."""
    splits = frame[CLIBD_SPLIT_COLUMN].astype(str)
    rows = {}
    for split in CLIBD_SPLITS:
        part = frame[splits == split]
        rows[split] = {
            "specimens": len(part),
            "species": int(part.loc[labelled(part["species"]), "species"].nunique()),
            "genera": int(part.loc[labelled(part["genus"]), "genus"].nunique()),
        }
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("split").reset_index()


def _labels(frame: pd.DataFrame) -> pd.DataFrame:
    """The ranks' labels, unclassified ones missing."""
    return pd.DataFrame({rank: frame[rank].astype(str).where(labelled(frame[rank])) for rank in RANKS})


def embeddings(frame: pd.DataFrame, encoder: Encoder) -> dict[str, np.ndarray]:
    """Each query and key split's embeddings (and the seen species' training specimens'), rows in metadata order."""
    splits = frame[CLIBD_SPLIT_COLUMN].astype(str)
    return {split: encoder(frame[splits == split]) for split in EMBEDDED_SPLITS}


def _scored(
    frame: pd.DataFrame, embedded: dict[str, np.ndarray], queries: str, keys: str, ranks: tuple[str, ...]
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """1-NN scores of one query split against one key split, and the majority answer's."""
    splits = frame[CLIBD_SPLIT_COLUMN].astype(str)
    query_labels, key_labels = _labels(frame[splits == queries]), _labels(frame[splits == keys])
    if not len(query_labels) or not len(key_labels):
        empty = pd.DataFrame(columns=SCORE_COLUMNS, index=pd.Index(ranks, name="rank"))
        return empty, empty
    nearest = nearest_keys(embedded[queries], embedded[keys], progress=False)
    return retrieval_accuracy(query_labels, key_labels, nearest, ranks), majority_accuracy(
        query_labels, key_labels, ranks
    )


def _long(scores: pd.DataFrame, encoder: str, queries: str, keys: str) -> pd.DataFrame:
    return scores.reset_index().assign(encoder=encoder, queries_split=queries, keys_split=keys)


def open_world_scores(frame: pd.DataFrame, encoders: dict[str, Encoder], task: str = DNA_TO_DNA) -> pd.DataFrame:
    """Per encoder, query split and rank: CLIBD's 1-NN micro and macro accuracy, then BIOSCAN-5M's genus of unseen
    species against `train_seen`; the majority answer of each search once, as its own encoder; all of one `task`."""
    searches = [*CLIBD_KEYS_OF_QUERIES.items(), (UNSEEN_GENUS_QUERIES, SEEN_TRAINING)]
    rows, majority = [], {}
    for name, encoder in tqdm(encoders.items(), desc="encoders", unit="encoder"):
        embedded = embeddings(frame, encoder)
        for queries, keys in searches:
            ranks = RANKS if keys != SEEN_TRAINING else (UNSEEN_GENUS_RANK,)
            scores, majority[(queries, keys)] = _scored(frame, embedded, queries, keys, ranks)
            rows.append(_long(scores, name, queries, keys))
    rows += [_long(scores, MAJORITY, *search) for search, scores in majority.items()]
    table = pd.concat(rows, ignore_index=True).assign(task=task)
    columns = ["task", "encoder", "queries_split", "keys_split", "rank", *SCORE_COLUMNS]
    return table[columns].astype({"queries": "Int64", "classes": "Int64", "micro": float, "macro": float})
