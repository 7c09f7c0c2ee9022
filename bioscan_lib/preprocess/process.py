"""Resize and crop image packages at scale: a process pool over chunks, resumable, bad files reported and skipped.

Resuming: every image is first written (through a temporary name) into a folder, the `folder` target or a hidden
`images/.<package>.staging/` folder; images already there, or in every ZIP/HDF5 target, are skipped. The ZIP and
HDF5 are then written whole under a temporary name and renamed, and the staging folder removed: a staging folder
left behind marks an interrupted run, which the next run finishes.
"""

from __future__ import annotations

import ctypes
import dataclasses
import itertools
import json
import multiprocessing
import os
import shutil
import signal
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from PIL import Image, UnidentifiedImageError
from tqdm.auto import tqdm

from bioscan_lib.core.files import atomic_path, write_text_atomic
from bioscan_lib.data import images
from bioscan_lib.data.bioscan1m import IMAGES_FOLDER, RESIZED_SIDE
from bioscan_lib.preprocess import FORMATS
from bioscan_lib.preprocess.crop import Box, SpecimenCropper, box_contains, box_iou, draw_box, enlarge_box

Transform = Callable[[bytes], tuple[bytes, tuple | None]]
PROBLEM_COLUMNS = ["file", "problem"]
BOX_COLUMNS = ["image_file", "left", "top", "right", "bottom", "width", "height"]
DECODE_ERRORS = (OSError, ValueError, SyntaxError, EOFError, Image.DecompressionBombError)
READ_ERRORS = (OSError, KeyError, ValueError, TypeError, AttributeError)  # e.g. a nested group read as an image
BATCH_SIZE = 32
BATCHES_PER_WORKER = 2  # batches queued per worker process at most: enough to keep it busy, little to cancel
PR_SET_PDEATHSIG = 1  # prctl option (linux/prctl.h)
SETTINGS_SUFFIX = "_settings.json"


@dataclass(frozen=True)
class Resizer:
    """Turns an encoded photograph into a JPEG with `size` px on its shorter side (decoded at reduced scale first)."""

    size: int = RESIZED_SIDE

    def __post_init__(self) -> None:
        images.check_size(self.size)

    def settings(self) -> dict[str, object]:
        """What decides the output, recorded beside it."""
        return {"stage": "resize", "size": self.size, "jpeg_quality": images.JPEG_QUALITY}

    def __call__(self, data: bytes) -> tuple[bytes, None]:
        image = images.decode_image(data, shorter_side=self.size)
        return images.encode_jpeg(images.check_not_blank(images.resize_shorter_side(image, self.size))), None


@dataclass
class StageResult:
    """What one resize or crop run did."""

    package: str
    formats: tuple[str, ...]
    images: int
    written: int
    already_done: int
    seconds: float
    problems: pd.DataFrame = field(repr=False)
    boxes: pd.DataFrame | None = field(default=None, repr=False)
    earlier_seconds_per_image: float | None = None  # of the run that wrote the images, when this one wrote none

    def summary(self) -> dict[str, object]:
        """One row for a summary table; a run that found everything done shows the speed of the run that did it."""
        this_run = round(self.seconds / self.written, 5) if self.written else None
        speed = this_run if this_run is not None else self.earlier_seconds_per_image
        measured = "this run" if this_run is not None else "the run that wrote them" if speed is not None else ""
        return {
            "package": self.package,
            "formats": ", ".join(self.formats),
            "images": self.images,
            "written": self.written,
            "already_done": self.already_done,
            "failures": len(self.problems),
            "seconds_per_image": float("nan") if speed is None else speed,
            "speed_measured_in": measured,
        }


def package_targets(
    dataset_dir: str | os.PathLike, package: str, formats: tuple[str, ...] | list[str]
) -> dict[str, Path]:
    """Where a package goes in each format: `images/<package>/`, `<package>.zip`, `<package>.hdf5` under the dataset folder."""
    unknown = sorted(set(formats) - set(FORMATS))
    if unknown or not formats:
        raise ValueError(f"unknown package format(s) {unknown or formats}; choose from {FORMATS}")
    dataset_dir = Path(dataset_dir)
    places = {
        "folder": dataset_dir / IMAGES_FOLDER / package,
        "zip": dataset_dir / f"{package}.zip",
        "hdf5": dataset_dir / f"{package}.hdf5",
    }
    return {kind: places[kind] for kind in FORMATS if kind in formats}


