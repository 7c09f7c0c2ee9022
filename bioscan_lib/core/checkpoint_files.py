"""Reading torch checkpoint files safely: `weights_only` always, and one-line errors that name the file."""

from __future__ import annotations

import os
import pickle
import zipfile
from pathlib import Path
from typing import Any

REFUSAL_MARKERS = ("GLOBAL", "Unsupported", "Can only", "not an allowed")


class CheckpointError(ValueError):
    """A checkpoint file that cannot be used, with the file, what was expected and what to do."""


def _refusal_reason(error: Exception) -> str:
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    telling = [line for line in lines if any(marker in line for marker in REFUSAL_MARKERS)]
    return (telling or lines or [type(error).__name__])[0][:200]


def load_checkpoint_file(path: str | os.PathLike, what: str, allowed: list | tuple = ()) -> Any:
    """The content of a torch file loaded with `weights_only` (plus the `allowed` globals), so nothing in it can run.

    A file holding other Python objects is refused, and a truncated or corrupt one reported, naming the file and
    `what` it should be."""
    import torch

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: {what} not found")
    try:
        with torch.serialization.safe_globals(list(allowed)):
            return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        raise CheckpointError(
            f"{path}: refused: it holds Python objects other than tensors and plain values ({_refusal_reason(error)});"
            f" a {what} does not, so do not trust this file."
        ) from error
    except (RuntimeError, EOFError, OSError, zipfile.BadZipFile) as error:
        raise CheckpointError(
            f"{path}: not a readable torch file ({type(error).__name__}: {str(error)[:120]}); the file is truncated "
            f"or corrupt: download the {what} again."
        ) from error
