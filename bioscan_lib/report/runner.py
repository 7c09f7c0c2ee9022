"""Run the numbered notebooks headless with papermill under a profile: skip those already done or lacking their
inputs, keep a failed run apart from the last good one, and say at the end what ran, how long and why not."""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import papermill
from filelock import FileLock, Timeout
from traitlets.config import Config

import bioscan_lib
from bioscan_lib.config import TRAINING_PARAMETER, TrainConfig, load_profile
from bioscan_lib.core.files import write_text_atomic
from bioscan_lib.core.paths import project_root, resolve_path
from bioscan_lib.core.provenance import source_commit
from bioscan_lib.core.runs import (
    CHECKPOINT_BEST,
    DNA_RUNS_FOLDER,
    METRICS_JSON,
    PARAMS_FILE,
    PREDICTIONS_CSV,
    runs_folder,
)
from bioscan_lib.data import DEFAULT_RELEASE, bioscan1m, release
from bioscan_lib.data.metadata import find_metadata
from bioscan_lib.download import catalog, host_answers
from bioscan_lib.sample import HELDOUT_SEED_OFFSET
from bioscan_lib.sample.release import generate_heldout, generate_sample
from bioscan_lib.split.rules import SPLIT_FILE_NAME, split_folder

KERNEL_NAME = "bioscan-repro"
# IPC between papermill and its kernel: nothing leaves the machine, and the kernel prints no TCP warning.
KERNEL_CONFIG = Config({"KernelManager": {"transport": "ipc"}})
FAILED_SUFFIX = ".failed.ipynb"
STAMP_SUFFIX = ".done.json"  # `.<notebook>.done.json`: a notebook's last good run, beside it
LOCK_FILE, LOCK_OWNER_FILE = ".reproduce.lock", ".reproduce.owner"  # in the profile's output folder
NOT_RUN_BEFORE = "not run before"  # the stale reason of a notebook with no last run
CONTENT_DIGEST_LIMIT = 64 * 2**20  # larger inputs (the metadata TSV, a ViT checkpoint) are compared by size and time
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class NotebookOutcome:
    """What became of one notebook in a run: executed, up to date, skipped, failed or not run, and why."""

    notebook: str
    status: str
    seconds: float = 0.0
    reason: str = ""


@dataclass
class ProfileRun:
    """A runner call: the profile's output folder and each notebook's outcome, in order."""

    out_dir: Path
    outcomes: list[NotebookOutcome] = field(default_factory=list)

    @property
    def failed(self) -> list[NotebookOutcome]:
        """The notebooks that failed."""
        return [outcome for outcome in self.outcomes if outcome.status == "failed"]

    @property
    def nothing_ran(self) -> bool:
        """True when no notebook ran or was up to date: every one was skipped for missing inputs."""
        return not any(outcome.status in ("executed", "up to date") for outcome in self.outcomes)

    def table(self) -> pd.DataFrame:
        """One row per notebook: status, seconds and reason."""
        return pd.DataFrame(
            [vars(outcome) for outcome in self.outcomes], columns=["notebook", "status", "seconds", "reason"]
        )


class NotebookFailed(RuntimeError):
    """A notebook raised: names the notebook, the cell and the error in one line."""

    def __init__(self, notebook: Path, error: papermill.PapermillExecutionError):
        self.notebook, self.cell = notebook.stem, error.exec_count
        super().__init__(f"{notebook.stem} failed in cell [{error.exec_count}]: {error.ename}: {error.evalue}")


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
            seed=profile["seed"] + HELDOUT_SEED_OFFSET,
            image_size=tuple(profile["sample_image_size"]),
        )


# What each notebook reads, checked just before it runs ---------------------------------------------------------------


