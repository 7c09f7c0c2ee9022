"""Writing tables (CSV and Markdown) and figures (PNG and SVG) under a profile's output folder."""

from __future__ import annotations

import fnmatch
import os
from dataclasses import dataclass
from pathlib import Path

import matplotlib
import pandas as pd

from bioscan_lib.core.files import atomic_path, write_text_atomic

TABLES_FOLDER = "tables"
FIGURES_FOLDER = "figures"
NO_ROWS = "No rows in this run."
FIGURE_METADATA = {"png": {"Software": None}, "svg": {"Creator": None, "Date": None}}  # no version, no time
SVG_HASH_SALT = "bioscan-repro"  # the SVG's element ids are hashes salted with this, the same on every save


@dataclass(frozen=True)
class Output:
    """A table or figure a stage writes: its file stem (`{}` where one is written per experiment or run) and heading."""

    stem: str
    title: str

    def name(self, key: str = "") -> str:
        """The file stem, with `key` (an experiment or run name) in place of `{}`."""
        if ("{}" in self.stem) != bool(key):
            raise ValueError(f"{self.stem!r} takes {'a' if '{}' in self.stem else 'no'} key; got {key!r}.")
        return self.stem.format(key)

    def matches(self, name: str) -> bool:
        """Whether a file stem is this output's."""
        return fnmatch.fnmatchcase(name, self.stem.replace("{}", "?*"))

    def heading(self, name: str) -> str:
        """The heading of the file `name`: the title, with the experiment or run in place of `{}`."""
        prefix, _, suffix = self.stem.partition("{}")
        return self.title.format(name[len(prefix) : len(name) - len(suffix)])


@dataclass(frozen=True)
class Table(Output):
    """A table (CSV and Markdown under `tables/`), with what it means when empty and its share columns (0-1)."""

    empty_reason: str = NO_ROWS
    share_columns: tuple[str, ...] = ()

    def save(self, table: pd.DataFrame, out_dir: str | os.PathLike, key: str = "") -> Path:
        """Write `table` under `out_dir`; return the CSV path."""
        return save_table(table, out_dir, self.name(key))

    def path(self, out_dir: str | os.PathLike, key: str = "") -> Path:
        """Where the CSV of this table is under `out_dir`."""
        return Path(out_dir) / TABLES_FOLDER / f"{self.name(key)}.csv"


@dataclass(frozen=True)
class Figure(Output):
    """A figure (PNG, and SVG for print, under `figures/`)."""

    def save(self, figure, out_dir: str | os.PathLike, key: str = "") -> Path:
        """Write `figure` under `out_dir` as PNG and SVG; return the PNG path."""
        return save_figure(figure, out_dir, self.name(key))


def save_table(table: pd.DataFrame, out_dir: str | os.PathLike, name: str, index: bool = False) -> Path:
    """Write `table` as `<out_dir>/tables/<name>.csv` and `.md`; return the CSV path."""
    folder = Path(out_dir) / TABLES_FOLDER
    write_csv(table, folder / f"{name}.csv", index)
    write_text_atomic(folder / f"{name}.md", table.to_markdown(index=index) + "\n")
    return folder / f"{name}.csv"


def write_csv(table: pd.DataFrame, path: str | os.PathLike, index: bool = False) -> Path:
    """Write `table` as a CSV file through a temporary file; return the path."""
    with atomic_path(path) as temporary:
        table.to_csv(temporary, index=index)
    return Path(path)


def save_figure(figure, out_dir: str | os.PathLike, name: str, dpi: int = 120) -> Path:
    """Write a matplotlib figure as `<out_dir>/figures/<name>.png` and `.svg`, each byte-stable for the same content;
    return the PNG path."""
    folder = Path(out_dir) / FIGURES_FOLDER
    with matplotlib.rc_context({"svg.hashsalt": SVG_HASH_SALT}):
        for extension, metadata in FIGURE_METADATA.items():
            with atomic_path(folder / f"{name}.{extension}") as temporary:
                figure.savefig(temporary, format=extension, dpi=dpi, bbox_inches="tight", metadata=metadata)
    return folder / f"{name}.png"
