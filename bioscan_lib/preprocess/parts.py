"""Preprocessing by parts: resize or crop some parts of a full-size package, each an independent, resumable job, then
one merge that writes the packages and tables a one-shot run writes, byte for byte.

A part writes its images where a one-shot run stages them (the folder target, or `images/.<package>.staging/`), and
its problems and crop boxes into `<output>/<package>_parts/part<N>_problems.csv` and `part<N>_boxes.csv`; the
problems file, written last, marks the part finished. Submitted parts log into `<package>_parts/submitit/`.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import pandas as pd
import submitit

from bioscan_lib.core.cluster import LOG_FOLDER, Resources, make_executor, submit_all
from bioscan_lib.core.files import atomic_path
from bioscan_lib.data import images
from bioscan_lib.data.bioscan1m import RESIZED_SIDE
from bioscan_lib.preprocess.crop import SpecimenCropper
from bioscan_lib.preprocess.process import (
    BOX_COLUMNS,
    PROBLEM_COLUMNS,
    Resizer,
    StageResult,
    Transform,
    _input_attributes,
    _not_done,
    _pack,
    _read_boxes,
    _run_batches,
    check_settings,
    package_targets,
    stage_result,
    staging_folder,
    write_boxes,
)

STAGES = ("resize", "crop")


def parts_folder(dataset_dir: str | os.PathLike, package: str) -> Path:
    """`<dataset_dir>/<package>_parts/`: what each part found, and the jobs' logs."""
    return Path(dataset_dir) / f"{package}_parts"


def _problems_file(dataset_dir: str | os.PathLike, package: str, part: int) -> Path:
    return parts_folder(dataset_dir, package) / f"part{part}_problems.csv"


def _boxes_file(dataset_dir: str | os.PathLike, package: str, part: int) -> Path:
    return parts_folder(dataset_dir, package) / f"part{part}_boxes.csv"


def _names_and_attributes(source: Path, parts: list[int]) -> tuple[list[tuple[int, str]], dict[str, str]]:
    """The sorted (part, file) names of `source` in `parts`, and its HDF5 attributes."""
    reader = images.open_package(source)
    try:
        wanted = set(parts)
        return sorted(name for name in reader.names() if name[0] in wanted), _input_attributes(reader)
    finally:
        reader.close()


def stage_transform(
    stage: str, size: int = RESIZED_SIDE, detector: str = "builtin", checkpoint: str | None = None
) -> Transform:
    """The transform of `resize` or `crop`."""
    if stage not in STAGES:
        raise ValueError(f"stage {stage!r}: choose one of {', '.join(STAGES)}")
    return Resizer(size) if stage == "resize" else SpecimenCropper(detector, checkpoint, size)


def process_part(
    source: str | os.PathLike,
    dataset_dir: str | os.PathLike,
    package: str,
    transform: Transform,
    part: int,
    formats: tuple[str, ...] = ("folder",),
    workers: int | None = None,
    boxes: bool = False,
    redo: bool = False,
) -> StageResult:
    """Transform the images of one part (resuming: images already staged are skipped); record its problems and,
    with `boxes`, its crop boxes. The packages are written by `merge_parts`."""
    started = time.perf_counter()
    source, dataset_dir = Path(source), Path(dataset_dir)
    targets = package_targets(dataset_dir, package, formats)
    staging = staging_folder(dataset_dir, package, targets)
    names, _ = _names_and_attributes(source, [part])
    if not names:
        raise ValueError(f"{source}: part {part} holds no images; give the folder of part<N>/ folders and parts it has")
    check_settings(dataset_dir, package, targets, staging, transform, redo, by_parts=True)
    boxes_csv = _boxes_file(dataset_dir, package, part)
    journal = Path(f"{boxes_csv}.journal") if boxes else None
    known_boxes = _read_boxes(boxes_csv, journal) if boxes else None
    todo = names if redo else _not_done(names, staging, targets, set(known_boxes["image_file"]) if boxes else None)
    _problems_file(dataset_dir, package, part).unlink(missing_ok=True)  # unfinished until written again
    problems, found = _run_batches(
        source,
        staging,
        transform,
        todo,
        len(names) - len(todo),
        workers or os.cpu_count() or 1,
        f"part {part}",
        journal,
    )
    if boxes:
        write_boxes([known_boxes, pd.DataFrame(found, columns=BOX_COLUMNS)], boxes_csv)
        journal.unlink(missing_ok=True)
    problems_table = pd.DataFrame(sorted(problems), columns=PROBLEM_COLUMNS)
    with atomic_path(_problems_file(dataset_dir, package, part)) as temporary:
        problems_table.to_csv(temporary, index=False)
    return stage_result(f"{package} part {part}", targets, names, todo, problems_table, started)


