"""Safe reading of torch files: weights_only always, allowed globals only, one-line errors naming the file."""

from __future__ import annotations

import collections
from pathlib import Path

import pytest
import torch

from bioscan_lib.core.checkpoint_files import CheckpointError, load_checkpoint_file


def test_plain_content_loads_and_other_objects_need_to_be_allowed(tmp_path: Path) -> None:
    path = tmp_path / "file.pt"
    torch.save({"epoch": 3, "weights": torch.ones(2)}, path)
    assert load_checkpoint_file(path, "checkpoint")["epoch"] == 3
    counter = tmp_path / "counter.pt"
    torch.save({"seen": collections.ChainMap({"a": 1})}, counter)
    with pytest.raises(CheckpointError, match=r"counter\.pt: refused: .*ChainMap.*a checkpoint does not"):
        load_checkpoint_file(counter, "checkpoint")
    assert load_checkpoint_file(counter, "checkpoint", [collections.ChainMap])["seen"]["a"] == 1


def test_missing_and_damaged_files_say_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="absent.pt: crop tool checkpoint not found"):
        load_checkpoint_file(tmp_path / "absent.pt", "crop tool checkpoint")
    damaged = tmp_path / "damaged.pt"
    damaged.write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(CheckpointError, match="damaged.pt: not a readable torch file.*download the weights again"):
        load_checkpoint_file(damaged, "weights")
