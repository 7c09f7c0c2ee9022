"""BarcodeBERT from a local file: its k-mer tokens, embeddings equal to transformers' own forward pass, and one-line
refusals of files that do not fit."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from transformers import BertConfig, BertForTokenClassification

from bioscan_lib.core import retrieval
from bioscan_lib.core.checkpoint_files import CheckpointError
from bioscan_lib.dna import barcodebert

K = 4
TOKENS = 165  # 660 bases in 4-mers
TINY = {
    "vocab_size": 258,  # [MASK], [UNK] and 256 4-mers
    "hidden_size": 16,
    "num_hidden_layers": 2,
    "num_attention_heads": 2,
    "intermediate_size": 32,
    "max_position_embeddings": 176,
    "num_labels": 256,
    "output_hidden_states": True,
}
ACGT, AAAA, TTTT, UNK = 29, 2, 257, 1  # 2 + the k-mer's index in itertools.product order; [UNK] is 1


@pytest.fixture(scope="module")
def model() -> BertForTokenClassification:
    """A tiny randomly initialised BarcodeBERT-shaped model (seeded)."""
    torch.manual_seed(0)
    return BertForTokenClassification(BertConfig(**TINY)).eval()


@pytest.fixture
def checkpoint(model: BertForTokenClassification, tmp_path: Path) -> Path:
    return barcodebert.write_checkpoint(tmp_path / "tiny.pt", model)


def _rewritten(path: Path, change: Callable[[dict], None]) -> Path:
    """The checkpoint at `path` with `change` applied to its content, saved beside it."""
    content = torch.load(path, weights_only=True)
    change(content)
    changed = path.with_name("changed.pt")
    torch.save(content, changed)
    return changed


def test_tokens_are_non_overlapping_kmers_padded_with_unknown_and_masked_to_the_read() -> None:
    reads = pd.Series(["ACGTAAAATTTT", "acgtNNNN", "ACGRACGTAC", "A" * 700, None])
    ids, mask = barcodebert.tokens(reads, K)
    assert ids.shape == mask.shape == (5, TOKENS)
    assert ids[0, :4].tolist() == [ACGT, AAAA, TTTT, UNK] and (ids[0, 3:] == UNK).all()
    assert mask[0].sum() == 3 and mask[0, :3].all()
    assert ids[1, :2].tolist() == [ACGT, UNK] and mask[1].sum() == 1  # upper-cased, trailing Ns stripped
    assert ids[2, :3].tolist() == [UNK, ACGT, UNK] and mask[2].tolist()[:3] == [True, True, False]
    assert (ids[3] == AAAA).all() and mask[3].all()  # cut at 660 bases
    assert (ids[4] == UNK).all() and not mask[4].any()
    eights, covered = barcodebert.tokens(pd.Series(["C" * 660]), 8)
    assert eights.shape == (1, 82) and (eights == 2 + int("11111111", 4)).all() and covered.all()
    with pytest.raises(ValueError, match="k-mer length 0 is below 1"):
        barcodebert.tokens(reads, 0)


def _direct_embeddings(model: BertForTokenClassification, reads: pd.Series) -> torch.Tensor:
    """transformers' own forward pass of the model, its last hidden layer averaged over the masked-in tokens."""
    ids, mask = (torch.from_numpy(array).long() for array in barcodebert.tokens(reads, K))
    with torch.no_grad():
        last = model(ids, attention_mask=mask, output_hidden_states=True).hidden_states[-1]
    return (last * mask.unsqueeze(-1)).sum(dim=1) / mask.sum(dim=1, keepdim=True)


def _with_prefix(content: dict) -> None:
    content["model"] = {f"module.{key}": value for key, value in content["model"].items()}


def _as_barcodebert_trained_it(content: dict) -> None:
    """Its training settings (an argparse Namespace) and the position buffer transformers 4.29 saved."""
    content["config"] = argparse.Namespace(k_mer=K, n_layers=2, max_len=660)
    content["model"]["bert.embeddings.position_ids"] = torch.arange(TINY["max_position_embeddings"])[None]


@pytest.mark.parametrize("change", [lambda content: None, _with_prefix, _as_barcodebert_trained_it])
def test_embeddings_are_those_of_transformers_forward_pass(
    model: BertForTokenClassification, checkpoint: Path, change: Callable[[dict], None]
) -> None:
    encoder = barcodebert.load_checkpoint(_rewritten(checkpoint, change))
    assert encoder.k == K and not encoder.model.training
    rng = np.random.default_rng(0)
    reads = pd.Series(["".join(rng.choice(list("ACGTN"), size)) for size in (658, 420, 37, 700, 5)])
    embeddings = barcodebert.embed(encoder, reads, batch_size=2)
    assert embeddings.shape == (5, TINY["hidden_size"]) and embeddings.dtype == np.float32
    assert torch.allclose(torch.from_numpy(embeddings), _direct_embeddings(model, reads), atol=1e-5)
    assert not barcodebert.embed(encoder, pd.Series(["ACG", ""])).any()  # no whole k-mer: zeros


