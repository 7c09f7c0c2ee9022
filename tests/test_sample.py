"""The generated sample release: determinism, published formats read back through the loaders, taxonomy."""

from __future__ import annotations

import json
import re
import warnings
import zipfile
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest

from bioscan_lib.data import bioscan1m, images, metadata
from bioscan_lib.data.bioscan1m import CLIBD_ID_COLUMN, CLIBD_QUERIES, label_column
from bioscan_lib.data.metadata import labelled
from bioscan_lib.sample import OFFICIAL_SPLIT_SEED_OFFSET
from bioscan_lib.sample import release as sample
from bioscan_lib.split import clibd
from bioscan_lib.split.rules import SplitBudgetWarning, class_split_table, make_splits

SMALL_RECORDS = 240  # the size of the `small_sample` fixture


def test_same_seed_gives_identical_files(small_sample: Path, tmp_path: Path) -> None:
    again = sample.generate_sample(
        tmp_path, records=SMALL_RECORDS, seed=7, image_size=(240, 180), chunk_length=100, workers=2
    )
    for name in (
        "release/BIOSCAN_Insect_Dataset_metadata.tsv",
        "release/original_256.zip",
        "release/cropped_256.hdf5",
        "release/bioscan_images_cropped_full_part2.zip",
        "truth/boxes.csv",
        "release/md5sums.txt",
        "bioscan1m/CLIBD_partitioning/test_unseen.txt",
    ):
        assert (again / name).read_bytes() == (small_sample / name).read_bytes(), name
    first = json.loads((small_sample / "sample.json").read_text())
    assert json.loads((again / "sample.json").read_text()) == first


def test_a_sample_made_again_with_other_parameters_leaves_no_file_of_the_earlier_one(tmp_path: Path) -> None:
    options = {"records": 200, "image_size": (120, 90), "chunk_length": 100, "workers": 1}
    sample.generate_sample(tmp_path, seed=1, **options)
    stray = next((tmp_path / "bioscan1m" / "images" / "original_full").rglob("*.jpg"))
    sample.generate_sample(tmp_path, seed=2, **options)
    names = set(metadata.read_metadata(tmp_path / "bioscan1m")["image_file"].astype(str))
    photographs = list((tmp_path / "bioscan1m" / "images" / "original_full").rglob("*.jpg"))
    assert not stray.exists() or stray.name in names
    assert len(photographs) == 200 and {photo.name for photo in photographs} == names


def test_other_seed_gives_other_records() -> None:
    one = sample.synthetic_metadata(records=300, seed=1)
    two = sample.synthetic_metadata(records=300, seed=2)
    assert one["nucraw"].tolist() != two["nucraw"].tolist()
    assert one["order"].value_counts().to_dict() == two["order"].value_counts().to_dict()


def test_too_small_a_sample_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 200 records"):
        sample.synthetic_metadata(records=50)


def test_a_complete_sample_is_not_regenerated(small_sample: Path) -> None:
    stamp = (small_sample / "sample.json").stat().st_mtime_ns
    sample.generate_sample(small_sample, records=SMALL_RECORDS, seed=7, image_size=(240, 180), chunk_length=100)
    assert (small_sample / "sample.json").stat().st_mtime_ns == stamp


def test_metadata_has_the_published_columns_and_value_shapes(small_sample: Path) -> None:
    frame = metadata.read_metadata(small_sample / "bioscan1m")
    assert list(frame.columns) == list(bioscan1m.COLUMNS) and len(frame) == SMALL_RECORDS
    assert frame["uri"].astype(str).str.fullmatch(r"BOLD:[A-Z]{3}\d{4}").all()
    assert frame["sampleid"].astype(str).str.fullmatch(r"BIOUG\d{5}-[A-H]\d{2}").all()
    assert frame["processid"].astype(str).str.fullmatch(r"[A-Z]{5}\d{5}-\d{2}").all()
    assert frame["image_file"].is_unique and frame["processid"].is_unique
    assert frame["image_file"].astype(str).str.fullmatch(r"(BIOUG\d{5}-[A-H]\d{2}|\d{7})\.jpg").all()
    assert frame["chunk_number"].nunique() == 3
    assert set(frame[list(bioscan1m.SPLIT_COLUMNS)].stack().astype(str)) == set(bioscan1m.SPLIT_VALUES)


