"""BIOSCAN-1M Insect: every fact of the release (names, columns, ranks, packages, hosts, experiments, published numbers)."""

from __future__ import annotations

import difflib
import json
import os
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

# where it is published
ZENODO_RECORD = "8030065"
HUGGINGFACE_DATASET = "bioscan-ml/BIOSCAN-1M"
HUGGINGFACE_REVISION = "33e1f31"
HOST_URLS = {
    "zenodo": f"https://zenodo.org/records/{ZENODO_RECORD}/files/{{name}}",
    "huggingface": f"https://huggingface.co/datasets/{HUGGINGFACE_DATASET}/resolve/{HUGGINGFACE_REVISION}/{{name}}",
}
GOOGLE_DRIVE_URL = "https://drive.google.com/uc?export=download&id={file_id}"

# files and folders
DATASET_FOLDER = "bioscan1m"  # the release's folder under a data root, as the bioscan-dataset package names it
IMAGES_FOLDER = "images"
METADATA_FILE_NAMES = ("BIOSCAN_Insect_Dataset_metadata.tsv", "BIOSCAN_1M_Insect_Dataset_metadata.tsv")
METADATA_NAME, METADATA_ALIAS = METADATA_FILE_NAMES
JSONLD_NAME = "BIOSCAN_Insect_Dataset_metadata.jsonld"
PUBLISHED_FILE = "bioscan1m_published.json"

# image packages: four published ones, each a folder, a ZIP or an HDF5 file; the full-size ones come in parts
RESIZED_PACKAGES = ("original_256", "cropped_256")
FULL_PACKAGES = ("original_full", "cropped_full")
PACKAGES = (*RESIZED_PACKAGES, *FULL_PACKAGES)
PACKAGE_FOLDERS = {"cropped_full": "cropped"}  # a package whose extracted folder is named otherwise
PACKAGE_FORMS = "a folder of photographs (read as part 1) or of part<N>/ folders, a .zip or an .hdf5"  # what opens
RESIZED_SIDE = 256  # the shorter side of the 256 px packages
N_PARTS = 113  # parts of each full-size package, one per chunk number
HDF5_GROUP = "bioscan_dataset"
ZIP_IMAGES_FOLDER = "bioscan/images"  # where a ZIP package's members lie: <this>/<package>/part<N>/<file>

# metadata columns
TAXONOMY_COLUMNS = ("phylum", "class", "order", "family", "subfamily", "tribe", "genus", "species", "subspecies")
RANKS = TAXONOMY_COLUMNS[:-1]  # the ranks the paper counts (phylum to species)
PARENT_RANKS = {"family": "order", "genus": "family", "species": "genus"}  # a name should sit under one of these
BIN_COLUMN = "uri"  # the Barcode Index Number
BARCODE_COLUMN = "nucraw"  # the COI DNA barcode
IMAGE_COLUMN, CHUNK_COLUMN = "image_file", "chunk_number"

# the paper's six experiments: two tasks at three sizes
TASKS = ("diptera_family", "insect_order")
LABEL_COLUMNS = {"diptera_family": "family", "insect_order": "order"}
SIZES = ("large", "medium", "small")
BUDGETS = {"medium": 200_000, "small": 50_000}  # samples of the Medium and Small experiments
EXPERIMENTS = tuple(f"{size}_{task}" for size in SIZES for task in TASKS)  # the order they are made in
SPLIT_COLUMNS = tuple(f"{size}_{task}" for task in TASKS for size in SIZES)  # the order of their metadata columns
DIPTERA = "Diptera"
N_DIPTERA_FAMILIES = 40  # the Diptera experiments classify the 40 most populous families
SPLIT_VALUES = ("train", "validation", "test", "no_split")
NOT_CLASSIFIED = "not_classified"

