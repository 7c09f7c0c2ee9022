"""Resizing packages: reduced-scale decoding, the three output formats, resuming, bad files, the pool and the CLI."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import time
import zipfile
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import psutil
import pytest
from PIL import Image

from bioscan_lib import cli
from bioscan_lib.data import bioscan1m, images
from bioscan_lib.preprocess import FORMATS
from bioscan_lib.preprocess import process as preprocess


def photo(width: int = 480, height: int = 360, seed: int = 0) -> Image.Image:
    """A smooth, seeded RGB photograph with a dark blob, so resizing has something to keep."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[:height, :width]
    base = np.stack([150 + 60 * x / width, 170 + 40 * y / height, np.full_like(x, 200.0)], axis=-1)
    centre = rng.uniform(0.3, 0.7, 2) * (width, height)
    base[np.hypot(x - centre[0], y - centre[1]) < height / 8] = (60, 40, 20)
    return Image.fromarray(base.astype(np.uint8))


def jpeg(image: Image.Image, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=92, **options)
    return buffer.getvalue()


@pytest.fixture
def originals(tmp_path):
    """Eight photographs in two chunks, as a folder package."""
    records = [images.ImageRecord(1 + k // 4, f"BIOUG{k:05d}-A01.jpg", jpeg(photo(seed=k))) for k in range(8)]
    images.write_folder(records, tmp_path / "original_full")
    return tmp_path / "original_full", records


def test_decode_image_uses_a_reduced_scale_that_keeps_the_shorter_side():
    data = jpeg(photo(2880, 2160))
    assert images.decode_image(data, shorter_side=256).size == (360, 270)
    assert images.decode_image(data, shorter_side=600).size == (1440, 1080)
    assert images.decode_image(data).size == (2880, 2160)


def test_resizer_keeps_the_aspect_and_makes_256_on_the_shorter_side():
    resized = Image.open(io.BytesIO(preprocess.Resizer()(jpeg(photo(2880, 2160)))[0]))
    assert resized.format == "JPEG" and resized.size == (341, 256)
    portrait = Image.open(io.BytesIO(preprocess.Resizer()(jpeg(photo(300, 500)))[0]))
    assert portrait.size == (256, 427)


def test_resize_writes_every_format_readable_by_the_loaders(tmp_path, originals):
    source, records = originals
    result = preprocess.resize_package(source, tmp_path / "out", ("folder", "zip", "hdf5"), workers=1)
    assert (result.images, result.written, result.already_done, len(result.problems)) == (8, 8, 0, 0)
    targets = preprocess.package_targets(tmp_path / "out", "original_256", FORMATS)
    assert targets["folder"] == tmp_path / "out" / "images" / "original_256"
    expected = sorted((r.chunk_number, r.image_file) for r in records)
    folder_bytes = None
    for kind, path in targets.items():
        reader = images.open_package(path)
        try:
            assert sorted(reader.names()) == expected
            data = reader.read(records[5].image_file, records[5].chunk_number)
            assert images.decode_image(data).size == (341, 256)
            folder_bytes = folder_bytes or data
            assert data == folder_bytes
        finally:
            reader.close()
    with zipfile.ZipFile(targets["zip"]) as archive:
        assert images.zip_member("original_256", 2, records[5].image_file) in archive.namelist()


def test_a_second_run_skips_what_is_done_and_redoes_what_is_missing(tmp_path, originals):
    source, records = originals
    first = preprocess.resize_package(source, tmp_path / "out", ("folder", "zip"), workers=1)
    again = preprocess.resize_package(source, tmp_path / "out", ("folder", "zip"), workers=1)
    assert (again.written, again.already_done) == (0, 8)
    shown = preprocess.summary_table([first, again])
    assert shown["speed_measured_in"].tolist() == ["this run", "the run that wrote them"]
    assert shown["seconds_per_image"].iloc[1] == shown["seconds_per_image"].iloc[0] > 0
    images.folder_path(tmp_path / "out" / "images" / "original_256", 2, records[6].image_file).unlink()
    third = preprocess.resize_package(source, tmp_path / "out", ("folder", "zip"), workers=1)
    assert (third.written, third.already_done) == (1, 7)


def test_an_interrupted_zip_run_is_finished_from_its_staging_folder(tmp_path, originals):
    source, records = originals
    staging = tmp_path / "out" / "images" / ".original_256.staging"
    images.write_folder([images.ImageRecord(1, records[0].image_file, b"staged")], staging)
    stale = tmp_path / "out" / ".original_256.zip.4242.partial"
    stale.write_bytes(b"half a zip")
    result = preprocess.resize_package(source, tmp_path / "out", ("zip",), workers=1)
    assert (result.written, result.already_done) == (7, 1)
    assert not staging.exists() and not stale.exists()
    package = images.open_package(tmp_path / "out" / "original_256.zip")
    assert len(list(package.names())) == 8 and package.read(records[0].image_file, 1) == b"staged"
    package.close()
    rerun = preprocess.resize_package(source, tmp_path / "out", ("zip",), workers=1)
    assert (rerun.written, rerun.already_done) == (0, 8)


def test_bad_files_are_reported_and_skipped_and_odd_ones_handled(tmp_path):
    good = jpeg(photo(400, 300))
    cmyk = jpeg(photo(400, 300).convert("CMYK"))
    grey = jpeg(photo(400, 300).convert("L"))
    exif = Image.Exif()
    exif[0x0112] = 6  # shown rotated by 90 degrees
    rotated = jpeg(photo(400, 300), exif=exif.tobytes())
    files = {
        "good.jpg": good,
        "empty.jpg": b"",
        "truncated.jpg": good[: len(good) // 2],
        "text.jpg": b"not a photograph",
        "cmyk.jpg": cmyk,
        "grey.jpg": grey,
        "rotated.jpg": rotated,
    }
    images.write_folder([images.ImageRecord(1, name, data) for name, data in files.items()], tmp_path / "in")
    result = preprocess.resize_package(tmp_path / "in", tmp_path / "out", ("folder", "hdf5"), workers=1)
    problems = pd.read_csv(tmp_path / "out" / "original_256_problems.csv")
    assert list(problems.columns) == ["file", "problem"]
    assert sorted(problems["file"]) == ["empty.jpg", "text.jpg", "truncated.jpg"]
    assert "truncated" in problems.set_index("file").loc["truncated.jpg", "problem"]
    assert (result.images, len(result.problems)) == (4, 3)
    hdf5 = images.open_package(tmp_path / "out" / "original_256.hdf5")
    decoded = {name: images.decode_image(hdf5.read(name)) for _, name in hdf5.names()}
    hdf5.close()
    assert sorted(decoded) == ["cmyk.jpg", "good.jpg", "grey.jpg", "rotated.jpg"]
    assert decoded["rotated.jpg"].size == (256, 341)
    assert all(image.mode == "RGB" and image.size in ((341, 256), (256, 341)) for image in decoded.values())
    assert np.abs(np.asarray(decoded["cmyk.jpg"], int) - np.asarray(decoded["good.jpg"], int)).mean() < 12


def test_a_pool_of_workers_writes_the_same_bytes_as_one_process(tmp_path, originals):
    source, _ = originals
    preprocess.resize_package(source, tmp_path / "one", ("folder",), workers=1)
    preprocess.resize_package(source, tmp_path / "two", ("folder",), workers=2)
    one = sorted((tmp_path / "one" / "images").rglob("*.jpg"))
    two = sorted((tmp_path / "two" / "images").rglob("*.jpg"))
    assert len(one) == 8 and [p.read_bytes() for p in one] == [p.read_bytes() for p in two]


def test_cli_resize_and_crop_from_a_zip(tmp_path, originals, capsys):
    source, records = originals
    images.write_zip(records, tmp_path / "original_full.zip", "original_full")
    out = tmp_path / "release"
    assert (
        cli.main(["resize", "--input", str(tmp_path / "original_full.zip"), "--output", str(out), "--workers", "1"])
        == 0
    )
    assert (
        cli.main(
            [
                "crop",
                "--input",
                str(tmp_path / "original_full.zip"),
                "--output",
                str(out),
                "--format",
                "hdf5",
                "--workers",
                "1",
                "--boxes-csv",
                str(tmp_path / "boxes.csv"),
            ]
        )
        == 0
    )
    assert len(list((out / "images" / "original_256").rglob("*.jpg"))) == 8
    assert len(pd.read_csv(tmp_path / "boxes.csv")) == 8
    assert (out / "cropped_256.hdf5").is_file() and not (out / "images" / ".cropped_256.staging").exists()
    assert "cropped_256" in capsys.readouterr().out


def test_cli_reports_a_missing_input(tmp_path, capsys):
    assert cli.main(["resize", "--input", str(tmp_path / "nowhere"), "--output", str(tmp_path)]) == 2
    assert f"{tmp_path / 'nowhere'}: no such folder or file" in capsys.readouterr().err


def test_unknown_format_is_refused(tmp_path):
    with pytest.raises(ValueError, match="format"):
        preprocess.package_targets(tmp_path, "original_256", ("tar",))
    assert os.listdir(tmp_path) == []


def test_a_size_that_is_not_positive_is_refused_before_any_work(tmp_path, originals, capsys):
    source, _ = originals
    for command in ("resize", "crop"):
        argv = [command, "--input", str(source), "--output", str(tmp_path / "out"), "--size", "0", "--workers", "1"]
        assert cli.main(argv) == 2
        assert "--size 0: give the shorter side as a positive number of pixels" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_settings_are_recorded_and_a_rerun_with_others_is_refused_or_redone(tmp_path, originals):
    source, _ = originals
    out = tmp_path / "out"
    preprocess.resize_package(source, out, ("folder", "zip"), workers=1, size=64)
    recorded = json.loads(preprocess.settings_path(out, "original_256").read_text())
    assert recorded == {"stage": "resize", "size": 64, "jpeg_quality": images.JPEG_QUALITY}
    with pytest.raises(ValueError, match="original_256 was made with .*'size': 64.*not .*'size': 96.*--redo"):
        preprocess.resize_package(source, out, ("folder", "zip"), workers=1, size=96)
    assert min(Image.open(next((out / "images" / "original_256").rglob("*.jpg"))).size) == 64
    redone = preprocess.resize_package(source, out, ("folder", "zip"), workers=1, size=96, redo=True)
    assert (redone.written, redone.already_done) == (8, 0)
    package = images.open_package(out / "original_256.zip")
    sizes = {min(images.decode_image(package.read(f, c)).size) for c, f in package.names()}
    package.close()
    folder_sizes = {min(Image.open(p).size) for p in (out / "images" / "original_256").rglob("*.jpg")}
    assert sizes == folder_sizes == {96}
    assert json.loads(preprocess.settings_path(out, "original_256").read_text())["size"] == 96


def test_unreadable_entries_of_an_hdf5_package_are_listed_and_the_rest_done(tmp_path, originals):
    _, records = originals
    elongated = io.BytesIO()
    Image.new("L", (1, 12000)).save(elongated, format="PNG")
    grey16 = io.BytesIO()
    Image.fromarray(np.tile(np.linspace(0, 65535, 400), (300, 1)).astype(np.uint16)).save(grey16, format="PNG")
    odd = [
        images.ImageRecord(1, "elongated.png", elongated.getvalue()),
        images.ImageRecord(1, "blank.jpg", jpeg(Image.new("RGB", (400, 300), "white"))),
        images.ImageRecord(1, "grey16.png", grey16.getvalue()),
        images.ImageRecord(1, "notes.txt", b"field notes"),
    ]
    images.write_hdf5([*records[:3], *odd], tmp_path / "in.hdf5")
    with h5py.File(tmp_path / "in.hdf5", "a") as file:
        file[bioscan1m.HDF5_GROUP].create_group("nested.jpg")
    result = preprocess.resize_package(tmp_path / "in.hdf5", tmp_path / "out", ("hdf5",), workers=1)
    problems = result.problems.set_index("file")["problem"]
    assert sorted(problems.index) == ["blank.jpg", "elongated.png", "nested.jpg", "notes.txt"]
    assert "more elongated" in problems["elongated.png"] and "single colour" in problems["blank.jpg"]
    assert problems["nested.jpg"].startswith("cannot read") and "not an image" in problems["notes.txt"]
    package = images.open_package(tmp_path / "out" / "original_256.hdf5")
    grey = np.asarray(images.decode_image(package.read("grey16.png")).convert("L"))
    package.close()
    assert result.images == 4 and grey[:, :5].mean() < 20 and grey[:, -5:].mean() > 235


SLOW_RESIZER = """
import sys
import time

from bioscan_lib import cli
from bioscan_lib.preprocess import process


class SlowResizer(process.Resizer):
    def __call__(self, data):
        time.sleep(0.05)
        return super().__call__(data)


if __name__ == "__main__":
    process.Resizer = SlowResizer
    sys.exit(cli.main(["resize", "--input", sys.argv[1], "--output", sys.argv[2], "--size", "32", "--workers", "2"]))
"""


def _slow_resize(tmp_path) -> tuple[subprocess.Popen, Path]:
    """A resize of 256 small photographs by two workers at 20 images a second each, in a child process."""
    records = [images.ImageRecord(1 + k // 128, f"P{k:04d}.jpg", jpeg(photo(64, 48, seed=k))) for k in range(256)]
    images.write_folder(records, tmp_path / "in")
    (tmp_path / "slow_resize.py").write_text(SLOW_RESIZER)
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")])}
    command = [sys.executable, str(tmp_path / "slow_resize.py"), str(tmp_path / "in"), str(tmp_path / "out")]
    child = subprocess.Popen(command, env=environment, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    staged = tmp_path / "out" / "images" / "original_256"
    deadline = time.monotonic() + 60
    while len(list(staged.rglob("*.jpg"))) < 40 and time.monotonic() < deadline and child.poll() is None:
        time.sleep(0.1)
    return child, staged


def test_ctrl_c_stops_a_resize_within_seconds_and_the_rerun_finishes(tmp_path):
    child, staged = _slow_resize(tmp_path)
    interrupted = time.monotonic()
    child.send_signal(signal.SIGINT)
    _, stderr = child.communicate(timeout=30)
    assert time.monotonic() - interrupted < 5
    assert child.returncode == 130 and stderr.strip().splitlines()[-1].endswith("run the same command again to resume")
    done = len(list(staged.rglob("*.jpg")))
    assert 40 <= done < 256 and not list(staged.rglob("*.partial"))
    rerun = preprocess.resize_package(tmp_path / "in", tmp_path / "out", ("folder",), workers=1, size=32)
    assert (rerun.already_done, rerun.written) == (done, 256 - done)


def test_workers_end_when_their_parent_is_killed(tmp_path):
    child, _ = _slow_resize(tmp_path)
    workers = psutil.Process(child.pid).children(recursive=True)
    assert len(workers) >= 2
    child.kill()
    child.communicate(timeout=30)
    _, alive = psutil.wait_procs(workers, timeout=5)
    assert not alive


def test_batches_are_queued_a_few_per_worker_not_all_at_once(tmp_path, originals, monkeypatch):
    source, _ = originals
    outstanding, peak = set(), []

    class CountingPool(ProcessPoolExecutor):
        def submit(self, *args, **kwargs):
            future = super().submit(*args, **kwargs)
            outstanding.add(future)
            future.add_done_callback(outstanding.discard)
            peak.append(len(outstanding))
            return future

    monkeypatch.setattr(preprocess, "ProcessPoolExecutor", CountingPool)
    monkeypatch.setattr(preprocess, "BATCH_SIZE", 1)
    result = preprocess.resize_package(source, tmp_path / "out", ("folder",), workers=2, size=32)
    assert result.written == 8 and len(peak) == 8 and max(peak) <= 2 * preprocess.BATCHES_PER_WORKER


def test_crop_settings_are_recorded_and_other_ones_refused(tmp_path, originals):
    source, _ = originals
    preprocess.crop_package(source, tmp_path / "out", ("hdf5",), workers=1, size=48)
    recorded = json.loads(preprocess.settings_path(tmp_path / "out", "cropped_256").read_text())
    assert (recorded["stage"], recorded["detector"], recorded["size"]) == ("crop", "builtin", 48)
    with pytest.raises(ValueError, match="cropped_256 was made with .*'size': 48.*rerun with --redo"):
        preprocess.crop_package(source, tmp_path / "out", ("hdf5",), workers=1, size=64)


def test_a_plain_folder_of_photographs_is_resized_and_cropped_as_part_1(tmp_path):
    """crop, resize and predict take the same inputs: a plain folder too, besides part<N>/ folders, ZIP and HDF5."""
    plain = tmp_path / "my photographs"
    plain.mkdir()
    for k in range(3):
        (plain / f"specimen_{k}.jpg").write_bytes(jpeg(photo(seed=k)))
    (plain / "notes.txt").write_text("not a photograph")
    resized = preprocess.resize_package(plain, tmp_path / "out", ("folder", "hdf5"), workers=1)
    assert resized.written == 3 and resized.problems.empty
    written = sorted(p.name for p in (tmp_path / "out" / "images" / "original_256" / "part1").iterdir())
    assert written == ["specimen_0.jpg", "specimen_1.jpg", "specimen_2.jpg"]
    assert cli.main(["crop", "--input", str(plain), "--output", str(tmp_path / "out"), "--workers", "1"]) == 0
    assert len(list((tmp_path / "out" / "images" / "cropped_256" / "part1").iterdir())) == 3
