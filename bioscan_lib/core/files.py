"""Safe file writing: everything lands under a temporary name and is renamed when complete."""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections.abc import Iterator
from pathlib import Path

from tqdm.auto import tqdm


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside `path`; rename it to `path` only if the block succeeds."""
    final = Path(path)
    final.parent.mkdir(parents=True, exist_ok=True)
    temporary = final.with_name(f".{final.name}.{os.getpid()}.partial")
    try:
        yield temporary
        os.replace(temporary, final)
    finally:
        with contextlib.suppress(OSError):  # on a read-only or vanished folder, the first error is the one to tell
            temporary.unlink(missing_ok=True)


def write_bytes_atomic(path: str | os.PathLike, data: bytes) -> Path:
    """Write `data` to `path` through a temporary file."""
    with atomic_path(path) as temporary:
        temporary.write_bytes(data)
    return Path(path)


def write_text_atomic(path: str | os.PathLike, text: str) -> Path:
    """Write `text` (UTF-8) to `path` through a temporary file."""
    return write_bytes_atomic(path, text.encode("utf-8"))


def file_digests(
    path: str | os.PathLike,
    algorithms: tuple[str, ...] = ("sha256",),
    block: int = 1 << 20,
    progress: str | None = None,
) -> tuple[str, ...]:
    """Hex digests of a file in one pass, one per algorithm; a progress bar titled `progress` if given."""
    digests = [hashlib.new(name, usedforsecurity=False) for name in algorithms]
    total = Path(path).stat().st_size
    with (
        open(path, "rb") as handle,
        tqdm(
            total=total,
            unit="B",
            unit_scale=True,
            unit_divisor=1024,
            desc=progress,
            leave=False,
            disable=progress is None,
        ) as bar,
    ):
        while chunk := handle.read(block):
            for digest in digests:
                digest.update(chunk)
            bar.update(len(chunk))
    return tuple(digest.hexdigest() for digest in digests)
