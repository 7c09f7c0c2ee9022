"""A run folder: the files one trained or imported run keeps, their names, and each read once and checked where read."""

from __future__ import annotations

import difflib
import functools
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from bioscan_lib.core.checkpoint_files import check_finite, load_checkpoint_file
from bioscan_lib.core.files import write_text_atomic
from bioscan_lib.core.paths import resolve_path

RUNS_FOLDER = "runs"  # image classifiers' runs (trained, imported)
DNA_RUNS_FOLDER = "dna_runs"  # barcode classifiers' runs (notebook 09), apart so that image testing never meets them
CHECKPOINT_LAST, CHECKPOINT_BEST = "last.pt", "best.pt"
PARAMS_FILE, INFO_FILE, SUMMARY_FILE = "params.yaml", "run_info.json", "summary.csv"
METRICS_JSON, METRICS_CSV = "test_metrics.json", "test_metrics.csv"
PER_CLASS_CSV, CONFUSION_CSV = "per_class_accuracy.csv", "confusion_matrix.csv"
PREDICTIONS_CSV, THRESHOLD_FILE = "test_predictions.csv", "confidence_threshold.json"
CHECKPOINT_FILES = (CHECKPOINT_LAST, CHECKPOINT_BEST)
RESTORE = "restore the file, or train the run again (or import its checkpoint again)"


class RunFolderError(ValueError):
    """A run folder whose files are missing, empty, mistyped or inconsistent: which file, what, and what to do."""


def checked_name(name: str, what: str = "run name") -> str:
    """`name` if it names an entry inside its parent folder (no separator, not `.` or `..`), else a one-line error."""
    if not name or name in {".", ".."} or "/" in name or "\\" in name or name != name.strip() or "\0" in name:
        raise ValueError(f"{what} {name!r}: must be one folder name, without '/', and neither '.' nor '..'")
    return name


def runs_folder(output_dir: str | os.PathLike, folder: str = RUNS_FOLDER) -> Path:
    """`<output_dir>/runs` (or `dna_runs`), where a profile's run folders live."""
    return resolve_path(output_dir) / folder


def run_path(output_dir: str | os.PathLike, name: str, folder: str = RUNS_FOLDER) -> Path:
    """`<output_dir>/runs/<name>` (or under `dna_runs`), refusing a name that would leave that folder."""
    return runs_folder(output_dir, folder) / checked_name(name)


def inside_a_run(path: str | os.PathLike) -> Path | None:
    """The run folder that `path` would be written into (its parent holds a run's parameters), or None."""
    parent = Path(path).resolve().parent
    return parent if (parent / PARAMS_FILE).is_file() or parent.parent.name == RUNS_FOLDER else None


@dataclass(frozen=True)
class RunFolder:
    """One run's folder; its files are read on first use and checked, each problem one line naming the file."""

    path: Path

    def __post_init__(self) -> None:
        object.__setattr__(self, "path", Path(self.path))

    @property
    def name(self) -> str:
        return self.path.name

    def file(self, name: str) -> Path:
        """The path of one of the run's files (one of this module's file names)."""
        return self.path / name

    def is_run(self) -> bool:
        """Whether the folder holds a run (its parameters file)."""
        return self.file(PARAMS_FILE).is_file()

    @functools.cached_property
    def params(self) -> dict[str, Any]:
        """The run's resolved parameters (`params.yaml`), a non-empty mapping."""
        return self._mapping(PARAMS_FILE, lambda text: yaml.safe_load(text))

    @functools.cached_property
    def info(self) -> dict[str, Any]:
        """What the run recorded of itself (`run_info.json`): its class list, samples, versions."""
        info = self._mapping(INFO_FILE, json.loads)
        classes = info.get("classes")
        if not isinstance(classes, list) or not classes or not all(isinstance(name, str) for name in classes):
            raise RunFolderError(f"{self.file(INFO_FILE)}: 'classes' is not a list of class names; {RESTORE}.")
        return info

    @property
    def classes(self) -> list[str]:
        """The run's class names, by class index."""
        return list(self.info["classes"])

    def check_classes(self, expected: list[str], where: str) -> list[str]:
        """The run's classes, if they are `expected` (the split's, read from `where`); else a one-line error."""
        classes = self.classes
        if classes == expected:
            return classes
        first = next((i for i, pair in enumerate(zip(classes, expected)) if pair[0] != pair[1]), None)
        differs = (
            f"class {first} is {classes[first]!r} there, {expected[first]!r} in the split" if first is not None else ""
        )
        raise RunFolderError(
            f"{self.file(INFO_FILE)}: its {len(classes)} classes differ from the split's {len(expected)} ({where}"
            f"{'; ' + differs if differs else ''}); the split was remade after the run or the file was changed: "
            f"{RESTORE} on this split."
        )

    def best_checkpoint(self) -> dict[str, Any]:
        """`best.pt` (loaded with `weights_only`): its `model` state dict, every tensor finite, and its `epoch`."""
        path = self.file(CHECKPOINT_BEST)
        if not path.is_file():
            raise FileNotFoundError(f"{path} not found; train the run first (`bioscan-repro train` or notebook 06).")
        content = load_checkpoint_file(path, "best checkpoint of a run")
        if not isinstance(content, dict) or not isinstance(content.get("model"), dict) or "epoch" not in content:
            raise RunFolderError(f"{path}: not a run's best checkpoint (no 'model' and 'epoch'); {RESTORE}.")
        check_finite(content["model"], path)
        return content

    def write_record(self, params: dict[str, Any], info: dict[str, Any]) -> None:
        """Write the run's parameters and its record, each through a temporary file."""
        write_text_atomic(self.file(PARAMS_FILE), yaml.safe_dump(params, sort_keys=False))
        write_text_atomic(self.file(INFO_FILE), json.dumps(info, indent=2) + "\n")

    def json(self, name: str, missing: str) -> dict[str, Any]:
        """One of the run's JSON files (metrics, threshold); `missing` says what to do when it is absent."""
        path = self.file(name)
        if not path.is_file():
            raise FileNotFoundError(f"{path} not found; {missing}")
        return self._mapping(name, json.loads)

    def _mapping(self, name: str, parse) -> dict[str, Any]:
        path = self.file(name)
        if not path.is_file():
            raise RunFolderError(
                f"{path} not found; {self.path} is not a whole run folder: {RESTORE} (`bioscan-repro train` or "
                "`bioscan-repro import-checkpoint`)."
            )
        try:
            values = parse(path.read_text(encoding="utf-8"))
        except (ValueError, yaml.YAMLError) as error:
            reason = str(error).splitlines()[0][:120]
            raise RunFolderError(f"{path}: unreadable ({reason}); {RESTORE}.") from None
        if not isinstance(values, dict) or not values:
            found = "empty" if not values else f"a {type(values).__name__}"
            raise RunFolderError(f"{path}: is {found}, not the run's `key: value` record; {RESTORE}.")
        return values


def existing_run(path: str | os.PathLike) -> RunFolder:
    """The run folder at `path`; a folder that is not there is an error naming the runs beside it."""
    run = RunFolder(path)
    if not run.path.is_dir():
        parent = run.path.parent
        runs = sorted(p.name for p in parent.iterdir() if RunFolder(p).is_run()) if parent.is_dir() else []
        nearest = difflib.get_close_matches(run.name, runs, n=3) or runs
        there = f"; the runs in {parent} include {', '.join(nearest)}" if nearest else ""
        raise FileNotFoundError(
            f"{path}: no such run folder{there}; train one (`bioscan-repro train`) or import one "
            "(`bioscan-repro import-checkpoint`)"
        )
    return run
