"""Preprocessing by parts: independent, resumable part jobs (here and through submitit's local executor), then a
merge writing the very bytes a one-shot run writes."""

from __future__ import annotations

from pathlib import Path

import pytest

from bioscan_lib import cli
from bioscan_lib.core.cluster import Resources
from bioscan_lib.preprocess import parts as by_parts
from bioscan_lib.preprocess import process as preprocess

FORMATS = ("folder", "zip", "hdf5")


def written_files(folder: Path) -> dict[str, bytes]:
    """Every file a stage left in `folder` (the parts' records and the measured speed aside), by relative path."""
    return {
        path.relative_to(folder).as_posix(): path.read_bytes()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
        and "_parts" not in path.relative_to(folder).parts[0]
        and not path.name.endswith("_speed.json")
    }


@pytest.fixture(scope="module")
def originals(small_sample: Path) -> Path:
    return small_sample / "bioscan1m" / "images" / "original_full"


def test_crop_by_parts_resumes_a_killed_part_and_merges_to_the_one_shot_bytes(originals: Path, tmp_path: Path) -> None:
    one_shot = tmp_path / "one_shot"
    preprocess.crop_package(originals, one_shot, FORMATS, workers=1, boxes_csv=one_shot / "boxes.csv")
    out = tmp_path / "by_parts"
    cropper = by_parts.stage_transform("crop")
    for part in (1, 2, 3):
        by_parts.process_part(originals, out, "cropped_256", cropper, part, FORMATS, workers=1, boxes=True)
    killed = sorted((out / "images" / "cropped_256" / "part2").iterdir())[:5]
    for path in killed:  # part 2 killed before these images were written, and before its record
        path.unlink()
    (out / "cropped_256_parts" / "part2_problems.csv").unlink()
    with pytest.raises(ValueError, match="parts 2 of cropped_256 are not finished"):
        by_parts.merge_parts(originals, out, "cropped_256", [1, 2, 3], FORMATS, out / "boxes.csv")
    again = by_parts.process_part(originals, out, "cropped_256", cropper, 2, FORMATS, workers=1, boxes=True)
    assert (again.written, again.already_done) == (5, again.images - 5)
    merged = by_parts.merge_parts(originals, out, "cropped_256", [1, 2, 3], FORMATS, out / "boxes.csv")
    assert merged.images == 240 and len(merged.boxes) == 240
    assert written_files(out) == written_files(one_shot)


def test_resize_parts_submitted_to_the_local_executor_merge_to_the_one_shot_bytes(
    originals: Path, tmp_path: Path
) -> None:
    one_shot = tmp_path / "one_shot"
    preprocess.resize_package(originals, one_shot, ("zip", "hdf5"), workers=1)
    out = tmp_path / "by_parts"
    job = by_parts.PartJob("resize", str(originals), str(out), "original_256", ("zip", "hdf5"), workers=1)
    jobs = by_parts.submit_parts(job, [1, 2, 3], "local", Resources(cpus_per_task=1, timeout_min=5))
    assert [result.images for result in (job.result() for job in jobs)] == [100, 100, 40]
    assert len(list((out / "original_256_parts" / "submitit").glob("*_log.out"))) == 3
    by_parts.merge_parts(originals, out, "original_256", [1, 2, 3], ("zip", "hdf5"))
    assert not (out / "images" / ".original_256.staging").exists()  # as a one-shot run, only the packages stay
    assert written_files(out) == written_files(one_shot)


def test_cli_processes_parts_then_merges_once_every_part_is_done(
    originals: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    common = ["resize", "--input", str(originals), "--format", "zip", "--workers", "1", "--output"]
    assert cli.main([*common, str(tmp_path / "one_shot")]) == 0
    out = str(tmp_path / "by_parts")
    assert cli.main([*common, out, "--parts", "1,2"]) == 0
    assert cli.main([*common, out, "--merge"]) == 2  # every part of --input by default
    assert "parts 3 of original_256 are not finished" in capsys.readouterr().err
    assert cli.main([*common, out, "--parts", "3"]) == 0
    assert cli.main([*common, out, "--merge"]) == 0
    assert written_files(Path(out)) == written_files(tmp_path / "one_shot")
    assert cli.main([*common, out, "--parts", "1", "--submit", "local", "--merge"]) == 2
    assert "--merge after --submit needs --wait" in capsys.readouterr().err


def test_a_part_with_other_settings_is_refused_and_nothing_removed(originals: Path, tmp_path: Path) -> None:
    by_parts.process_part(
        originals, tmp_path, "original_256", by_parts.stage_transform("resize", 64), 1, ("folder",), 1
    )
    written = sorted((tmp_path / "images" / "original_256").rglob("*.jpg"))
    with pytest.raises(ValueError, match="original_256 was made with .*'size': 64.*parts run side by side"):
        by_parts.process_part(
            originals, tmp_path, "original_256", by_parts.stage_transform("resize", 96), 2, ("folder",), 1, redo=True
        )
    assert sorted((tmp_path / "images" / "original_256").rglob("*.jpg")) == written


def test_merging_after_submitting_needs_waiting_for_the_jobs(originals: Path, tmp_path: Path) -> None:
    job = by_parts.PartJob("resize", str(originals), str(tmp_path), "original_256", ("folder",))
    with pytest.raises(ValueError, match="--merge after --submit needs --wait"):
        by_parts.by_parts(job, [1], merge=True, cluster="local")
    assert not any(tmp_path.iterdir())
