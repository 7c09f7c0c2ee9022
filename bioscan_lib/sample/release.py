"""The embedded sample dataset: a seeded synthetic BIOSCAN-1M release in exactly the published formats."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import warnings
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from bioscan_lib.config import DEFAULT_SEED
from bioscan_lib.core.files import atomic_path, file_digests, write_text_atomic
from bioscan_lib.data import bioscan1m, images, metadata
from bioscan_lib.data.bioscan1m import (
    BUDGETS,
    DATASET_FOLDER,
    FULL_PACKAGES,
    METADATA_NAME,
    PACKAGE_FOLDERS,
    RESIZED_PACKAGES,
    images_folder,
)
from bioscan_lib.preprocess.crop import Box, cut_padded, enlarge_box
from bioscan_lib.sample import (
    DEFAULT_IMAGE_SIZE,
    DEFAULT_RECORDS,
    MEDIUM_SHARE,
    OFFICIAL_SPLIT_SEED_OFFSET,
    SMALL_SHARE,
    taxonomy,
)
from bioscan_lib.sample.barcodes import evolved_barcodes
from bioscan_lib.sample.photographs import DEFAULT_CONDITION, SHIFTED_CONDITION, draw_photo
from bioscan_lib.split import clibd
from bioscan_lib.split.rules import SplitBudgetWarning, make_splits

SAMPLE_VERSION = "6"
MINIMUM_RECORDS = 200
COPYRIGHT = {
    "copyright_license": "CreativeCommons - Attribution Non-Commercial Share-Alike",
    "copyright_holder": "CBG Photography Group",
    "copyright_institution": "Centre for Biodiversity Genomics",
    "copyright_contact": "sample-data@example.org",
    "photographer": "CBG Robotic Imager",
    "author": "CBG Robotic Imager",
}
RENDERED_PACKAGES = (*FULL_PACKAGES, *RESIZED_PACKAGES)  # the order the photographs are rendered and written in


def _categorical(codes: np.ndarray, names: list[str]) -> pd.Categorical:
    """Row labels from class codes, -1 becoming `not_classified`."""
    categories = [*names, bioscan1m.NOT_CLASSIFIED]
    return pd.Categorical.from_codes(np.where(codes >= 0, codes, len(names)), categories=categories)


def _identifiers(rows: int, rng: np.random.Generator) -> dict[str, pd.Series]:
    """BOLD-shaped `processid`, `sampleid` (plate-well) and `image_file` columns, all distinct."""
    index = pd.Series(np.arange(rows))
    plate = (int(rng.integers(10_000, 60_000)) + index // 96).astype(str)
    well = pd.Series(np.array(list("ABCDEFGH"))[(index % 96) // 12]) + ((index % 12) + 1).astype(str).str.zfill(2)
    sampleid = "BIOUG" + plate + "-" + well
    projects = np.array(["GMOCA", "BBCAN", "CNGMB", "BIOSC"])
    year = pd.Series(rng.integers(19, 23, rows)).astype(str)
    processid = pd.Series(projects[index % 4]) + (index // 4 + 1).astype(str).str.zfill(5) + "-" + year
    numeric = rng.random(rows) < 0.04
    image_file = (sampleid + ".jpg").where(~numeric, (5_000_000 + index).astype(str) + ".jpg")
    return {"processid": processid, "sampleid": sampleid, "image_file": image_file}


def _most_specific(columns: dict[str, pd.Categorical], order: np.ndarray) -> np.ndarray:
    """The `name` column: the most specific classified taxon of each row."""
    name = order.astype(object)
    for rank in ("family", "subfamily", "tribe", "genus", "species", "subspecies"):
        values = np.asarray(columns[rank], dtype=object)
        name = np.where(values != bioscan1m.NOT_CLASSIFIED, values, name)
    return name


def synthetic_metadata(
    records: int = DEFAULT_RECORDS, seed: int = DEFAULT_SEED, chunk_length: int = 500, full_scale: bool = False
) -> pd.DataFrame:
    """Metadata rows in the published schema with a consistent taxonomy; published counts at full scale."""
    if records < MINIMUM_RECORDS:
        raise ValueError(
            f"a sample needs at least {MINIMUM_RECORDS} records to hold every order and Diptera family; got {records}"
        )
    rng = np.random.default_rng(seed)
    families = taxonomy.family_table(taxonomy.sample_order_counts(records, full_scale), full_scale, rng)
    rows = int(families["count"].sum())
    row_family = np.repeat(np.arange(len(families)), families["count"].to_numpy())[rng.permutation(rows)]
    order = families["order"].to_numpy()[row_family]
    known = families["family"].to_numpy() != bioscan1m.NOT_CLASSIFIED
    family_code = np.where(known, np.cumsum(known) - 1, -1)[row_family]
    targets = taxonomy.rank_targets(rows, full_scale)
    codes = {"family": family_code}
    parents = {}
    for rank in taxonomy.FINER_RANKS:
        per_parent = (
            None if full_scale or rank not in taxonomy.RELEASE_SIZED_RANKS else taxonomy.children_per_parent(rank)
        )
        codes[rank], parents[rank] = taxonomy.assign_children(
            codes[taxonomy.RANK_PARENT[rank]], *targets[rank], rng, per_parent
        )
    species_labelled = targets["species"][0]
    codes["subspecies"], parents["subspecies"] = taxonomy.assign_children(
        codes["species"], max(2, species_labelled // 500), max(1, species_labelled // 1000), rng
    )
    genus_names = taxonomy.latin_names(len(parents["genus"]), "genus", rng)
    epithets = taxonomy.latin_names(len(parents["species"]) + len(parents["subspecies"]), "species", rng)
    species_names = [f"{genus_names[g]} {e}" for g, e in zip(parents["species"], epithets)]
    names = {
        "family": families.loc[known, "family"].tolist(),
        "subfamily": taxonomy.latin_names(len(parents["subfamily"]), "subfamily", rng),
        "tribe": taxonomy.latin_names(len(parents["tribe"]), "tribe", rng),
        "genus": genus_names,
        "species": species_names,
        "subspecies": [
            f"{species_names[s]} {e}" for s, e in zip(parents["subspecies"], epithets[len(species_names) :])
        ],
    }
    columns = {rank: _categorical(codes[rank], names[rank]) for rank in names}
    ranks = {"order": pd.factorize(order, sort=True)[0], "family": family_code}
    ranks |= {"genus": codes["genus"], "species": codes["species"]}
    bin_parent = taxonomy.most_specific(list(ranks.values()))
    bins = max(targets["uri"][1], len(np.unique(bin_parent)))
    bin_code, _ = taxonomy.assign_children(bin_parent, rows, bins, rng)
    frame = pd.DataFrame(_identifiers(rows, rng))
    frame.insert(2, "name", pd.Categorical(_most_specific(columns, order)))
    frame["phylum"] = pd.Categorical(["Arthropoda"] * rows)
    frame["class"] = pd.Categorical(["Insecta"] * rows)
    frame["order"] = pd.Categorical(order)
    for rank in ("family", "subfamily", "tribe", "genus", "species", "subspecies"):
        frame[rank] = columns[rank]
    frame["uri"] = pd.Categorical.from_codes(bin_code, categories=taxonomy.bin_uris(bins, rng))
    reads = evolved_barcodes(ranks, bin_code, rng)
    frame["nucraw"] = pd.Series(pd.arrays.ArrowExtensionArray(reads), dtype="string[pyarrow]")
    frame["chunk_number"] = (np.arange(rows) // chunk_length + 1).astype("int16")
    for column in bioscan1m.SPLIT_COLUMNS:
        frame[column] = pd.Categorical(["no_split"] * rows, categories=list(bioscan1m.SPLIT_VALUES))
    for column, value in COPYRIGHT.items():
        frame[column] = pd.Categorical([value] * rows)
    return official_splits(frame[list(bioscan1m.COLUMNS)], seed, full_scale)


def sample_split_sizes(records: int) -> tuple[int, int]:
    """The sample's Medium and Small sizes for a sample of `records` (1,200 and 800 for the default 3,000)."""
    return round(MEDIUM_SHARE * records), round(SMALL_SHARE * records)