def describe_problem(error: BaseException) -> str:
    """A short, stable description of why an image could not be processed."""
    if isinstance(error, UnidentifiedImageError):
        return "not an image (unrecognised format)"
    if isinstance(error, images.ImageRejected):
        return f"refused: {error}"
    text = str(error).split(" (")[0] if "truncated" in str(error) else str(error)
    return f"cannot decode ({type(error).__name__}: {text})"


def settings_path(dataset_dir: str | os.PathLike, package: str) -> Path:
    """The JSON beside a package's outputs recording the settings they were made with."""
    return Path(dataset_dir) / f"{package}{SETTINGS_SUFFIX}"


def check_settings(
    dataset_dir: Path,
    package: str,
    targets: dict[str, Path],
    staging: Path,
    transform: Transform,
    redo: bool,
    by_parts: bool = False,
) -> None:
    """Record the transform's settings beside the outputs; outputs made with other settings are refused, or removed
    first with `redo` (not by parts, which run side by side), so a package never mixes images made two ways."""
    wanted = transform.settings() if hasattr(transform, "settings") else {}
    record = settings_path(dataset_dir, package)
    before = json.loads(record.read_text(encoding="utf-8")) if record.is_file() else None
    if before is not None and before != wanted:
        if by_parts:
            raise ValueError(
                f"{record}: {package} was made with {before}, not {wanted}; parts run side by side, so nothing is "
                f"removed: delete {', '.join(map(str, {*targets.values(), staging}))} and {record} first, or write "
                "it elsewhere (--output or --package)."
            )
        if not redo:
            raise ValueError(
                f"{record}: {package} was made with {before}, not {wanted}; rerun with --redo to remake it with the "
                "new settings, or write it elsewhere (--output or --package)."
            )
        for path in {*targets.values(), staging}:
            if path.is_dir():
                shutil.rmtree(path)
            else:
                path.unlink(missing_ok=True)
    write_text_atomic(record, json.dumps(wanted, indent=1, sort_keys=True) + "\n")


_WORKER: dict[str, object] = {}


def _start_worker(source: str, staging: str, transform: Transform) -> None:
    """Open the input package once per worker process."""
    _WORKER.update(reader=images.open_package(source), staging=Path(staging), transform=transform)


