"""The CLIBD partition of BIOSCAN-1M: read from its ten files of sample IDs, or made by CLIBD's rules from a seed.

The rules, from `dataset/create_splits.py` of bioscan-ml/clibd (its defaults):
- specimens whose species is not classified go to `no_split` (an empty species here too, which CLIBD never meets);
- labelled species of fewer than `min_species_size` (10) specimens are the tail, the others common (its docstring
  says more than 10, its code keeps species of 10);
- tail species of one specimen go to `single_species`;
- common species: 80 % seen, the rest unseen; each seen species' specimens 70 % `train_seen`, 10 % `val_seen`,
  10 % `test_seen`, the rest `seen_keys`;
- unseen common species, and apart from them the tail species of two or more specimens: half of each set of species
  for validation, the rest for test; each species' specimens half queries (`val_unseen`, `test_unseen`), the rest
  keys (`val_unseen_keys`, `test_unseen_keys`).
Every share is cut as CLIBD cuts it: floor(share x count) for each part but the last, which takes the rest. Each
division draws from a generator newly seeded with the seed, permuting species in their order of first appearance,
then each species' specimens in row order, one species after another, so that a seed gives what CLIBD's script gives
with that seed. The script's names `query_seen`, `val_query_unseen` and `test_query_unseen` are the published
`seen_keys`, `val_unseen_keys` and `test_unseen_keys` (the key sets of `scripts/create_statistics_summaries.py`).

The files are read as bioscan-dataset 1.3 reads them (`bioscan_dataset/bioscan1m.py`): `<split>.txt` in
`CLIBD_partitioning/` beside the metadata TSV, one `sampleid` a line, no header, blank lines skipped.
"""

from __future__ import annotations

import os
from fractions import Fraction
from pathlib import Path

import numpy as np
import pandas as pd

from bioscan_lib.core.files import write_text_atomic
from bioscan_lib.data.bioscan1m import (
    CLIBD_FOLDER,
    CLIBD_ID_COLUMN,
    CLIBD_SINGLE,
    CLIBD_SPLIT_COLUMN,
    CLIBD_SPLITS,
    CLIBD_UNLABELLED,
)
from bioscan_lib.data.metadata import find_metadata, labelled

MIN_SPECIES_SIZE = 10  # species of fewer specimens are the tail
SEEN_SPECIES = (Fraction(8, 10), Fraction(2, 10))  # common species: seen, unseen
SEEN_SPECIMENS = {"train_seen": Fraction(7, 10), "val_seen": Fraction(1, 10), "test_seen": Fraction(1, 10)}
SEEN_SPECIMENS_REST = "seen_keys"
HALVES = (Fraction(1, 2), Fraction(1, 2))  # unseen species: validation, test; a species' specimens: queries, keys
UNSEEN_PARTS = (("val_unseen", "val_unseen_keys"), ("test_unseen", "test_unseen_keys"))
SPLIT_FILE_SUFFIX = ".txt"


class PartitionError(ValueError):
    """The CLIBD partition files do not give each specimen of the metadata exactly one split."""


def partition_folder(metadata_path: str | os.PathLike) -> Path:
    """`CLIBD_partitioning/` beside the metadata TSV (given as the file or a folder holding it)."""
    return find_metadata(metadata_path).parent / CLIBD_FOLDER


def split_file(folder: str | os.PathLike, split: str) -> Path:
    """The file listing one split's sample IDs."""
    return Path(folder) / f"{split}{SPLIT_FILE_SUFFIX}"