def official_splits(frame: pd.DataFrame, seed: int, full_scale: bool = False) -> pd.DataFrame:
    """The six split columns as the authors filled theirs: by the published rules, with a shuffle of the generator's
    own (the published one had no seed), at the paper's sizes at full scale and the sample's otherwise."""
    medium, small = (BUDGETS["medium"], BUDGETS["small"]) if full_scale else sample_split_sizes(len(frame))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SplitBudgetWarning)  # only a sample far smaller than the default meets it
        return make_splits(frame, seed + OFFICIAL_SPLIT_SEED_OFFSET, medium, small)


def full_scale_metadata(seed: int = DEFAULT_SEED) -> pd.DataFrame:
    """1,128,313 rows whose order counts, 40 Diptera family counts and per-rank totals equal the published ones."""
    return synthetic_metadata(
        bioscan1m.N_IMAGES, seed, chunk_length=bioscan1m.published()["chunk_length"], full_scale=True
    )


class Rendered(NamedTuple):
    """One specimen's photograph in every published package, and its true box (full-size pixels)."""

    original_full: bytes
    original_256: bytes
    box: tuple[int, int, int, int]
    cropped_full: bytes
    cropped_256: bytes


def _render(job: tuple[str, str, int, int, tuple[int, int], bool]) -> Rendered:
    """Draw one specimen photograph and cut it as the authors cut theirs: its box enlarged 1.4 times with equal
    extension and padded with RGB 240 (the generator knows the box where they had DETR's), full size and 256 px."""

    order, family, seed, index, size, shifted = job
    condition = SHIFTED_CONDITION if shifted else DEFAULT_CONDITION
    photo, box = draw_photo(order, family, np.random.default_rng([seed, index]), size=size, condition=condition)
    cut = cut_padded(photo, enlarge_box(Box(*box)))
    return Rendered(
        images.encode_jpeg(photo),
        images.encode_jpeg(images.resize_shorter_side(photo)),
        box,
        images.encode_jpeg(cut),
        images.encode_jpeg(images.resize_shorter_side(cut)),
    )


