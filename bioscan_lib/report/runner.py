"""Run the numbered notebooks headless with papermill under a profile, skipping those already done."""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path
from typing import Any

import papermill

from bioscan_lib.config import load_profile
from bioscan_lib.core.files import write_text_atomic
from bioscan_lib.core.paths import project_root, resolve_path
from bioscan_lib.sample.release import generate_heldout, generate_sample

KERNEL_NAME = "bioscan-repro"
log = logging.getLogger(__name__)


def notebooks(only: list[str] | None = None) -> list[Path]:
    """The numbered notebooks in order, or those whose number or name is in `only`."""
    found = sorted((project_root() / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    if only:
        wanted = {w.strip().zfill(2) if w.strip().isdigit() else w.strip() for w in only}
        found = [p for p in found if p.stem[:2] in wanted or p.stem in wanted]
        if not found:
            raise ValueError(
                f"no notebook matches {sorted(wanted)}; numbers are like 02 or names like 02_dataset_statistics"
            )
    return found


def notebook_parameters(notebook: Path, profile: dict[str, Any]) -> dict[str, Any]:
    """The profile's values for the parameters this notebook declares in its `parameters` cell."""

    declared = papermill.inspect_notebook(str(notebook))
    return {name: profile[name] for name in declared if name in profile}


def ensure_sample(profile: dict[str, Any]) -> None:
    """Generate the embedded sample dataset (and its held-out photographs) if the profile uses one and it is absent."""
    if "sample_records" not in profile:
        return

    root = resolve_path(profile["data_root"])
    generate_sample(
        root, records=profile["sample_records"], seed=profile["seed"], image_size=tuple(profile["sample_image_size"])
    )
    if "heldout_records" in profile:
        generate_heldout(
            root,
            records=profile["heldout_records"],
            seed=profile["seed"] + 1,
            image_size=tuple(profile["sample_image_size"]),
        )


def _fingerprint(notebook: Path, parameters: dict[str, Any]) -> str:
    content = notebook.read_bytes() + json.dumps(parameters, sort_keys=True).encode()
    return hashlib.sha256(content).hexdigest()


def execute_notebook(notebook: Path, parameters: dict[str, Any], out_dir: Path, force: bool = False) -> Path | None:
    """Execute one notebook into `out_dir`; return its path, or None when an identical run is already done."""

    executed = out_dir / notebook.name
    stamp = out_dir / f".{notebook.stem}.done.json"
    fingerprint = _fingerprint(notebook, parameters)
    if (
        not force
        and executed.is_file()
        and stamp.is_file()
        and json.loads(stamp.read_text())["fingerprint"] == fingerprint
    ):
        return None
    out_dir.mkdir(parents=True, exist_ok=True)
    papermill.execute_notebook(
        str(notebook),
        str(executed),
        parameters=parameters,
        kernel_name=KERNEL_NAME,
        cwd=str(notebook.parent),
        progress_bar=True,
    )
    write_text_atomic(stamp, json.dumps({"fingerprint": fingerprint, "parameters": parameters}, indent=2) + "\n")
    return executed


def execute_profile(
    profile_name: str = "sample",
    only: list[str] | None = None,
    force: bool = False,
    overrides: dict[str, Any] | None = None,
) -> Path:
    """Run the numbered notebooks (or `only` some) under a profile with `overrides` applied; return its output folder.

    A notebook is skipped when its source and parameters match its last successful run, unless an earlier one reran.
    """
    profile = {**load_profile(profile_name), **(overrides or {})}
    ensure_sample(profile)
    out_dir = resolve_path(profile["output_dir"])
    skipped = {str(number) for number in profile.get("skip_notebooks", [])}
    for notebook in notebooks(only):
        if notebook.stem[:2] in skipped and not only:
            log.info(f"{notebook.stem}: skipped by profile '{profile_name}' (see skip_notebooks in its parameter file)")
            continue
        done = execute_notebook(notebook, notebook_parameters(notebook, profile), out_dir / "notebooks", force)
        force = force or done is not None  # later stages read what this one wrote: rerun them too
        log.info(
            f"{notebook.stem}: {'executed' if done else 'up to date, skipped (--force, or make FORCE=1, reruns it)'}"
        )
    return out_dir