def _start_pool_worker(parent: int, source: str, staging: str, transform: Transform) -> None:
    """A pool worker: ended by Linux when its parent dies, deaf to Ctrl-C (the parent cancels and waits for it)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != parent:  # the parent died before the request took effect
        os._exit(1)
    _start_worker(source, staging, transform)


def _stop_worker() -> None:
    _WORKER.pop("reader").close()


def _process_batch(batch: list[tuple[int, str]]) -> tuple[list[tuple[str, str]], list[tuple]]:
    """Transform and write one batch of images; return the problems and the boxes found."""
    reader, staging, transform = _WORKER["reader"], _WORKER["staging"], _WORKER["transform"]
    problems, boxes = [], []
    for chunk_number, image_file in batch:
        try:
            data = reader.read(image_file, chunk_number)
        except READ_ERRORS as error:
            problems.append((image_file, f"cannot read ({type(error).__name__}: {error})"))
            continue
        if not data:
            problems.append((image_file, "empty file (0 bytes)"))
            continue
        try:
            encoded, box = transform(data)
        except DECODE_ERRORS as error:
            problems.append((image_file, describe_problem(error)))
            continue
        with atomic_path(images.folder_path(staging, chunk_number, image_file)) as temporary:
            temporary.write_bytes(encoded)
        if box is not None:
            boxes.append((image_file, *(int(value) for value in box), int(box[2] - box[0]), int(box[3] - box[1])))
    return problems, boxes


def _batches(names: list[tuple[int, str]], size: int) -> Iterator[list[tuple[int, str]]]:
    """Consecutive runs of at most `size` images, never mixing chunks."""
    batch: list[tuple[int, str]] = []
    for name in names:
        if batch and (len(batch) == size or batch[-1][0] != name[0]):
            yield batch
            batch = []
        batch.append(name)
    if batch:
        yield batch


def _run_batches(
    source: Path,
    staging: Path,
    transform: Transform,
    todo: list[tuple[int, str]],
    done: int,
    workers: int,
    description: str,
    journal: Path | None,
) -> tuple[list, list]:
    """Process every batch in a pool of `workers` spawned processes (inline for one), with a progress bar;
    the bar counts the `done` images too; boxes are appended to `journal` batch by batch, so an interrupted run keeps
    what it found."""
    problems, boxes = [], []
    batches = _batches(todo, BATCH_SIZE)
    if journal is not None and not journal.exists():
        journal.parent.mkdir(parents=True, exist_ok=True)
        journal.write_text(",".join(BOX_COLUMNS) + "\n")

    def collect(result: tuple[list, list]) -> None:
        problems.extend(result[0])
        boxes.extend(result[1])
        if journal is not None and result[1]:
            with open(journal, "a", encoding="utf-8") as handle:
                handle.writelines(",".join(map(str, row)) + "\n" for row in result[1])

    with tqdm(total=done + len(todo), initial=done, desc=description, unit="img") as progress:
        if not todo:
            return problems, boxes
        if workers <= 1:
            _start_worker(str(source), str(staging), transform)
            try:
                for batch in batches:
                    collect(_process_batch(batch))
                    progress.update(len(batch))
            finally:
                _stop_worker()
        else:
            with ProcessPoolExecutor(
                workers,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_start_pool_worker,
                initargs=(os.getpid(), str(source), str(staging), transform),
            ) as pool:
                pending: dict = {}
                try:
                    while True:
                        for batch in itertools.islice(batches, workers * BATCHES_PER_WORKER - len(pending)):
                            pending[pool.submit(_process_batch, batch)] = len(batch)
                        if not pending:
                            break
                        finished, _ = wait(pending, return_when=FIRST_COMPLETED)
                        for future in finished:
                            collect(future.result())
                            progress.update(pending.pop(future))
                except KeyboardInterrupt:  # only the batches being processed finish; what they wrote is kept
                    pool.shutdown(wait=True, cancel_futures=True)
                    raise
    return problems, boxes


def _read_boxes(*paths: Path) -> pd.DataFrame:
    """Boxes already found by earlier runs (final CSV and the journal of an interrupted one)."""
    tables = [pd.read_csv(path, on_bad_lines="skip") for path in paths if path.is_file() and path.stat().st_size]
    if not tables:
        return pd.DataFrame(columns=BOX_COLUMNS)
    return pd.concat(tables).dropna().drop_duplicates("image_file", keep="last")


def _pack(
    names: list[tuple[int, str]],
    staging: Path,
    targets: dict[str, Path],
    package: str,
    attributes: dict[str, str],
    changed: bool,
) -> None:
    """Write the ZIP and HDF5 targets from the staged images and what older packages already hold."""
    staged = images.FolderPackage(staging)
    for kind in ("zip", "hdf5"):
        if kind not in targets:
            continue
        path = targets[kind]
        for stale in path.parent.glob(f".{path.name}.*.partial"):
            stale.unlink()
        old = images.open_package(path) if path.exists() else None
        if old is not None and not changed and all(old.contains(f, c) for c, f in names if staged.contains(f, c)):
            old.close()
            continue

        def records() -> Iterator[images.ImageRecord]:
            for chunk_number, image_file in names:
                if staged.contains(image_file, chunk_number):
                    yield images.ImageRecord(chunk_number, image_file, staged.read(image_file, chunk_number))
                elif old is not None and old.contains(image_file, chunk_number):
                    yield images.ImageRecord(chunk_number, image_file, old.read(image_file, chunk_number))

        try:
            if kind == "zip":
                images.write_zip(records(), path, package)
            else:
                images.write_hdf5(records(), path, attributes)
        finally:
            if old is not None:
                old.close()


def _input_attributes(reader) -> dict[str, str]:
    """The HDF5 group attributes (copyright fields) of an HDF5 input, else none."""
    if isinstance(reader, images.Hdf5Package):
        return {key: str(value) for key, value in reader.group.attrs.items()}
    return {}


def process_package(
    source: str | os.PathLike,
    dataset_dir: str | os.PathLike,
    package: str,
    transform: Transform,
    formats: tuple[str, ...] | list[str] = ("folder",),
    workers: int | None = None,
    boxes_csv: str | os.PathLike | None = None,
    redo: bool = False,
) -> StageResult:
    """Apply `transform` to every image of `source`, writing `package` in `formats` under `dataset_dir`; resumable
    (see the module notes); bad files listed in `<dataset_dir>/<package>_problems.csv` and skipped."""
    started = time.perf_counter()
    source, dataset_dir = Path(source), Path(dataset_dir)
    targets = package_targets(dataset_dir, package, tuple(formats))
    staging = staging_folder(dataset_dir, package, targets)
    reader = images.open_package(source)
    try:
        names = sorted(reader.names())
        attributes = _input_attributes(reader)
    finally:
        reader.close()
    if not names:
        raise ValueError(
            f"{source}: no images found; give a folder of photographs, a folder of part<N>/ folders, "
            "a published .zip or an .hdf5"
        )
    check_settings(dataset_dir, package, targets, staging, transform, redo)
    journal = Path(f"{boxes_csv}.journal") if boxes_csv else None
    known_boxes = _read_boxes(Path(boxes_csv), journal) if boxes_csv else None
    if known_boxes is not None:  # boxes of photographs the source no longer holds (an earlier sample's) are dropped
        known_boxes = known_boxes[known_boxes["image_file"].isin({name for _, name in names})]
    todo = names if redo else _not_done(names, staging, targets, set(known_boxes["image_file"]) if boxes_csv else None)
    problems, boxes = _run_batches(
        source, staging, transform, todo, len(names) - len(todo), workers or os.cpu_count() or 1, package, journal
    )
    _pack(names, staging, targets, package, attributes, changed=bool(todo) and len(problems) < len(todo))
    if "folder" not in targets and staging.exists():
        shutil.rmtree(staging)
    problems_table = pd.DataFrame(sorted(problems), columns=PROBLEM_COLUMNS)
    with atomic_path(dataset_dir / f"{package}_problems.csv") as temporary:
        problems_table.to_csv(temporary, index=False)
    if boxes_csv:
        boxes_table = write_boxes([known_boxes, pd.DataFrame(boxes, columns=BOX_COLUMNS)], boxes_csv)
        journal.unlink(missing_ok=True)
    result = stage_result(package, targets, names, todo, problems_table, started, boxes_table if boxes_csv else None)
    return _with_speed_record(result, dataset_dir / f"{package}_speed.json")


def stage_result(
    package: str,
    targets: dict[str, Path],
    names: list,
    todo: list,
    problems: pd.DataFrame,
    started: float,
    boxes: pd.DataFrame | None = None,
) -> StageResult:
    """What a run over `names` did: `todo` of them attempted, the `problems` failed, since `started`."""
    failed = set(problems[PROBLEM_COLUMNS[0]])
    return StageResult(
        package=package,
        formats=tuple(targets),
        images=len(names) - len(failed),
        written=len(todo) - len(failed),
        already_done=len(names) - len(todo),
        seconds=time.perf_counter() - started,
        problems=problems,
        boxes=boxes,
    )


def _with_speed_record(result: StageResult, record: Path) -> StageResult:
    """Record the speed of a run that wrote images; a run that wrote none gets the recorded one."""
    if result.written:
        speed = {"seconds_per_image": round(result.seconds / result.written, 5), "images": result.written}
        write_text_atomic(record, json.dumps(speed, indent=2) + "\n")
        return result
    if record.is_file():
        return dataclasses.replace(
            result, earlier_seconds_per_image=json.loads(record.read_text())["seconds_per_image"]
        )
    return result


def staging_folder(dataset_dir: str | os.PathLike, package: str, targets: dict[str, Path]) -> Path:
    """Where images are written first: the folder target, else the hidden `images/.<package>.staging/`."""
    return targets.get("folder", Path(dataset_dir) / IMAGES_FOLDER / f".{package}.staging")


def write_boxes(tables: list[pd.DataFrame], path: str | os.PathLike) -> pd.DataFrame:
    """Write the boxes of `tables` (a later row of an image replacing an earlier one) sorted by image; return them."""
    table = (
        pd.concat(tables).dropna().drop_duplicates("image_file", keep="last").sort_values("image_file", kind="stable")
    )
    table = table.reset_index(drop=True).astype({column: int for column in BOX_COLUMNS[1:]})
    with atomic_path(path) as temporary:
        table.to_csv(temporary, index=False)
    return table


def _not_done(
    names: list[tuple[int, str]], staging: Path, targets: dict[str, Path], boxed: set[str] | None
) -> list[tuple[int, str]]:
    """The images still to process: not staged and not in every ZIP/HDF5 target (and without a box, when boxes are asked for)."""
    staged = images.FolderPackage(staging)
    packed = [images.open_package(path) for kind, path in targets.items() if kind != "folder" and path.exists()]
    complete_packages = "folder" not in targets and len(packed) == len(targets)
    try:
        return [
            (chunk_number, image_file)
            for chunk_number, image_file in names
            if not (
                staged.contains(image_file, chunk_number)
                or (complete_packages and all(p.contains(image_file, chunk_number) for p in packed))
            )
            or (boxed is not None and image_file not in boxed)
        ]
    finally:
        for package in packed:
            package.close()


def resize_package(
    source: str | os.PathLike,
    dataset_dir: str | os.PathLike,
    formats=("folder",),
    workers: int | None = None,
    package: str = "original_256",
    size: int = RESIZED_SIDE,
    redo: bool = False,
) -> StageResult:
    """Resize every image of `source` to `size` px on the shorter side, as the `original_256` package."""
    return process_package(source, dataset_dir, package, Resizer(size), formats, workers, redo=redo)


def crop_package(
    source: str | os.PathLike,
    dataset_dir: str | os.PathLike,
    formats=("folder",),
    workers: int | None = None,
    package: str = "cropped_256",
    detector: str = "builtin",
    checkpoint: str | os.PathLike | None = None,
    boxes_csv: str | os.PathLike | None = None,
    size: int = RESIZED_SIDE,
    redo: bool = False,
) -> StageResult:
    """Cut the specimen out of every image of `source` (published enlargement and padding), as the `cropped_256` package."""

    cropper = SpecimenCropper(detector, checkpoint, size)
    return process_package(source, dataset_dir, package, cropper, formats, workers, boxes_csv=boxes_csv, redo=redo)


def summary_table(results: list[StageResult]) -> pd.DataFrame:
    """One row per run: package, formats, images, written, already done, failures, seconds per image."""
    return pd.DataFrame([result.summary() for result in results])


def truth_check(boxes: pd.DataFrame, truth_csv: str | os.PathLike) -> pd.DataFrame:
    """How many crop boxes hold the generator's true specimen box (sample data), and their IoU with the true box enlarged."""

    truth = pd.read_csv(truth_csv).merge(boxes, on="image_file", suffixes=("_true", ""))
    true_boxes = [
        Box(*row) for row in truth[["left_true", "top_true", "right_true", "bottom_true"]].itertuples(index=False)
    ]
    crop_boxes = [Box(*row) for row in truth[["left", "top", "right", "bottom"]].itertuples(index=False)]
    ious = [box_iou(crop, enlarge_box(true)) for crop, true in zip(crop_boxes, true_boxes)]
    return pd.DataFrame(
        [
            {
                "images": len(truth),
                "crop_holds_true_box": sum(box_contains(crop, true) for crop, true in zip(crop_boxes, true_boxes)),
                "median_iou_with_enlarged_true_box": round(float(np.median(ious)), 3) if ious else float("nan"),
            }
        ]
    )


