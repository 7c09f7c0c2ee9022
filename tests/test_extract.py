"""Extraction into the canonical layout: resumable, refusing members that leave the target, counted against metadata."""

from __future__ import annotations

import shutil
import stat
import zipfile

import pandas as pd
import pytest

from bioscan_lib.data.bioscan1m import COLUMNS, SPLIT_COLUMNS, images_folder
from bioscan_lib.data.images import zip_member
from bioscan_lib.download import extract
from bioscan_lib.download.extract import UnsafeArchiveError, check_extraction, extract_zip

IMAGES = [(1, "a.jpg"), (1, "b.jpg"), (2, "c.jpg")]


def _zip(path, members: dict[str, bytes]) -> None:
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)


def _metadata(root) -> None:
    frame = pd.DataFrame({column: ["x"] * len(IMAGES) for column in COLUMNS})
    frame["image_file"] = [file for _, file in IMAGES]
    frame["chunk_number"] = [chunk for chunk, _ in IMAGES]
    for column in SPLIT_COLUMNS:
        frame[column] = "train"
    (root / "bioscan1m").mkdir(parents=True, exist_ok=True)
    frame.to_csv(root / "bioscan1m" / "BIOSCAN_Insect_Dataset_metadata.tsv", sep="\t", index=False)


def test_extraction_is_resumable_and_counted_against_the_metadata(tmp_path):
    archive = tmp_path / "original_256.zip"
    _zip(archive, {zip_member("original_256", chunk, file): file.encode() * 10 for chunk, file in IMAGES})
    _metadata(tmp_path)
    first = extract_zip(archive, tmp_path, progress=False)
    assert (first.package, first.parts, first.whole_package, first.written) == ("original_256", (1, 2), True, 3)
    assert (images_folder(tmp_path, "original_256") / "part2" / "c.jpg").read_bytes() == b"c.jpg" * 10
    (images_folder(tmp_path, "original_256") / "part1" / "b.jpg").write_bytes(b"cut")
    again = extract_zip(archive, tmp_path, progress=False)
    assert (again.written, again.skipped) == (1, 2)  # only the incomplete image is written again
    counts = check_extraction(tmp_path, [again])
    assert counts.to_dict("records") == [
        {"package": "original_256", "parts": 2, "expected": 3, "found": 3, "missing": 0}
    ]
    (images_folder(tmp_path, "original_256") / "part1" / "a.jpg").unlink()
    assert check_extraction(tmp_path, [again])["missing"].tolist() == [1]


def test_a_full_size_part_is_counted_against_its_own_chunk(tmp_path):
    archive = tmp_path / "bioscan_images_original_full_part2.zip"
    _zip(archive, {zip_member("original_full", 2, "c.jpg"): b"c"})
    _metadata(tmp_path)
    result = extract_zip(archive, tmp_path, progress=False)
    assert not result.whole_package
    assert check_extraction(tmp_path, [result]).to_dict("records") == [
        {"package": "original_full", "parts": 1, "expected": 1, "found": 1, "missing": 0}
    ]


def test_full_size_crops_land_where_the_field_loader_looks_for_them(tmp_path):
    archive = tmp_path / "bioscan_images_cropped_full_part1.zip"
    _zip(archive, {zip_member("cropped_full", 1, "a.jpg"): b"a", zip_member("cropped_full", 1, "b.jpg"): b"b"})
    _metadata(tmp_path)
    result = extract_zip(archive, tmp_path, progress=False)
    assert result.package == "cropped" and (images_folder(tmp_path, "cropped") / "part1" / "a.jpg").read_bytes() == b"a"
    assert check_extraction(tmp_path, [result])["missing"].tolist() == [0]


@pytest.mark.parametrize("evil", ["../../evil", "bioscan/images/original_256/../../../evil", "/tmp/evil"])
def test_a_member_leaving_the_target_folder_refuses_the_whole_archive(tmp_path, evil):
    root = tmp_path / "deep" / "root"
    archive = tmp_path / "evil.zip"
    _zip(archive, {zip_member("original_256", 1, "a.jpg"): b"fine", evil: b"owned"})
    with pytest.raises(UnsafeArchiveError, match=f"evil.zip: member '{evil}' would be written outside"):
        extract_zip(archive, root, progress=False)
    assert not (root / "bioscan1m").exists()  # nothing extracted, not even the harmless member
    assert not any(path.name == "evil" for path in tmp_path.rglob("*"))


