"""Reading torch checkpoint files safely: `weights_only` always, and one-line errors that name the file."""

from __future__ import annotations

import os
import pickle
import zipfile
from pathlib import Path
from typing import Any

REFUSAL_MARKERS = ("GLOBAL", "Unsupported", "Can only", "not an allowed")
UNPACKED_MARGIN = 16 << 20  # torch stores a file's records uncompressed: unpacking to more than size + this is refused


class CheckpointError(ValueError):
    """A checkpoint file that cannot be used, with the file, what was expected and what to do."""


def _refusal_reason(error: Exception) -> str:
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    telling = [line for line in lines if any(marker in line for marker in REFUSAL_MARKERS)]
    return (telling or lines or [type(error).__name__])[0][:200]


RELEASED_CHECKPOINT = "released classification checkpoint"  # what `import-checkpoint` reads


def existing_file(path: str | os.PathLike, what: str) -> Path:
    """`path` if it is a file, else an error naming it and `what` it should be."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: {what} not found")
    return path


def load_checkpoint_file(path: str | os.PathLike, what: str, allowed: list | tuple = ()) -> Any:
    """The content of a torch file loaded with `weights_only` (plus the `allowed` globals), so nothing in it can run.

    A file holding other Python objects is refused, and a truncated or corrupt one reported, naming the file and
    `what` it should be."""
    import torch

    path = existing_file(path, what)
    _check_unpacked_size(path, what)
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


def _check_unpacked_size(path: Path, what: str) -> None:
    """Refuse a torch (ZIP) file whose records unpack to far more than its size, before any is read: a zip bomb."""
    if not zipfile.is_zipfile(path):
        return
    try:
        with zipfile.ZipFile(path) as archive:
            unpacked = sum(member.file_size for member in archive.infolist())
    except (zipfile.BadZipFile, OSError) as error:
        raise CheckpointError(f"{path}: not a readable torch file ({error}); download the {what} again.") from error
    if unpacked > path.stat().st_size + UNPACKED_MARGIN:
        raise CheckpointError(
            f"{path}: refused: its records unpack to {unpacked:,} bytes from a {path.stat().st_size:,}-byte file; "
            f"torch writes them uncompressed, so this is no {what}: do not trust this file."
        )


def check_finite(state: dict[str, Any], path: str | os.PathLike) -> None:
    """Refuse a state dict holding a NaN or infinite weight, naming the file and the first such tensor."""
    for key, value in state.items():
        if getattr(value, "is_floating_point", lambda: False)() and not value.isfinite().all():
            raise CheckpointError(
                f"{path}: {key} holds NaN or infinite weights; the training that wrote it diverged or the file is "
                "damaged: do not test it; train again or get the file again."
            )
