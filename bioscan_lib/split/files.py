"""Where a profile's split lies: the split TSV and each experiment's class list, found without reading them (so
without pandas), for the checks made before any work."""

from __future__ import annotations

import os
from pathlib import Path

SPLIT_FILE_NAME = "split_metadata.tsv"


def split_folder(output_dir: str | os.PathLike) -> Path:
    """The folder of a profile's split TSV and class lists: `<output_dir>/split`."""
    return Path(output_dir) / "split"


def existing_split_file(folder: str | os.PathLike) -> Path:
    """The split TSV in `folder`; where it is absent, an error saying how to make it."""
    path = Path(folder) / SPLIT_FILE_NAME
    if not path.is_file():
        raise FileNotFoundError(
            f"No split TSV {path}; make it with notebook 03 of this profile "
            f"(`bioscan-repro reproduce --profile <profile> --only 03`) or `bioscan-repro split --profile <profile>`."
        )
    return path


def class_list_path(folder: str | os.PathLike, experiment: str) -> Path:
    """Where an experiment's class list lies beside the split TSV."""
    return Path(folder) / f"classes_{experiment}.csv"


def existing_class_list(folder: str | os.PathLike, experiment: str) -> Path:
    """An experiment's class list beside the split TSV; where it is absent, an error saying how to make it."""
    path = class_list_path(folder, experiment)
    if not path.is_file():
        raise FileNotFoundError(f"No class list {path}; make the split first (notebook 03 or `bioscan-repro split`).")
    return path