def _download_blocked(profile: dict[str, Any]) -> str:
    """Why notebook 01 cannot run: files to fetch from the hosts and none of the hosts answering."""
    if profile.get("mirror") or not profile.get("files"):
        return ""
    root = resolve_path(profile.get("download_root") or profile["data_root"])
    missing = [entry for entry in catalog.select_files(profile.get("files", [])) if not entry.path(root).is_file()]
    if not missing or any(host_answers(url) for url in bioscan1m.HOST_URLS.values()):
        return ""
    shown = ", ".join(entry.name for entry in missing[:4]) + (
        f" and {len(missing) - 4} more" if len(missing) > 4 else ""
    )
    return (
        f"no network: none of the hosts ({', '.join(bioscan1m.HOST_URLS)}) answers, and {root} lacks {shown}. "
        "Download them where there is a network (`bioscan-repro download --root <folder> --extract "
        f"{' '.join(entry.name for entry in missing)}`) and copy them there"
    )


def _metadata_missing(profile: dict[str, Any]) -> str:
    try:
        find_metadata(resolve_path(profile["data_root"]))
    except FileNotFoundError as error:
        return str(error)
    return ""


def _split_missing(profile: dict[str, Any]) -> str:
    path = split_folder(resolve_path(profile["output_dir"])) / SPLIT_FILE_NAME
    return "" if path.is_file() else f"no split at {path}: run notebook 03 first"


def _originals_missing(profile: dict[str, Any]) -> str:
    folder = release(profile.get("release", DEFAULT_RELEASE)).images_folder(
        resolve_path(profile["data_root"]), "original_full"
    )
    if folder.is_dir():
        return ""
    return (
        f"no full-size photographs at {folder}: `bioscan-repro download --root <data_root> --package original_full "
        "--extract` (about 680 GB)"
    )


def _training_package_missing(profile: dict[str, Any]) -> str:
    package = profile[TRAINING_PARAMETER].get("package", TrainConfig.package)
    path = resolve_path(profile["data_root"]) / package
    if path.exists():  # what training opens: the folder, .zip or .hdf5 the profile names
        return _split_missing(profile)
    return (
        f"no image package {path}: add {Path(package).name}.zip to the profile's files "
        "for notebook 01, or `bioscan-repro download --root <data_root> --extract "
        f"{Path(package).name}.zip`"
    )


def _nothing_to_test(profile: dict[str, Any]) -> str:
    runs = runs_folder(profile["output_dir"])
    released = resolve_path(profile["checkpoints_dir"]) if profile.get("checkpoints_dir") else None
    if (runs.is_dir() and any(runs.iterdir())) or (released and any(released.glob("**/*.tar"))):
        return _split_missing(profile)
    return f"no trained run under {runs} and no released checkpoint under {released}: train (06) or download them"


def _nothing_to_label(profile: dict[str, Any]) -> str:
    run = runs_folder(profile["output_dir"]) / str(profile.get("run"))
    photographs = resolve_path(profile["data_root"]) / str(profile.get("photographs"))
    if not run.is_dir():
        return f"no run {run}: train it (06) or import its released checkpoint (07)"
    return "" if photographs.exists() else f"no photographs at {photographs}: set `photographs` in the profile"


INPUTS: dict[str, tuple[Callable[[dict[str, Any]], str], ...]] = {
    "01_download": (_download_blocked,),
    "02_dataset_statistics": (_metadata_missing,),
    "03_data_split": (_metadata_missing,),
    "04_split_statistics": (_metadata_missing, _split_missing),
    "05_preprocessing": (_metadata_missing, _originals_missing),
    "06_train": (_training_package_missing,),
    "07_test": (_nothing_to_test,),
    "08_generalization": (_nothing_to_label,),
    "09_dna_barcodes": (_metadata_missing, _split_missing),
    "10_open_world": (_metadata_missing,),
}


def missing_inputs(notebook: Path, profile: dict[str, Any]) -> str:
    """Why the notebook cannot run with what is on disk (and on the network), or an empty string."""
    for check in INPUTS.get(notebook.stem, ()):
        if reason := check(profile):
            return reason
    return ""


# What each notebook reads: a change to any of it since the notebook's last run makes that run stale ----------------


