"""A pretrained BarcodeBERT encoder read from a local file, its tokens and its barcode embeddings, with a linear probe (1-NN: core.retrieval).

The file is what BarcodeBERT's `load_pretrained_model` reads (bioscan-ml/BarcodeBERT, barcodebert/io.py): a torch
file holding a dict with "model", the state dict of transformers' `BertForTokenClassification` (keys may start with
"module."), and "bert_config", the keyword arguments of `BertConfig`; other entries (training state) are ignored.
It is read with `weights_only` (BarcodeBERT's argparse settings allowed), so nothing in it can run: a training
checkpoint whose scheduler holds a Python method (OneCycleLR before torch 2.4) is refused; keep its two entries.

Tokens as BarcodeBERT's `KmerTokenizer` makes them for its probes (barcodebert/datasets.py, knn_probing.py): the
vocabulary is [MASK], [UNK], then the ACGT k-mers in itertools.product order; the read, cleaned as the data layer
states (BarcodeBERT's tokeniser only cuts at 660; it neither upper-cases nor strips trailing Ns), is padded with N to
660 bases and cut into 660 // k non-overlapping k-mers (no [CLS]; bases past the last whole k-mer dropped); a k-mer
holding any other byte is [UNK], and the attention mask covers the read's whole k-mers.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.compute as pc
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler
from tqdm.auto import tqdm
from transformers import BertConfig, BertForTokenClassification

from bioscan_lib.config import DEFAULT_SEED, KmerConfig
from bioscan_lib.core.checkpoint_files import CheckpointError, check_finite, load_checkpoint_file
from bioscan_lib.core.files import atomic_path
from bioscan_lib.data.barcodes import BARCODE_SITES, BASES, NO_BASE, ROWS_PER_CHUNK, base_codes, clean

SPECIAL_TOKENS = ("[MASK]", "[UNK]")  # ids 0 and 1; the k-mers follow
UNKNOWN = SPECIAL_TOKENS.index("[UNK]")
ENTRIES = ("model", "bert_config")
PARALLEL_PREFIX = "module."  # what DistributedDataParallel puts before each key
OLD_POSITION_IDS = "bert.embeddings.position_ids"  # a buffer transformers < 4.31 saved (BarcodeBERT pins 4.29.2)
WHAT = "BarcodeBERT checkpoint"
RESAVE = "save the model with the config it was built from (write_checkpoint does)"
EMBEDDING_BATCH = 256


@dataclasses.dataclass(frozen=True)
class BarcodeBertEncoder:
    """A BarcodeBERT model in eval mode and the k-mer length its vocabulary is made of."""

    model: BertForTokenClassification
    k: int


def vocabulary_size(k: int) -> int:
    """Tokens of BarcodeBERT's k-mer vocabulary: the special ones and every ACGT k-mer."""
    return len(SPECIAL_TOKENS) + len(BASES) ** k