def test_official_splits_follow_the_published_rules_with_the_generators_own_shuffle(small_sample: Path) -> None:
    frame = metadata.read_metadata(small_sample / "bioscan1m")
    medium, small = sample.sample_split_sizes(SMALL_RECORDS)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SplitBudgetWarning)
        remade = make_splits(frame, 7 + OFFICIAL_SPLIT_SEED_OFFSET, medium, small)
        suite = make_splits(frame, 7, medium, small)
    for column in bioscan1m.SPLIT_COLUMNS:
        assert frame[column].astype(str).tolist() == remade[column].astype(str).tolist(), column
        assert (class_split_table(frame, column) == class_split_table(suite, column)).all().all(), column
    assert frame["large_insect_order"].astype(str).tolist() != suite["large_insect_order"].astype(str).tolist()
    assert sample.sample_split_sizes(3000) == (1200, 800)
    assert (frame["phylum"] == "Arthropoda").all() and (frame["class"] == "Insecta").all()
    barcodes = frame["nucraw"].astype(str)
    assert barcodes.str.fullmatch(r"[ACGTNRYKMSWacgtnrykmsw-]+").all()
    assert barcodes.str.len().between(400, 720).all() and (barcodes.str.len() == 658).mean() > 0.6


def test_taxonomy_is_consistent() -> None:
    frame = sample.synthetic_metadata(records=3000, seed=3).astype({c: str for c in bioscan1m.TAXONOMY_COLUMNS})
    for child, parent in (
        ("species", "genus"),
        ("genus", "family"),
        ("family", "order"),
        ("tribe", "subfamily"),
        ("subfamily", "family"),
        ("subspecies", "species"),
    ):
        known = frame[frame[child] != bioscan1m.NOT_CLASSIFIED]
        assert (known[parent] != bioscan1m.NOT_CLASSIFIED).all(), child
        assert (known.groupby(child)[parent].nunique() == 1).all(), f"a {child} spans several {parent}"
    genus_of_species = frame.loc[frame["species"] != bioscan1m.NOT_CLASSIFIED, ["species", "genus"]]
    assert (genus_of_species["species"].str.split(" ").str[0] == genus_of_species["genus"]).all()


def test_sample_frequencies_are_tempered_but_keep_the_published_ranking() -> None:
    frame = sample.synthetic_metadata(records=3000, seed=3)
    orders = frame["order"].astype(str).value_counts()
    published = list(bioscan1m.published_order_counts())
    assert orders.loc[published].min() >= 30
    assert orders.loc[published].is_monotonic_decreasing
    assert orders.drop(published).to_dict() == {"Strepsiptera": 2, "Zoraptera": 2, "Mecoptera": 1}
    diptera = frame.loc[frame["order"] == "Diptera", "family"].astype(str).value_counts()
    top40 = list(bioscan1m.diptera_family_counts())
    assert diptera.loc[top40].min() >= 25 and diptera.drop(top40).max() < diptera.loc[top40].min()
    for rank, share in (("family", 0.986), ("subfamily", 0.235), ("genus", 0.225), ("species", 0.075)):
        assert abs(labelled(frame[rank]).mean() - share) < 0.03, rank