def _render_all(frame: pd.DataFrame, seed: int, size: tuple[int, int], workers: int, shifted: bool = False) -> list:
    """Render every record's photograph in a process pool, in metadata order, with a progress bar."""
    labels = zip(frame["order"].astype(str), frame["family"].astype(str))
    jobs = [(o, f, seed, i, size, shifted) for i, (o, f) in enumerate(labels)]
    with ProcessPoolExecutor(max_workers=workers) as pool:
        return list(
            tqdm(pool.map(_render, jobs, chunksize=64), total=len(jobs), desc="drawing photographs", unit="img")
        )


def _write_release(out: Path, frame: pd.DataFrame, packages: dict[str, list[images.ImageRecord]]) -> None:
    """The release mirror: every file the hosts publish, under their names: the metadata, the 256 px packages as ZIP
    and HDF5, the full-size parts of originals and crops, and an md5sums.txt."""
    release = out / "release"
    metadata.write_metadata(frame, release / METADATA_NAME)
    for package in ("original_256", "cropped_256"):
        images.write_zip(packages[package], release / f"{package}.zip", package)
        images.write_hdf5(packages[package], release / f"{package}.hdf5", COPYRIGHT)
    for package in ("original_full", "cropped_full"):
        for chunk in sorted(frame["chunk_number"].unique()):
            part = [record for record in packages[package] if record.chunk_number == chunk]
            images.write_zip(part, release / f"bioscan_images_{package}_part{int(chunk)}.zip", package)
    sums = [f"{file_digests(p, ('md5',))[0]}  {p.name}" for p in sorted(release.iterdir()) if p.name != "md5sums.txt"]
    write_text_atomic(release / "md5sums.txt", "\n".join(sums) + "\n")


def _manifest(records: int, seed: int, size: tuple[int, int], chunk_length: int) -> dict:
    return {
        "version": SAMPLE_VERSION,
        "records": records,
        "seed": seed,
        "image_size": list(size),
        "chunk_length": chunk_length,
    }