def merge_parts(
    source: str | os.PathLike,
    dataset_dir: str | os.PathLike,
    package: str,
    parts: list[int],
    formats: tuple[str, ...] = ("folder",),
    boxes_csv: str | os.PathLike | None = None,
) -> StageResult:
    """Write the packages, `<package>_problems.csv` and the boxes table from finished parts, as a one-shot run over
    those parts writes them."""
    started = time.perf_counter()
    source, dataset_dir = Path(source), Path(dataset_dir)
    unfinished = [part for part in parts if not _problems_file(dataset_dir, package, part).is_file()]
    if unfinished:
        raise ValueError(
            f"parts {','.join(map(str, unfinished))} of {package} are not finished (no part<N>_problems.csv in "
            f"{parts_folder(dataset_dir, package)}); process them with --parts first"
        )
    targets = package_targets(dataset_dir, package, formats)
    staging = staging_folder(dataset_dir, package, targets)
    names, attributes = _names_and_attributes(source, parts)
    _pack(names, staging, targets, package, attributes, changed=True)
    if "folder" not in targets and staging.exists():
        shutil.rmtree(staging)
    tables = [pd.read_csv(_problems_file(dataset_dir, package, part), dtype=str) for part in parts]
    problems = pd.concat(tables).sort_values(PROBLEM_COLUMNS, kind="stable").reset_index(drop=True)
    with atomic_path(dataset_dir / f"{package}_problems.csv") as temporary:
        problems.to_csv(temporary, index=False)
    boxes = (
        write_boxes([_read_boxes(*(_boxes_file(dataset_dir, package, p) for p in parts))], boxes_csv)
        if boxes_csv
        else None
    )
    return StageResult(
        package=package,
        formats=tuple(targets),
        images=len(names) - problems["file"].nunique(),
        written=0,
        already_done=len(names),
        seconds=time.perf_counter() - started,
        problems=problems,
        boxes=boxes,
    )


@dataclass(frozen=True)
class PartJob(submitit.helpers.Checkpointable):
    """One part of `resize` or `crop` as a submitit job; pre-empted or out of time, it is requeued and resumes."""

    stage: str
    source: str
    dataset_dir: str
    package: str
    formats: tuple[str, ...]
    size: int = RESIZED_SIDE
    workers: int | None = None
    detector: str = "builtin"
    checkpoint: str | None = None
    redo: bool = False

    def __call__(self, part: int) -> StageResult:
        return self.process(part, self.transform())

    def transform(self) -> Transform:
        """The stage's transform (the crop's detector loaded once for every part it processes)."""
        return stage_transform(self.stage, self.size, self.detector, self.checkpoint)

    def process(self, part: int, transform: Transform) -> StageResult:
        """Process one part with `transform`."""
        return process_part(
            self.source,
            self.dataset_dir,
            self.package,
            transform,
            part,
            self.formats,
            self.workers,
            boxes=self.stage == "crop",
            redo=self.redo,
        )


def submit_parts(job: PartJob, parts: list[int], cluster: str, resources: Resources) -> list[submitit.Job]:
    """Submit one job per part (a SLURM job array), logs in `<output>/<package>_parts/submitit/`."""
    names, _ = _names_and_attributes(Path(job.source), parts)
    absent = sorted(set(parts) - {part for part, _ in names})
    if absent:
        raise ValueError(
            f"{job.source} holds no images of parts {','.join(map(str, absent))}; check --input and --parts"
        )
    folder = parts_folder(job.dataset_dir, job.package) / LOG_FOLDER
    one_task = dataclasses.replace(resources, nodes=1, processes_per_node=1)  # its pool of processes uses the cores
    executor = make_executor(cluster, folder, one_task, f"bioscan-{job.stage}")
    return submit_all(executor, job, [(part,) for part in parts])


class PartsOutcome(NamedTuple):
    """What `by_parts` did: jobs submitted and not waited for, the parts' results, and the merged package."""

    pending: list[submitit.Job]
    results: list[StageResult]
    merged: StageResult | None


def by_parts(
    job: PartJob,
    parts: list[int] | None,
    merge: bool,
    cluster: str | None = None,
    resources: Resources | None = None,
    wait: bool = False,
    boxes_csv: str | None = None,
) -> PartsOutcome:
    """Process `parts` here, or as jobs on `cluster` (waited for with `wait`), then merge them into the package when
    `merge` says so (every part of the source when `parts` is None)."""
    if merge and cluster and not wait:
        raise ValueError("--merge after --submit needs --wait (or run --merge alone once the jobs are done)")
    results: list[StageResult] = []
    if parts and cluster:
        resources = resources or Resources()
        job = dataclasses.replace(job, workers=job.workers or resources.cpus_per_task)
        jobs = submit_parts(job, parts, cluster, resources)
        if not wait:
            return PartsOutcome(jobs, [], None)
        results = [submitted.result() for submitted in jobs]
    elif parts:
        transform = job.transform()
        results = [job.process(part, transform) for part in parts]
    if not merge:
        return PartsOutcome([], results, None)
    if parts is None:
        reader = images.open_package(job.source)
        parts = sorted({chunk for chunk, _ in reader.names()})
        reader.close()
    merged = merge_parts(job.source, job.dataset_dir, job.package, parts, job.formats, boxes_csv)
    return PartsOutcome([], results, merged)