def tokens(reads: pd.Series, k: int) -> tuple[np.ndarray, np.ndarray]:
    """(reads, 660 // k) int32 token ids and bool attention mask of the cleaned reads, as BarcodeBERT tokenises."""
    if k < 1:
        raise ValueError(f"k-mer length {k} is below 1; BarcodeBERT's models use k from 4 to 8.")
    codes = base_codes(reads)
    ids = np.empty((len(codes), BARCODE_SITES // k), dtype=np.int32)
    for start in range(0, len(codes), ROWS_PER_CHUNK):  # a chunk at a time stays in cache: 1.8x faster
        rows = slice(start, start + ROWS_PER_CHUNK)
        ids[rows] = _kmer_ids(codes[rows], k)
    lengths = pc.utf8_length(clean(reads)).to_numpy(zero_copy_only=False)
    return ids, np.arange(ids.shape[1]) < (lengths // k)[:, None]


def _kmer_ids(codes: np.ndarray, k: int) -> np.ndarray:
    """Token ids of the non-overlapping k-mers of rows of base codes, [UNK] where a k-mer holds no base."""
    positions = codes.shape[1] // k
    ids = np.zeros((len(codes), positions), dtype=np.int32)
    unknown = np.zeros((len(codes), positions), dtype=bool)
    for offset in range(k):
        bases = codes[:, offset : positions * k : k]
        ids *= len(BASES)
        ids += bases
        unknown |= bases == NO_BASE
    ids += len(SPECIAL_TOKENS)
    ids[unknown] = UNKNOWN
    return ids


def write_checkpoint(path: str | os.PathLike, model: BertForTokenClassification) -> Path:
    """Write `model` in BarcodeBERT's format ("model" and "bert_config" only), through a temporary file."""
    with atomic_path(path) as temporary:
        torch.save({"model": model.state_dict(), "bert_config": model.config.to_dict()}, temporary)
    return Path(path)


def load_checkpoint(path: str | os.PathLike) -> BarcodeBertEncoder:
    """The encoder in a BarcodeBERT checkpoint file, built from transformers' own classes; one-line errors name
    the file and what does not fit."""
    content = load_checkpoint_file(path, WHAT, [argparse.Namespace])
    missing = [entry for entry in ENTRIES if not isinstance(content, dict) or not isinstance(content.get(entry), dict)]
    if missing:
        found = sorted(map(str, content)) if isinstance(content, dict) else type(content).__name__
        raise CheckpointError(
            f"{path}: no {' or '.join(map(repr, missing))} dict (found {found}); a {WHAT} holds 'model' (a "
            f"BertForTokenClassification state dict) and 'bert_config' (BertConfig's arguments): {RESAVE}."
        )
    model, k = _described_model(content["bert_config"], path)
    state = _fitting_state(content["model"], model.state_dict(), path)
    model.load_state_dict(state)
    return BarcodeBertEncoder(model.eval(), k)


def _described_model(arguments: dict[str, Any], path: str | os.PathLike) -> tuple[BertForTokenClassification, int]:
    """The model that "bert_config" describes (random weights) and its k; one line if it describes none."""
    try:
        config = BertConfig(**arguments)
        k = _kmer_length(config, path)
        return BertForTokenClassification(config), k
    except CheckpointError:
        raise
    except (TypeError, ValueError) as error:
        message = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise CheckpointError(f"{path}: its 'bert_config' is no BertConfig ({message}); {RESAVE}.") from error


def _kmer_length(config: BertConfig, path: str | os.PathLike) -> int:
    """The k whose vocabulary, 4**k + 2, is the model's; and the model must take a barcode's 660 // k tokens."""
    k = round(math.log(max(config.vocab_size - len(SPECIAL_TOKENS), 1), len(BASES)))
    if k < 1 or vocabulary_size(k) != config.vocab_size:
        raise CheckpointError(
            f"{path}: vocab_size {config.vocab_size} is not 4**k + 2 for any k ([MASK], [UNK] and the ACGT k-mers); "
            "it is another tokenisation (the paper's first models had 4**k + 3): use a model with BarcodeBERT's k-mer vocabulary."
        )
    if config.max_position_embeddings < BARCODE_SITES // k:
        raise CheckpointError(
            f"{path}: max_position_embeddings {config.max_position_embeddings} is below the {BARCODE_SITES // k} "
            f"{k}-mers of a {BARCODE_SITES}-base barcode; this model cannot embed them: use one trained on them."
        )
    return k


def _fitting_state(state: dict[str, Any], expected: dict[str, torch.Tensor], path: str | os.PathLike) -> dict:
    """The "model" entry without DistributedDataParallel's prefix, refused in one line unless every key and shape is
    the config's."""
    state = {str(key).removeprefix(PARALLEL_PREFIX): value for key, value in state.items()}
    state.pop(OLD_POSITION_IDS, None)  # always 0 .. max_position_embeddings - 1; transformers rebuilds it
    differences = [f"{key} missing" for key in expected if key not in state]
    differences += [f"{key} unexpected" for key in state if key not in expected]
    differences += [
        f"{key} {tuple(getattr(state[key], 'shape', ()))} for {tuple(wanted.shape)}"
        for key, wanted in expected.items()
        if key in state and getattr(state[key], "shape", None) != wanted.shape
    ]
    if differences:
        shown = "; ".join(differences[:3]) + (f"; and {len(differences) - 3} more" if len(differences) > 3 else "")
        raise CheckpointError(f"{path}: its 'model' does not fit its 'bert_config' ({shown}); {RESAVE}.")
    check_finite(state, path)
    return state


def embed(encoder: BarcodeBertEncoder, reads: pd.Series, batch_size: int = EMBEDDING_BATCH) -> np.ndarray:
    """(reads, hidden) float32: each read's mean of the last layer over its masked-in tokens, as BarcodeBERT's
    probes take it (the token classifier is not run); zeros for a read without a whole k-mer."""
    ids, mask = tokens(reads, encoder.k)
    device = next(encoder.model.parameters()).device
    embeddings = np.empty((len(ids), encoder.model.config.hidden_size), dtype=np.float32)
    starts = range(0, len(ids), batch_size)
    with torch.inference_mode():
        for start in tqdm(starts, desc="embedding barcodes", unit="batch", leave=False, disable=len(starts) < 2):
            rows = slice(start, start + batch_size)
            batch = torch.from_numpy(ids[rows]).long().to(device), torch.from_numpy(mask[rows]).long().to(device)
            embeddings[rows] = _mean_of_last_layer(encoder.model, *batch).cpu().numpy()
    return embeddings


def _mean_of_last_layer(model: BertForTokenClassification, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """The last hidden layer averaged over the tokens the mask covers (zeros where it covers none)."""
    hidden = model.bert(input_ids=ids, attention_mask=mask).last_hidden_state
    weights = mask.unsqueeze(-1).to(hidden.dtype)
    covered = weights.sum(dim=1)
    return torch.where(covered > 0, (hidden * weights).sum(dim=1) / covered.clamp(min=1), 0.0)


def linear_probe(
    embeddings: np.ndarray, labels: np.ndarray, seed: int = DEFAULT_SEED, max_iter: int = KmerConfig.max_iter
) -> Pipeline:
    """A multinomial logistic regression on the standardised embeddings, fitted as the k-mer classifier's is
    (BarcodeBERT's linear_probing.py trains a linear layer by SGD instead)."""
    probe = make_pipeline(StandardScaler(), LogisticRegression(max_iter=max_iter, random_state=seed))
    return probe.fit(embeddings, labels)
