"""Where things live: the suite's folder, and paths taken from it."""

from __future__ import annotations

import os
from pathlib import Path

ROOT_ENVIRONMENT_VARIABLE = "BIOSCAN_REPRO_ROOT"


def _is_project_root(folder: Path) -> bool:
    return (folder / "params").is_dir() and (folder / "notebooks").is_dir()


def project_root(start: str | os.PathLike | None = None) -> Path:
    """The suite's folder (holding `params/` and `notebooks/`), searched upwards from `start` or the working directory."""
    if os.environ.get(ROOT_ENVIRONMENT_VARIABLE):
        return Path(os.environ[ROOT_ENVIRONMENT_VARIABLE]).resolve()
    here = Path(start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if _is_project_root(folder):
            return folder
    package_parent = Path(__file__).resolve().parents[2]
    if _is_project_root(package_parent):
        return package_parent
    raise FileNotFoundError(
        f"No suite folder (with params/ and notebooks/) above {here}; "
        f"run from inside the suite or set {ROOT_ENVIRONMENT_VARIABLE}."
    )


def resolve_path(path: str | os.PathLike) -> Path:
    """An absolute path; a relative one is taken from the suite's folder, so notebooks and CLI agree."""
    candidate = Path(path).expanduser()
    return candidate if candidate.is_absolute() else project_root() / candidate
