"""The catalog of published files: completeness, hosts in order, both metadata names, part and wildcard selection."""

from __future__ import annotations

import pytest

from bioscan_lib.data.bioscan1m import METADATA_ALIAS, METADATA_NAME
from bioscan_lib.download.catalog import catalog, lookup, parse_parts, read_drive_ids, select_files, with_drive_ids


def test_catalog_holds_every_published_file():
    entries = catalog()
    assert len(entries) == 2 + 4 + 2 * 113
    for name in (
        "BIOSCAN_Insect_Dataset_metadata.jsonld",
        "original_256.zip",
        "original_256.hdf5",
        "cropped_256.zip",
        "cropped_256.hdf5",
        "bioscan_images_original_full_part113.zip",
        "bioscan_images_cropped_full_part1.zip",
    ):
        assert name in entries
    assert "bioscan_images_original_full_part114.zip" not in entries


def test_published_md5_and_places():
    assert lookup(METADATA_NAME).md5 == "dec3bb23870a35e2e13bc17a5809c901"
    assert lookup("cropped_256.zip").md5 == "fe1175815742db14f7372d505345284a"
    assert lookup("original_256.zip").md5 == "9729fc1c49d84e7f1bfc6f5a0916d72b"
    assert lookup("original_256.hdf5").md5 is None
    assert lookup(METADATA_NAME).destination == f"bioscan1m/{METADATA_NAME}"
    assert lookup("bioscan_images_original_full_part3.zip").part == 3


def test_hosts_in_order_of_preference_and_google_drive_only_with_an_id():
    entry = lookup(METADATA_NAME)
    assert entry.urls() == (
        f"https://zenodo.org/records/8030065/files/{METADATA_NAME}",
        f"https://huggingface.co/datasets/bioscan-ml/BIOSCAN-1M/resolve/33e1f31/{METADATA_NAME}",
    )
    [with_id] = with_drive_ids([entry], {METADATA_NAME: "XYZ"})
    assert with_id.urls()[-1] == "https://drive.google.com/uc?export=download&id=XYZ"
    assert entry.urls("http://127.0.0.1:9/rel/") == (f"http://127.0.0.1:9/rel/{METADATA_NAME}",)


def test_both_metadata_names_are_accepted():
    assert lookup(METADATA_ALIAS) is lookup(METADATA_NAME)
    with pytest.raises(ValueError, match="'metadata.csv' is not a published BIOSCAN-1M file"):
        lookup("metadata.csv")


def test_parse_parts():
    assert parse_parts("1-3,7, 2") == [1, 2, 3, 7]
    for bad in ("0-4", "110-114", "3-1", "x"):
        with pytest.raises(ValueError, match="--parts"):
            parse_parts(bad)


def test_selection_by_package_parts_metadata_and_wildcards():
    names = [e.name for e in select_files(package="original_full", parts=[1, 2], all_metadata=True)]
    assert names == [
        METADATA_NAME,
        "BIOSCAN_Insect_Dataset_metadata.jsonld",
        "bioscan_images_original_full_part1.zip",
        "bioscan_images_original_full_part2.zip",
    ]
    assert [e.name for e in select_files(package="cropped_256", file_format="hdf5")] == ["cropped_256.hdf5"]
    assert len(select_files(["bioscan_images_cropped_full_part*.zip"])) == 113
    offered = {"bioscan_images_original_full_part5.zip", "md5sums.txt"}
    assert [e.name for e in select_files(["*_part*.zip"], available=offered)] == [
        "bioscan_images_original_full_part5.zip"
    ]
    with pytest.raises(ValueError, match="published as ZIP parts only"):
        select_files(package="original_full", file_format="hdf5")
    with pytest.raises(ValueError, match="--parts applies to"):
        select_files(package="original_256", parts=[1])
    with pytest.raises(ValueError, match="nothing to download"):
        select_files([])


def test_read_drive_ids(tmp_path):
    path = tmp_path / "ids.txt"
    path.write_text("# ids\noriginal_256.zip:abc-_1\n\ncropped_256.zip\tdef\n")
    assert read_drive_ids(path) == {"original_256.zip": "abc-_1", "cropped_256.zip": "def"}
    path.write_text("original_256.zip\n")
    with pytest.raises(ValueError, match="line 1: expected `file_name:drive_id`"):
        read_drive_ids(path)