def generate_sample(
    out_dir: str | os.PathLike,
    records: int = DEFAULT_RECORDS,
    seed: int = DEFAULT_SEED,
    image_size: tuple[int, int] = DEFAULT_IMAGE_SIZE,
    chunk_length: int = 500,
    workers: int | None = None,
    force: bool = False,
) -> Path:
    """Write the sample release under `out_dir` (skipped when one with the same parameters is complete), with the
    CLIBD partition made from `seed` beside its extracted metadata."""
    out = Path(out_dir)
    manifest_path = out / "sample.json"
    wanted = _manifest(records, seed, tuple(image_size), chunk_length)
    if not force and manifest_path.is_file() and json.loads(manifest_path.read_text())["parameters"] == wanted:
        return out
    frame = synthetic_metadata(records, seed, chunk_length)
    for generated in (out / DATASET_FOLDER, out / "release", out / "truth"):  # an earlier sample's files go first
        shutil.rmtree(generated, ignore_errors=True)
    rendered = _render_all(frame, seed, tuple(image_size), workers or os.cpu_count() or 1)
    chunks = frame["chunk_number"].to_numpy()
    names = frame["image_file"].tolist()
    packages = {
        package: [images.ImageRecord(int(c), f, getattr(r, package)) for c, f, r in zip(chunks, names, rendered)]
        for package in RENDERED_PACKAGES
    }
    root = out / DATASET_FOLDER
    for package in RENDERED_PACKAGES:
        images.write_folder(packages[package], images_folder(out, PACKAGE_FOLDERS.get(package, package)))
    metadata.write_metadata(frame, root / METADATA_NAME)
    clibd.write_release_partition(frame, root / METADATA_NAME, seed)  # as CLIBD's lies beside the TSV it was made for
    boxes = pd.DataFrame([r.box for r in rendered], columns=["left", "top", "right", "bottom"])
    boxes.insert(0, "image_file", names)
    with atomic_path(out / "truth" / "boxes.csv") as temporary:
        boxes.to_csv(temporary, index=False)
    _write_release(out, frame, packages)
    digest = hashlib.sha256(b"".join(r.original_full for r in rendered)).hexdigest()
    write_text_atomic(manifest_path, json.dumps({"parameters": wanted, "images_sha256": digest}, indent=2) + "\n")
    return out


def generate_heldout(
    out_dir: str | os.PathLike,
    records: int = 150,
    seed: int = DEFAULT_SEED + 1,
    image_size: tuple[int, int] = DEFAULT_IMAGE_SIZE,
    unseen_per_order: int = 4,
    workers: int | None = None,
) -> Path:
    """New full-size photographs under a shifted imaging condition, with a few specimens of unseen rare orders.

    The photographs go to `<out_dir>/heldout/photos/`; `labels.csv` beside them holds the truth for scoring."""
    folder = Path(out_dir) / "heldout"
    labels_path = folder / "labels.csv"
    if labels_path.is_file():
        return folder
    pool = synthetic_metadata(max(records * 2, MINIMUM_RECORDS), seed)
    seen = pool[pool["order"].isin(list(bioscan1m.published_order_counts()))].sample(records, random_state=seed)
    unseen = pd.DataFrame(
        {"order": np.repeat(list(taxonomy.RARE_ORDER_COUNTS), unseen_per_order), "family": bioscan1m.NOT_CLASSIFIED}
    )
    truth = pd.concat([seen[["order", "family"]].astype(str), unseen], ignore_index=True)
    truth = truth.sample(frac=1.0, random_state=seed).reset_index(drop=True)
    truth.insert(0, "image_file", [f"heldout_{i:05d}.jpg" for i in range(len(truth))])
    truth["seen_order"] = truth["order"].isin(list(bioscan1m.published_order_counts()))
    rendered = _render_all(truth, seed, tuple(image_size), workers or os.cpu_count() or 1, shifted=True)
    for name, photograph in zip(truth["image_file"], rendered):
        with atomic_path(folder / "photos" / name) as temporary:
            temporary.write_bytes(photograph.original_full)
    with atomic_path(labels_path) as temporary:
        truth.to_csv(temporary, index=False)
    return folder


def write_full_scale_metadata(out_dir: str | os.PathLike, seed: int = DEFAULT_SEED) -> Path:
    """Write the 1,128,313-row metadata TSV (no images) under `out_dir`."""
    path = Path(out_dir) / METADATA_NAME
    metadata.write_metadata(full_scale_metadata(seed), path)
    return path