def _metadata_file(profile: dict[str, Any]) -> list[Path]:
    try:
        return [find_metadata(resolve_path(profile["data_root"]))]
    except FileNotFoundError:
        return []


def _split_file(profile: dict[str, Any]) -> list[Path]:
    return [split_folder(resolve_path(profile["output_dir"])) / SPLIT_FILE_NAME]


def _training_package(profile: dict[str, Any]) -> list[Path]:
    return [resolve_path(profile["data_root"]) / profile[TRAINING_PARAMETER].get("package", TrainConfig.package)]


def _run_files(folder: Path, names: tuple[str, ...]) -> list[Path]:
    return sorted(path for name in names for path in folder.glob(f"*/{name}"))


def _tested_runs(profile: dict[str, Any]) -> list[Path]:
    """Every image run's model and test results (a run trained, imported or tested by a command), and the released
    checkpoints notebook 07 imports."""
    files = _run_files(runs_folder(profile["output_dir"]), (PARAMS_FILE, CHECKPOINT_BEST, METRICS_JSON))
    released = resolve_path(profile["checkpoints_dir"]) if profile.get("checkpoints_dir") else None
    return files + (sorted(released.glob("**/*.tar")) if released and released.is_dir() else [])


def _labelling_run(profile: dict[str, Any]) -> list[Path]:
    run = runs_folder(profile["output_dir"]) / str(profile.get("run"))
    return [
        run / PARAMS_FILE,
        run / CHECKPOINT_BEST,
        resolve_path(profile["data_root"]) / str(profile.get("photographs")),
    ]


def _image_and_dna_results(profile: dict[str, Any]) -> list[Path]:
    """The image runs' test results that notebook 09 sets the barcodes beside, and the DNA runs it keeps."""
    image = _run_files(runs_folder(profile["output_dir"]), (METRICS_JSON, PREDICTIONS_CSV))
    return image + _run_files(runs_folder(profile["output_dir"], DNA_RUNS_FOLDER), (PARAMS_FILE, METRICS_JSON))


def _partition_and_encoders(profile: dict[str, Any]) -> list[Path]:
    """The CLIBD partition files beside the metadata, the DNA runs' and the image run's best checkpoints, and a
    BarcodeBERT file."""
    metadata = _metadata_file(profile)
    partition = sorted((metadata[0].parent / bioscan1m.CLIBD_FOLDER).glob("*")) if metadata else []
    checkpoints = _run_files(runs_folder(profile["output_dir"], DNA_RUNS_FOLDER), (CHECKPOINT_BEST,))
    given = profile.get("barcodebert_checkpoint")
    image_run = runs_folder(profile["output_dir"]) / str(profile.get("run")) / CHECKPOINT_BEST
    return partition + checkpoints + [image_run] + ([resolve_path(given)] if given else [])


READS: dict[str, tuple[Callable[[dict[str, Any]], list[Path]], ...]] = {
    "02_dataset_statistics": (_metadata_file,),
    "03_data_split": (_metadata_file,),
    "04_split_statistics": (_split_file,),
    "05_preprocessing": (_metadata_file,),
    "06_train": (_split_file, _training_package),
    "07_test": (_split_file, _tested_runs),
    "08_generalization": (_labelling_run,),
    "09_dna_barcodes": (_split_file, _image_and_dna_results),
    "10_open_world": (_metadata_file, _partition_and_encoders),
}


def _file_digest(path: Path) -> str:
    """A small file's content digest; a large one's size and modification time; a folder's own entry."""
    if not path.exists():
        return "absent"
    status = path.stat()
    if path.is_dir() or status.st_size > CONTENT_DIGEST_LIMIT:
        return f"size {status.st_size}, modified {status.st_mtime_ns}"
    return hashlib.sha256(path.read_bytes()).hexdigest()


def input_digests(notebook: Path, profile: dict[str, Any]) -> dict[str, str]:
    """The digest of every file the notebook reads (READS), by path."""
    paths = [path for reads in READS.get(notebook.stem, ()) for path in reads(profile)]
    return {str(path): _file_digest(path) for path in paths}