def part_sizes(counts: np.ndarray, shares: tuple[Fraction, ...]) -> np.ndarray:
    """Specimens (or species) per part (columns) of groups of `counts`: floor(share x count), the last part the rest."""
    counts = np.asarray(counts, dtype=np.int64)
    sizes = np.stack([counts * share.numerator // share.denominator for share in shares[:-1]], axis=-1)
    return np.concatenate([sizes, (counts - sizes.sum(axis=-1))[..., None]], axis=-1)


def _divide_species(species: np.ndarray, shares: tuple[Fraction, ...], seed: int) -> list[np.ndarray]:
    """`species` (codes in order of first appearance) permuted by a generator seeded anew, cut by `shares`, each part
    back in order of first appearance."""
    permuted = species[np.random.default_rng(seed).permutation(len(species))]
    return [np.sort(part) for part in np.split(permuted, np.cumsum(part_sizes(len(species), shares)[:-1]))]


def _divide_specimens(codes: np.ndarray, species: np.ndarray, shares: tuple[Fraction, ...], seed: int) -> np.ndarray:
    """Part index of each row (-1 outside `species`): each species' rows, in row order, permuted and cut by `shares`."""
    rows = np.flatnonzero(np.isin(codes, species))
    rows = rows[np.argsort(codes[rows], kind="stable")]  # grouped by species in order of first appearance
    _, starts, counts = np.unique(codes[rows], return_index=True, return_counts=True)
    generator = np.random.default_rng(seed)
    permutation = np.concatenate([generator.permutation(count) for count in counts] or [np.zeros(0, np.int64)])
    offsets = np.repeat(starts, counts)
    rank = np.empty(len(rows), dtype=np.int64)
    rank[permutation + offsets] = np.arange(len(rows)) - offsets
    bounds = np.repeat(np.cumsum(part_sizes(counts, shares), axis=1), counts, axis=0)
    parts = np.full(len(codes), -1, dtype=np.int64)
    parts[rows] = (rank[:, None] >= bounds).sum(axis=1)
    return parts


def _assign(splits: np.ndarray, parts: np.ndarray, names: tuple[str, ...]) -> None:
    """Write the split code of part `i` to the rows in part `i`, in place."""
    for index, name in enumerate(names):
        splits[parts == index] = CLIBD_SPLITS.index(name)


def _refuse_repeated_ids(sample_ids: np.ndarray, codes: np.ndarray) -> None:
    """Refuse metadata where a sample ID (numbered by `codes`) has several rows: a line would name two specimens."""
    repeated = np.bincount(codes)[codes] > 1
    if repeated.any():
        raise PartitionError(
            f"metadata column {CLIBD_ID_COLUMN} repeats over {int(repeated.sum()):,} rows "
            f"(e.g. {sample_ids[np.argmax(repeated)]!r}); the CLIBD partition names each specimen by it: "
            "keep one row per sample ID first."
        )


def make_partition(metadata: pd.DataFrame, seed: int, min_species_size: int = MIN_SPECIES_SIZE) -> pd.Series:
    """Each specimen's CLIBD split, made by CLIBD's rules with `seed`; a categorical of CLIBD_SPLITS."""
    sample_ids = _as_text(metadata[CLIBD_ID_COLUMN])
    _refuse_repeated_ids(sample_ids, pd.factorize(sample_ids)[0])
    known = labelled(metadata["species"]).to_numpy()
    codes = np.where(known, pd.factorize(metadata["species"])[0], -1)  # numbered in order of first appearance
    counts = np.bincount(codes[known], minlength=codes.max(initial=-1) + 1)
    species = np.flatnonzero(counts)
    tail, common = species[counts[species] < min_species_size], species[counts[species] >= min_species_size]
    splits = np.full(len(metadata), CLIBD_SPLITS.index(CLIBD_UNLABELLED), dtype=np.int8)
    splits[np.isin(codes, tail[counts[tail] < 2])] = CLIBD_SPLITS.index(CLIBD_SINGLE)
    seen, unseen = _divide_species(common, SEEN_SPECIES, seed)
    seen_shares = (*SEEN_SPECIMENS.values(), 1 - sum(SEEN_SPECIMENS.values()))
    _assign(splits, _divide_specimens(codes, seen, seen_shares, seed), (*SEEN_SPECIMENS, SEEN_SPECIMENS_REST))
    for unseen_species in (unseen, tail[counts[tail] >= 2]):
        for part_species, names in zip(_divide_species(unseen_species, HALVES, seed), UNSEEN_PARTS):
            _assign(splits, _divide_specimens(codes, part_species, HALVES, seed), names)
    categorical = pd.Categorical.from_codes(splits, categories=CLIBD_SPLITS)
    return pd.Series(categorical, index=metadata.index, name=CLIBD_SPLIT_COLUMN)


def write_partition(sample_ids: pd.Series, splits: pd.Series, folder: str | os.PathLike) -> Path:
    """Write the ten split files into `folder`, each specimen's sample ID in row order, each file atomically."""
    ids = _as_text(sample_ids)
    codes = np.asarray(pd.Categorical(splits, categories=CLIBD_SPLITS).codes)
    for code, split in enumerate(CLIBD_SPLITS):
        listed = ids[codes == code]
        write_text_atomic(split_file(folder, split), "\n".join(listed) + "\n" if len(listed) else "")
    return Path(folder)


def _as_text(values: pd.Series) -> np.ndarray:
    """Values as an array of Python strings, which pandas hashes fastest."""
    return values.astype(str).to_numpy(dtype=object)


def _file_lines(path: Path) -> np.ndarray:
    """The lines of one split file, each a sample ID or blank; a line may end in LF, CR LF or CR."""
    if not path.is_file():
        raise PartitionError(
            f"{path}: missing; the CLIBD partition has ten files ({', '.join(CLIBD_SPLITS)}). "
            "Download it again, or remove the folder to make the partition from a seed."
        )
    try:
        text = path.read_text("utf-8")
    except UnicodeDecodeError as error:
        raise PartitionError(f"{path}: not UTF-8 text ({error}); save it as UTF-8, one sample ID a line.") from error
    return np.array(text.replace("\r\n", "\n").replace("\r", "\n").split("\n"), dtype=object)


def _listed(folder: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every sample ID of the ten files (blank lines skipped), its file's index in CLIBD_SPLITS and its line number."""
    per_file = [_file_lines(split_file(folder, split)) for split in CLIBD_SPLITS]
    ids = np.concatenate(per_file)
    file_codes = np.repeat(np.arange(len(CLIBD_SPLITS), dtype=np.int8), [len(lines) for lines in per_file])
    lines = np.concatenate([np.arange(1, len(lines) + 1) for lines in per_file])
    listed = ids != ""
    return ids[listed], file_codes[listed], lines[listed]


def _place(folder: Path, file_code: int, line: int) -> str:
    """A line of a split file, for an error message."""
    return f"{split_file(folder, CLIBD_SPLITS[file_code])} line {line}"


def _refuse_doubled_lines(ids: np.ndarray, codes: np.ndarray, file_codes: np.ndarray, lines: np.ndarray, folder: Path):
    """Refuse a sample ID (numbered by `codes`) listed twice, in one file or in two, naming both places."""
    doubled = np.bincount(codes)[codes] > 1
    if doubled.any():
        first, second = np.flatnonzero(codes == codes[np.argmax(doubled)])[:2]
        raise PartitionError(
            f"{_place(folder, file_codes[second], lines[second])}: sample ID {ids[second]!r} is listed again "
            f"(first at {split_file(folder, CLIBD_SPLITS[file_codes[first]]).name} line {lines[first]}); each specimen "
            "belongs to one split: delete one of the two lines, or remove the folder to make the partition anew."
        )


def read_partition(folder: str | os.PathLike, sample_ids: pd.Series) -> pd.Series:
    """Each specimen's CLIBD split from the ten files in `folder`; a categorical of CLIBD_SPLITS, `sample_ids`' index."""
    folder = Path(folder)
    ids, file_codes, lines = _listed(folder)
    wanted = _as_text(sample_ids)
    codes = pd.factorize(np.concatenate([ids, wanted]))[0]  # one number per distinct sample ID
    in_files, in_metadata = codes[: len(ids)], codes[len(ids) :]
    _refuse_repeated_ids(wanted, in_metadata)
    _refuse_doubled_lines(ids, in_files, file_codes, lines, folder)
    unlisted = np.bincount(in_files, minlength=codes.max(initial=-1) + 1)[in_metadata] == 0
    if unlisted.any():
        raise PartitionError(
            f"{folder}: sample ID {wanted[np.argmax(unlisted)]!r} of the metadata is in none of the ten split files "
            f"({int(unlisted.sum()):,} such); add each to one, or remove the folder to make the partition anew."
        )
    unknown = np.bincount(in_metadata, minlength=codes.max(initial=-1) + 1)[in_files] == 0
    if unknown.any():
        extra = int(np.argmax(unknown))
        raise PartitionError(
            f"{_place(folder, file_codes[extra], lines[extra])}: sample ID {ids[extra]!r} is not in the metadata; "
            "give the metadata the partition was made for, or remove the folder to make it anew."
        )
    line_of = np.empty(codes.max(initial=-1) + 1, dtype=np.int64)
    line_of[in_files] = np.arange(len(ids))
    categorical = pd.Categorical.from_codes(file_codes[line_of[in_metadata]], categories=CLIBD_SPLITS)
    return pd.Series(categorical, index=sample_ids.index, name=CLIBD_SPLIT_COLUMN)


def clibd_partition(metadata: pd.DataFrame, metadata_path: str | os.PathLike, seed: int) -> pd.Series:
    """Each specimen's CLIBD split: read from `CLIBD_partitioning/` beside the TSV when present, else made from `seed`."""
    folder = partition_folder(metadata_path)
    if folder.is_dir():
        return read_partition(folder, metadata[CLIBD_ID_COLUMN])
    return make_partition(metadata, seed)


def write_release_partition(
    metadata: pd.DataFrame, metadata_path: str | os.PathLike, seed: int, min_species_size: int = MIN_SPECIES_SIZE
) -> Path:
    """Make the CLIBD partition of a release's metadata with `seed` and write its ten files beside its TSV."""
    splits = make_partition(metadata, seed, min_species_size)
    return write_partition(metadata[CLIBD_ID_COLUMN], splits, partition_folder(metadata_path))