def _drop(entry: str) -> Callable[[dict], None]:
    return lambda content: content.pop(entry)


def _configured(**changes) -> Callable[[dict], None]:
    return lambda content: content["bert_config"].update(changes)


def _without_key(content: dict) -> None:
    del content["model"]["bert.encoder.layer.1.output.dense.bias"]


def _paper_vocabulary(content: dict) -> None:
    content["bert_config"]["vocab_size"] = 259
    content["model"]["bert.embeddings.word_embeddings.weight"] = torch.zeros(259, TINY["hidden_size"])


MALFORMED = {
    "missing model": (_drop("model"), r"no 'model' dict \(found \['bert_config'\]\).*write_checkpoint does"),
    "missing config": (_drop("bert_config"), r"no 'bert_config' dict"),
    "vocabulary not of k-mers": (_paper_vocabulary, r"vocab_size 259 is not 4\*\*k \+ 2 .*use a model"),
    "vocabulary of another k": (_configured(vocab_size=1026), r"word_embeddings.weight \(258, 16\) for \(1026, 16\)"),
    "missing weight": (_without_key, r"layer.1.output.dense.bias missing.*save the model with the config"),
    "too few positions": (_configured(max_position_embeddings=100), r"100 is below the 165 4-mers"),
    "bad config": (_configured(num_attention_heads=3), r"'bert_config' is no BertConfig .*write_checkpoint does"),
}


@pytest.mark.parametrize("case", list(MALFORMED))
def test_a_file_that_does_not_fit_gets_one_line_naming_it(checkpoint: Path, case: str) -> None:
    change, expected = MALFORMED[case]
    path = _rewritten(checkpoint, change)
    with pytest.raises(CheckpointError, match=expected) as caught:
        barcodebert.load_checkpoint(path)
    assert str(caught.value).startswith(f"{path}: ") and "\n" not in str(caught.value)


class _Payload:
    def __reduce__(self) -> tuple:
        return print, ("the checkpoint ran code",)


def test_a_file_holding_python_objects_is_refused_without_running_them(
    checkpoint: Path, capsys: pytest.CaptureFixture
) -> None:
    path = checkpoint.with_name("scheduler.pt")
    torch.save({**torch.load(checkpoint, weights_only=True), "scheduler": _Payload()}, path)
    with pytest.raises(CheckpointError, match=r"scheduler\.pt: refused: .*print"):
        barcodebert.load_checkpoint(path)
    assert "ran code" not in capsys.readouterr().out


def test_a_written_checkpoint_holds_the_two_entries_and_a_failed_write_leaves_nothing(
    model: BertForTokenClassification, checkpoint: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    content = torch.load(checkpoint, weights_only=True)
    assert sorted(content) == ["bert_config", "model"] and content["bert_config"]["vocab_size"] == TINY["vocab_size"]
    monkeypatch.setattr(torch, "save", lambda *args: (_ for _ in ()).throw(OSError("disk full")))
    with pytest.raises(OSError, match="disk full"):
        barcodebert.write_checkpoint(checkpoint.with_name("failed.pt"), model)
    assert sorted(path.name for path in checkpoint.parent.iterdir()) == ["tiny.pt"]


def test_the_probes_tell_two_lineages_apart(checkpoint: Path) -> None:
    rng = np.random.default_rng(1)
    templates = rng.choice(list("ACGT"), (2, 600))
    labels = np.arange(24) % 2
    mutated = [np.where(rng.random(600) < 0.05, rng.choice(list("ACGT"), 600), templates[label]) for label in labels]
    embeddings = barcodebert.embed(barcodebert.load_checkpoint(checkpoint), pd.Series(map("".join, mutated)))
    train, test = slice(0, 16), slice(16, None)
    probe = barcodebert.linear_probe(embeddings[train], labels[train])
    assert (probe.predict(embeddings[test]) == labels[test]).all()
    nearest = retrieval.nearest_keys(embeddings[test], embeddings[train], progress=False)
    assert (labels[train][nearest] == labels[test]).all(), "1-NN (BarcodeBERT's kNN probe) through core.retrieval"