# the CLIBD partition (Gong et al., ICLR 2025): species seen in training or not, each evaluated as queries searched
# against keys; ten files of sample IDs, one a line, in a folder beside the metadata TSV, as bioscan-dataset reads them
CLIBD_FOLDER = "CLIBD_partitioning"
CLIBD_ID_COLUMN = "sampleid"  # what each line of a split file holds
CLIBD_SPLIT_COLUMN = "clibd_split"  # the column bioscan-dataset adds for it
CLIBD_SPLITS = (
    "no_split",
    "train_seen",
    "seen_keys",
    "single_species",
    "val_seen",
    "val_unseen",
    "val_unseen_keys",
    "test_seen",
    "test_unseen",
    "test_unseen_keys",
)
CLIBD_UNLABELLED, CLIBD_SINGLE = "no_split", "single_species"  # specimens of no species; of a species of one specimen
CLIBD_SEEN = ("train_seen", "seen_keys", "val_seen", "test_seen")
CLIBD_UNSEEN = ("val_unseen", "val_unseen_keys", "test_unseen", "test_unseen_keys")
CLIBD_KEYS_OF_QUERIES = {  # each query split and the key split it is searched against (CLIBD's summary script)
    "val_seen": "seen_keys",
    "test_seen": "seen_keys",
    "val_unseen": "val_unseen_keys",
    "test_unseen": "test_unseen_keys",
}
CLIBD_QUERIES = tuple(CLIBD_KEYS_OF_QUERIES)
CLIBD_KEYS = tuple(dict.fromkeys(CLIBD_KEYS_OF_QUERIES.values()))

COPYRIGHT_COLUMNS = (
    "copyright_license",
    "copyright_holder",
    "copyright_institution",
    "copyright_contact",
    "photographer",
    "author",
)
COLUMNS = (
    "processid",
    "sampleid",
    "name",
    *TAXONOMY_COLUMNS,
    BIN_COLUMN,
    BARCODE_COLUMN,
    IMAGE_COLUMN,
    CHUNK_COLUMN,
    *SPLIT_COLUMNS,
    *COPYRIGHT_COLUMNS,
)
CATEGORY_COLUMNS = ("name", *TAXONOMY_COLUMNS, BIN_COLUMN, *SPLIT_COLUMNS, *COPYRIGHT_COLUMNS)  # read as categoricals
N_IMAGES = 1_128_313


def images_folder(root: str | os.PathLike, package: str | None = None) -> Path:
    """`<root>/bioscan1m/images`, or one package's folder inside it."""
    folder = Path(root) / DATASET_FOLDER / IMAGES_FOLDER
    return folder / package if package else folder


def experiment_size(experiment: str) -> str:
    """`large`, `medium` or `small`."""
    return experiment.split("_", 1)[0]


def experiment_task(experiment: str) -> str:
    """`diptera_family` or `insect_order`."""
    return experiment.split("_", 1)[1]


def checked_experiment(experiment: str) -> str:
    """`experiment` if it is one of the six, else a one-line error naming them (and the nearest)."""
    if experiment in EXPERIMENTS:
        return experiment
    nearest = difflib.get_close_matches(experiment, EXPERIMENTS, n=1)
    hint = f"did you mean {nearest[0]}? " if nearest else ""
    raise ValueError(f"Unknown experiment {experiment!r}; {hint}the experiments are {', '.join(EXPERIMENTS)}.")


def label_column(experiment: str) -> str:
    """The metadata column holding an experiment's class labels."""
    return LABEL_COLUMNS[experiment_task(checked_experiment(experiment))]


@cache
def published() -> dict[str, Any]:
    """Every published number (a copy of the reference `published.json`)."""
    return json.loads(resources.files(__package__).joinpath(PUBLISHED_FILE).read_text("utf-8"))


def published_order_counts() -> dict[str, int]:
    """The 16 orders and their specimen counts, largest first."""
    return dict(published()["order_counts"])


def diptera_family_counts() -> dict[str, int]:
    """The 40 most populous Diptera families and their counts, largest first."""
    return dict(published()["diptera_top40_family_counts"])


def taxonomy_statistics() -> dict[str, dict[str, int]]:
    """Per rank: number of categories and of labelled samples."""
    return dict(published()["taxonomy_statistics"])


def split_sizes() -> dict[str, dict[str, int]]:
    """Classes and train/validation/test sizes of the six experiments."""
    return dict(published()["split_sizes_derived"])