def test_packages_follow_the_published_layouts(small_sample: Path) -> None:
    frame = metadata.read_metadata(small_sample / "release")
    first = frame.iloc[0]
    member = f"bioscan/images/original_256/part{first.chunk_number}/{first.image_file}"
    with zipfile.ZipFile(small_sample / "release" / "original_256.zip") as archive:
        assert member in archive.namelist() and len(archive.namelist()) == SMALL_RECORDS
    with h5py.File(small_sample / "release" / "original_256.hdf5") as file:
        dataset = file["bioscan_dataset"][str(first.image_file)]
        assert dataset.dtype == np.uint8 and dataset.ndim == 1
        assert file["bioscan_dataset"].attrs["copyright_holder"] == "CBG Photography Group"
    with zipfile.ZipFile(small_sample / "release" / "bioscan_images_original_full_part1.zip") as archive:
        assert archive.namelist()[0].startswith("bioscan/images/original_full/part1/")
    with zipfile.ZipFile(small_sample / "release" / "bioscan_images_cropped_full_part1.zip") as archive:
        assert archive.namelist()[0].startswith("bioscan/images/cropped_full/part1/")
    published = {p.name for p in (small_sample / "release").iterdir()}
    for package in ("original_256", "cropped_256"):
        assert {f"{package}.zip", f"{package}.hdf5"} <= published
    chunks = frame["chunk_number"].nunique()
    for package in ("original_full", "cropped_full"):
        assert {f"bioscan_images_{package}_part{n}.zip" for n in range(1, chunks + 1)} <= published
    readers = [
        images.open_package(small_sample / "bioscan1m" / "images" / "original_256"),
        images.open_package(small_sample / "release" / "original_256.zip"),
        images.open_package(small_sample / "release" / "original_256.hdf5"),
    ]
    data = {reader.read(str(first.image_file), int(first.chunk_number)) for reader in readers}
    assert len(data) == 1
    photo = images.decode_image(data.pop())
    assert min(photo.size) == 256 and photo.size == (341, 256)


def test_md5sums_cover_the_release(small_sample: Path) -> None:
    from bioscan_lib.core.files import file_digests

    lines = (small_sample / "release" / "md5sums.txt").read_text().splitlines()
    sums = dict(reversed(line.split("  ")) for line in lines)
    published = {p.name for p in (small_sample / "release").iterdir() if not p.name.startswith(".")}
    assert set(sums) == published - {"md5sums.txt"}
    assert all(file_digests(small_sample / "release" / n, ("md5",))[0] == h for n, h in sums.items())


def test_true_boxes_lie_inside_the_full_size_photographs(small_sample: Path) -> None:
    boxes = pd.read_csv(small_sample / "truth" / "boxes.csv")
    assert len(boxes) == SMALL_RECORDS
    assert (boxes["left"] >= 0).all() and (boxes["right"] <= 240).all()
    assert (boxes["top"] >= 0).all() and (boxes["bottom"] <= 180).all()
    assert ((boxes["right"] > boxes["left"]) & (boxes["bottom"] > boxes["top"])).all()


@pytest.mark.slow
def test_full_scale_metadata_has_the_published_counts(full_scale_frame: pd.DataFrame) -> None:
    frame = full_scale_frame
    assert len(frame) == bioscan1m.N_IMAGES
    assert (
        frame["order"].astype(str).value_counts().loc[list(bioscan1m.published_order_counts())].to_dict()
        == bioscan1m.published_order_counts()
    )
    diptera = frame.loc[(frame["order"] == "Diptera") & labelled(frame["family"]), "family"].astype(str).value_counts()
    assert diptera.head(40).to_dict() == bioscan1m.diptera_family_counts()
    for rank, published in bioscan1m.taxonomy_statistics().items():
        known = labelled(frame[rank])
        assert int(known.sum()) == published["labelled"], rank
        if rank not in ("order",):
            assert frame.loc[known, rank].nunique() == published["categories"], rank
    chunks = frame["chunk_number"].value_counts()
    assert len(chunks) == 113 and chunks[113] == 8313 and chunks[1] == 10_000
    assert re.fullmatch(r"[ACGTN-]+", str(frame["nucraw"].iloc[0]))


def test_heldout_photographs_use_the_shifted_condition_and_include_unseen_orders(tmp_path: Path) -> None:
    folder = sample.generate_heldout(tmp_path, records=20, image_size=(240, 180), unseen_per_order=2, workers=1)
    labels = pd.read_csv(folder / "labels.csv")
    assert len(labels) == 26 and labels["image_file"].is_unique
    assert (~labels["seen_order"]).sum() == 6
    assert set(labels.loc[~labels["seen_order"], "order"]) == {"Strepsiptera", "Zoraptera", "Mecoptera"}
    photo = images.decode_image((folder / "photos" / labels["image_file"].iloc[0]).read_bytes())
    corner = np.asarray(photo)[:10, :10].reshape(-1, 3).mean(axis=0)
    assert corner[0] > corner[2] + 10  # the shifted condition's warm tint; the default background is bluish grey
    assert sorted(p.name for p in (folder / "photos").iterdir()) == sorted(labels["image_file"])


