"""Writing tables (CSV and Markdown) and figures (PNG) under a profile's output folder."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from bioscan_lib.core.files import atomic_path, write_text_atomic


def save_table(table: pd.DataFrame, out_dir: str | os.PathLike, name: str, index: bool = False) -> Path:
    """Write `table` as `<out_dir>/tables/<name>.csv` and `.md`; return the CSV path."""
    folder = Path(out_dir) / "tables"
    write_csv(table, folder / f"{name}.csv", index)
    write_text_atomic(folder / f"{name}.md", table.to_markdown(index=index) + "\n")
    return folder / f"{name}.csv"


def write_csv(table: pd.DataFrame, path: str | os.PathLike, index: bool = False) -> Path:
    """Write `table` as a CSV file through a temporary file; return the path."""
    with atomic_path(path) as temporary:
        table.to_csv(temporary, index=index)
    return Path(path)


def save_figure(figure, out_dir: str | os.PathLike, name: str, dpi: int = 120) -> Path:
    """Write a matplotlib figure as `<out_dir>/figures/<name>.png`, byte-stable for the same content."""
    path = Path(out_dir) / "figures" / f"{name}.png"
    with atomic_path(path) as temporary:
        figure.savefig(temporary, format="png", dpi=dpi, bbox_inches="tight", metadata={"Software": None})
    return path