def _changed_inputs(recorded: dict[str, str], current: dict[str, str]) -> str:
    """What changed between two input digests, in words ('' when nothing did)."""
    changed = []
    for path in {**recorded, **current}:
        before, now = recorded.get(path, "absent"), current.get(path, "absent")
        if before != now:
            changed.append(f"{path} {'is new' if before == 'absent' else 'is gone' if now == 'absent' else 'changed'}")
    if not changed:
        return ""
    more = f" (and {len(changed) - 1} more)" if len(changed) > 1 else ""
    return f"stale: {changed[0]}{more} since its last run"


# Execution ------------------------------------------------------------------------------------------------------------


def library_fingerprint() -> str:
    """A digest of the library's sources: a notebook run under other library code is not up to date."""
    package = Path(bioscan_lib.__file__).parent
    digest = hashlib.sha256()
    for path in sorted(p for p in package.rglob("*") if p.is_file() and p.suffix in (".py", ".json", ".j2")):
        digest.update(path.relative_to(package).as_posix().encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def _fingerprint(notebook: Path, parameters: dict[str, Any]) -> str:
    content = notebook.read_bytes() + json.dumps(parameters, sort_keys=True).encode() + library_fingerprint().encode()
    return hashlib.sha256(content).hexdigest()


def failed_path(executed: Path) -> Path:
    """Where a failed run of an executed notebook is kept, beside the last good one."""
    return executed.with_name(executed.stem + FAILED_SUFFIX)


def _stamp(out_dir: Path, notebook: Path) -> Path:
    return out_dir / f".{notebook.stem}{STAMP_SUFFIX}"


def notebook_runs(out_dir: Path) -> pd.DataFrame:
    """Each notebook's last good run in `out_dir`: how long it took and the suite's commit it ran at."""
    rows = []
    for stamp in sorted(out_dir.glob(f".*{STAMP_SUFFIX}")):
        record = json.loads(stamp.read_text())
        name = stamp.name.removeprefix(".").removesuffix(STAMP_SUFFIX)
        rows.append({"notebook": name, "seconds": record.get("seconds"), "suite commit": record.get("commit", "")})
    return pd.DataFrame(rows, columns=["notebook", "seconds", "suite commit"])


def stale_reason(notebook: Path, parameters: dict[str, Any], out_dir: Path, profile: dict[str, Any]) -> str:
    """Why the notebook's last run in `out_dir` no longer stands, or '' when it does."""
    stamp = _stamp(out_dir, notebook)
    if not ((out_dir / notebook.name).is_file() and stamp.is_file()):
        return NOT_RUN_BEFORE
    recorded = json.loads(stamp.read_text())
    if recorded["fingerprint"] != _fingerprint(notebook, parameters):
        return "its source, its parameters or the library changed"
    return _changed_inputs(recorded.get("inputs", {}), input_digests(notebook, profile))


def execute_notebook(
    notebook: Path, parameters: dict[str, Any], out_dir: Path, inputs: Callable[[], dict[str, str]] = dict
) -> Path:
    """Execute one notebook into `out_dir` and stamp it with its fingerprint and the digests of what it read
    (`inputs`, taken once it has run, so that what it wrote itself counts as read).

    A failure keeps the last good notebook, saves the failed one as `<name>.failed.ipynb`, removes the stamp and
    raises NotebookFailed."""
    executed, stamp = out_dir / notebook.name, _stamp(out_dir, notebook)
    fingerprint = _fingerprint(notebook, parameters)
    out_dir.mkdir(parents=True, exist_ok=True)
    running = out_dir / f".{notebook.stem}.running.ipynb"
    started = time.perf_counter()
    try:
        papermill.execute_notebook(
            str(notebook),
            str(running),
            parameters=parameters,
            kernel_name=KERNEL_NAME,
            cwd=str(notebook.parent),
            progress_bar={"desc": notebook.stem, "leave": True},
            config=KERNEL_CONFIG,
        )
    except papermill.PapermillExecutionError as error:
        stamp.unlink(missing_ok=True)
        running.replace(failed_path(executed))
        raise NotebookFailed(notebook, error) from None
    running.replace(executed)
    failed_path(executed).unlink(missing_ok=True)
    record = {
        "fingerprint": fingerprint,
        "parameters": parameters,
        "inputs": inputs(),
        "seconds": round(time.perf_counter() - started, 1),
        "commit": source_commit(),
    }
    write_text_atomic(stamp, json.dumps(record, indent=2) + "\n")
    return executed


def execute_profile(
    profile_name: str = "sample",
    only: list[str] | None = None,
    force: bool = False,
    overrides: dict[str, Any] | None = None,
) -> ProfileRun:
    """Run the numbered notebooks (or `only` some) under a profile with `overrides` applied.

    A notebook is skipped when its source, parameters and the library match its last successful run (unless an
    earlier one reran), or when its inputs are missing; after a failure the later notebooks are not run.
    """
    profile = load_profile(profile_name, overrides)
    run = ProfileRun(resolve_path(profile["output_dir"]))
    with profile_lock(run.out_dir, profile_name):
        ensure_sample(profile)
        skipped = {str(number) for number in profile.get("skip_notebooks", [])}
        for notebook in notebooks(only):
            outcome = _run_one(notebook, profile, run, force, notebook.stem[:2] in skipped and not only)
            force = force or outcome.status == "executed"  # later stages read what this one wrote: rerun them too
            run.outcomes.append(outcome)
            took = f" in {outcome.seconds:.0f} s" if outcome.status in ("executed", "failed") else ""
            log.info(f"{outcome.notebook}: {outcome.status}{took}" + (f" ({outcome.reason})" if outcome.reason else ""))
    return run


@contextlib.contextmanager
def profile_lock(out_dir: Path, profile_name: str) -> Iterator[None]:
    """Hold the profile's lock while the block runs; a second `reproduce` of it is refused in one line naming the
    process that holds it. The operating system frees the lock of a killed process, so a stale one is taken over."""
    out_dir.mkdir(parents=True, exist_ok=True)
    lock, owner = FileLock(out_dir / LOCK_FILE), out_dir / LOCK_OWNER_FILE
    try:
        lock.acquire(timeout=0)
    except Timeout:
        holder = owner.read_text(encoding="utf-8").strip() if owner.is_file() else "another process"
        raise ValueError(
            f"profile {profile_name!r} is being reproduced by {holder}; wait for it to finish or stop it, then run again"
        ) from None
    try:
        write_text_atomic(owner, f"process {os.getpid()} on {socket.gethostname()} since {time.strftime('%H:%M:%S')}")
        yield
    finally:
        owner.unlink(missing_ok=True)
        lock.release()


def _run_one(notebook: Path, profile: dict[str, Any], run: ProfileRun, force: bool, skipped: bool) -> NotebookOutcome:
    """Execute one notebook of a profile run, or say why not."""
    name = notebook.stem
    if run.failed:
        return NotebookOutcome(name, "not run", reason=f"{run.failed[0].notebook} failed")
    if skipped:
        return NotebookOutcome(name, "skipped", reason=f"skip_notebooks of profile {profile['profile']!r}")
    if reason := missing_inputs(notebook, profile):
        return NotebookOutcome(name, "skipped", reason=reason)
    parameters, out_dir = notebook_parameters(notebook, profile), run.out_dir / "notebooks"
    why = "forced, or an earlier notebook reran" if force else stale_reason(notebook, parameters, out_dir, profile)
    if not why:
        return NotebookOutcome(name, "up to date", reason="--force reruns it")
    log.info(f"{name}: starting ({why})")
    start = time.perf_counter()
    try:
        execute_notebook(notebook, parameters, out_dir, lambda: input_digests(notebook, profile))
    except NotebookFailed as error:
        return NotebookOutcome(name, "failed", round(time.perf_counter() - start, 1), str(error))
    return NotebookOutcome(name, "executed", round(time.perf_counter() - start, 1), why)