def crop_examples_figure(source: str | os.PathLike, cropped: str | os.PathLike, boxes: pd.DataFrame, count: int = 6):
    """Originals (crop box drawn) above their crops, for `count` images spread over the boxes table."""

    chosen = boxes.sort_values("image_file").iloc[np.linspace(0, len(boxes) - 1, min(count, len(boxes))).astype(int)]
    originals, crops = images.open_package(source), images.open_package(cropped)
    chunks = {name: chunk for chunk, name in originals.names()}
    figure, axes = plt.subplots(2, len(chosen), figsize=(2.6 * len(chosen), 4.6), squeeze=False)
    try:
        for column, row in enumerate(chosen.itertuples(index=False)):
            photo = images.decode_image(originals.read(row.image_file, chunks[row.image_file]))
            marked = draw_box(photo, Box(row.left, row.top, row.right, row.bottom), width=max(2, photo.width // 200))
            axes[0, column].imshow(marked)
            axes[1, column].imshow(images.decode_image(crops.read(row.image_file, chunks[row.image_file])))
            axes[0, column].set_title(row.image_file, fontsize=8)
    finally:
        originals.close()
        crops.close()
    for axis in axes.ravel():
        axis.set_axis_off()
    axes[0, 0].text(-0.05, 0.5, "original", transform=axes[0, 0].transAxes, rotation=90, va="center", ha="right")
    axes[1, 0].text(-0.05, 0.5, "cropped", transform=axes[1, 0].transAxes, rotation=90, va="center", ha="right")
    figure.tight_layout()
    return figure