def test_a_symlink_member_is_refused(tmp_path):
    archive = tmp_path / "link.zip"
    info = zipfile.ZipInfo(zip_member("original_256", 1, "a.jpg"))
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    with zipfile.ZipFile(archive, "w") as handle:
        handle.writestr(info, "/etc/passwd")
    with pytest.raises(UnsafeArchiveError, match="would be written outside"):
        extract_zip(archive, tmp_path, progress=False)


def test_a_member_outside_the_published_layout_is_named(tmp_path):
    archive = tmp_path / "odd.zip"
    _zip(archive, {"bioscan/images/original_256/a.jpg": b"?"})
    with pytest.raises(ValueError, match="member 'bioscan/images/original_256/a.jpg' is not in the published layout"):
        extract_zip(archive, tmp_path, progress=False)


def test_a_broken_zip_says_what_to_do(tmp_path):
    archive = tmp_path / "broken.zip"
    archive.write_bytes(b"PK not really")
    with pytest.raises(ValueError, match="not a readable ZIP.*download it again"):
        extract_zip(archive, tmp_path, progress=False)


def _member(name: str) -> str:
    return zip_member("original_256", 1, name)


def test_a_zip_bomb_is_refused_before_anything_is_written(tmp_path):
    archive = tmp_path / "original_256.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as bomb:
        with bomb.open(_member("a.jpg"), "w") as member:
            for _ in range(300):
                member.write(bytes(1 << 20))
    assert archive.stat().st_size < 400_000
    with pytest.raises(ValueError, match="'.*a.jpg' would inflate from .* to 314,572,800 bytes.*ZIP bomb"):
        extract_zip(archive, tmp_path / "root", progress=False)
    assert not (tmp_path / "root").exists()


def test_more_than_the_free_space_is_refused(tmp_path, monkeypatch):
    archive = tmp_path / "original_256.zip"
    _zip(archive, {_member("a.jpg"): b"x" * 5000})
    monkeypatch.setattr(extract.shutil, "disk_usage", lambda path: shutil._ntuple_diskusage(10**9, 10**9, 4000))
    with pytest.raises(ValueError, match="unpacks to 5,000 bytes but .* has 4,000 bytes free; free some space"):
        extract_zip(archive, tmp_path / "root", progress=False)
    assert not (tmp_path / "root").exists()


def test_empty_archives_and_duplicate_names_are_explained(tmp_path):
    empty = tmp_path / "original_256.zip"
    _zip(empty, {})
    with pytest.raises(ValueError, match="original_256.zip: the archive holds no files"):
        extract_zip(empty, tmp_path, progress=False)
    twice = tmp_path / "cropped_256.zip"
    with zipfile.ZipFile(twice, "w") as archive, pytest.warns(UserWarning, match="Duplicate name"):
        archive.writestr(_member("a.jpg"), b"first")
        archive.writestr(_member("a.jpg"), b"second")
    with pytest.raises(ValueError, match="1 member name\\(s\\) appear more than once, e.g. '.*a.jpg'"):
        extract_zip(twice, tmp_path, progress=False)
    assert not images_folder(tmp_path).exists()


def test_a_crc_error_is_explained_and_leaves_no_file(tmp_path):
    archive = tmp_path / "original_256.zip"
    _zip(archive, {_member("a.jpg"): b"specimen" * 100})
    data = bytearray(archive.read_bytes())
    data[data.index(b"specimen") + 3] ^= 0xFF
    archive.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="'.*a.jpg' is corrupt \\(Bad CRC-32.*download it again"):
        extract_zip(archive, tmp_path, progress=False)
    assert not [path for path in images_folder(tmp_path).rglob("*") if path.is_file()]