# The field's loader, bioscan-dataset, reads the sample release as a client would -----------------------------------


def field_loader(root: Path, **options):
    """bioscan-dataset's BIOSCAN1M over the sample, its checksum check against the real release's files switched off."""
    from bioscan_dataset import BIOSCAN1M

    class SampleRelease(BIOSCAN1M):
        def _check_integrity(self, verbose=1) -> bool:
            return True

    return SampleRelease(root, **options)


@pytest.mark.parametrize("partitioning", list(bioscan1m.SPLIT_COLUMNS))
def test_the_field_loader_finds_every_official_split_of_the_tsv(small_sample: Path, partitioning: str) -> None:
    frame = metadata.read_metadata(small_sample / "bioscan1m")
    column, label = frame[partitioning].astype(str), label_column(partitioning)
    splits = {"train": {"train"}, "val": {"validation"}, "test": {"test"}, "train+validation": {"train", "validation"}}
    for split, members in splits.items():
        loaded = field_loader(
            small_sample,
            split=split,
            partitioning_version=partitioning,
            modality=[],
            target_type=label,
            target_format="text",
        )
        expected = frame[column.isin(members)]
        assert len(loaded) == len(expected) > 0, (partitioning, split)
        assert [loaded[index][0] for index in range(len(loaded))] == expected[label].astype(str).tolist()
        assert loaded.metadata["image_file"].tolist() == expected["image_file"].astype(str).tolist()


def test_the_sample_ships_its_clibd_partition_and_the_field_loader_reads_it(small_sample: Path) -> None:
    frame = metadata.read_metadata(small_sample / "bioscan1m")
    made = clibd.make_partition(frame, 7)
    read = clibd.clibd_partition(frame, metadata.find_metadata(small_sample / "bioscan1m"), seed=8)  # seed unused
    assert read.equals(made)
    split = next(query for query in CLIBD_QUERIES if (made == query).any())
    loaded = field_loader(small_sample, split=split, partitioning_version="clibd", modality=[], target_type="species")
    assert sorted(loaded.metadata[CLIBD_ID_COLUMN]) == sorted(frame.loc[made == split, CLIBD_ID_COLUMN]) != []


@pytest.mark.parametrize("package", ["original_full", "cropped", "original_256", "cropped_256"])
def test_the_field_loader_reads_every_image_package(small_sample: Path, package: str) -> None:
    loaded = field_loader(
        small_sample,
        split="test",
        image_package=package,
        modality=["image", "dna"],
        target_type="family",
        partitioning_version="large_diptera_family",
    )
    for index in (0, len(loaded) - 1):
        image, barcode, target = loaded[index]
        image.load()
        assert image.mode == "RGB" and min(image.size) > 0 and set(barcode) <= set("ACGTN-") and target >= 0
    shorter = min(loaded[0][0].size)
    assert shorter == 256 if package.endswith("_256") else shorter > 0


def test_the_published_crops_are_the_true_box_enlarged_padded_and_resized(small_sample: Path) -> None:
    from bioscan_lib.preprocess.crop import Box, enlarge_box

    first = metadata.read_metadata(small_sample / "bioscan1m").iloc[0]
    truth = pd.read_csv(small_sample / "truth" / "boxes.csv").set_index("image_file").loc[first.image_file]
    box = enlarge_box(Box(*truth[["left", "top", "right", "bottom"]]))
    package = small_sample / "bioscan1m" / "images"
    full = images.decode_image(images.open_package(package / "cropped").read(first.image_file, int(first.chunk_number)))
    small = images.decode_image(
        images.open_package(package / "cropped_256").read(first.image_file, int(first.chunk_number))
    )
    assert full.size == (box.right - box.left, box.bottom - box.top)
    assert min(small.size) == 256 and abs(small.size[0] / small.size[1] - full.size[0] / full.size[1]) < 0.01
