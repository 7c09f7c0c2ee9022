"""The BIOSCAN-1M metadata TSV: its schema, a fast validated loader with a memory-mapped cache, and a safe writer."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.feather as feather

from bioscan_lib.core.files import atomic_path

METADATA_FILE_NAMES = ("BIOSCAN_Insect_Dataset_metadata.tsv", "BIOSCAN_1M_Insect_Dataset_metadata.tsv")
TAXONOMY_COLUMNS = ("phylum", "class", "order", "family", "subfamily", "tribe", "genus", "species", "subspecies")
SPLIT_COLUMNS = (
    "large_diptera_family",
    "medium_diptera_family",
    "small_diptera_family",
    "large_insect_order",
    "medium_insect_order",
    "small_insect_order",
)
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
    "uri",
    "nucraw",
    "image_file",
    "chunk_number",
    *SPLIT_COLUMNS,
    *COPYRIGHT_COLUMNS,
)
SPLIT_VALUES = ("train", "validation", "test", "no_split")
NOT_CLASSIFIED = "not_classified"
CATEGORY_COLUMNS = ("name", *TAXONOMY_COLUMNS, "uri", *SPLIT_COLUMNS, *COPYRIGHT_COLUMNS)
CACHE_VERSION = "1"


class MetadataError(ValueError):
    """The metadata file is not in the published format; the message names file, column and rows."""


def find_metadata(root: str | os.PathLike) -> Path:
    """The metadata TSV at `root`: the file itself, or inside it under either published name (also in `bioscan1m/`)."""
    root = Path(root)
    if root.is_file():
        return root
    for folder in (root, root / "bioscan1m"):
        for name in METADATA_FILE_NAMES:
            if (folder / name).is_file():
                return folder / name
    raise FileNotFoundError(
        f"No metadata TSV in {root}: looked for {' or '.join(METADATA_FILE_NAMES)} there and in {root / 'bioscan1m'}. "
        "Download it with `bioscan-repro download` or make the sample with `bioscan-repro sample`."
    )


def _first_rows(mask: pd.Series, limit: int = 5) -> str:
    """File line numbers (header is line 1) of the first offending rows."""
    lines = [str(int(i) + 2) for i in mask[mask].index[:limit]]
    return ", ".join(lines) + (" …" if int(mask.sum()) > limit else "")


def _read_tsv(path: Path) -> pa.Table:
    with open(path, encoding="utf-8", errors="replace") as handle:
        header = handle.readline().rstrip("\r\n").split("\t")
    missing = [c for c in COLUMNS if c not in header]
    if missing:
        raise MetadataError(
            f"{path}: missing column(s) {', '.join(missing)}. The published TSV has these {len(COLUMNS)} "
            f"tab-separated columns: {', '.join(COLUMNS)}. Re-download the file or fix its header row."
        )
    label_type = pa.dictionary(pa.int32(), pa.string())
    column_types = {c: (label_type if c in CATEGORY_COLUMNS else pa.string()) for c in header}
    try:
        return pacsv.read_csv(
            path,
            parse_options=pacsv.ParseOptions(delimiter="\t", quote_char=False),
            convert_options=pacsv.ConvertOptions(column_types=column_types, strings_can_be_null=False),
        )
    except pa.ArrowInvalid as error:
        raise MetadataError(
            f"{path}: cannot be read as the published TSV ({error}). Check the row named above."
        ) from error


def validate_metadata(frame: pd.DataFrame, source: str | os.PathLike = "metadata") -> None:
    """Raise MetadataError naming the column and first rows if `frame` breaks the published format."""
    missing = [c for c in COLUMNS if c not in frame.columns]
    if missing:
        raise MetadataError(f"{source}: missing column(s) {', '.join(missing)}")
    chunk = pd.to_numeric(frame["chunk_number"], errors="coerce")
    bad = chunk.isna() | (chunk < 1) | (chunk % 1 != 0)
    if bad.any():
        examples = frame.loc[bad, "chunk_number"].astype(str).head(3).tolist()
        raise MetadataError(
            f"{source}: column chunk_number must hold whole numbers >= 1; rows {_first_rows(bad)} hold {examples}. "
            "Fix those rows or re-download the file."
        )
    for column in SPLIT_COLUMNS:
        bad = ~frame[column].astype(str).isin(SPLIT_VALUES)
        if bad.any():
            examples = sorted(set(frame.loc[bad, column].astype(str).head(20)))[:3]
            raise MetadataError(
                f"{source}: column {column} holds unknown split value(s) {examples} in rows {_first_rows(bad)}; "
                f"allowed values are {', '.join(SPLIT_VALUES)}."
            )
    bad = frame["image_file"].astype(str).str.len() == 0
    if bad.any():
        raise MetadataError(
            f"{source}: column image_file is empty in rows {_first_rows(bad)}; every row needs its image file name."
        )


def _cache_key(path: Path) -> dict[str, str]:
    stat = path.stat()
    return {"source": path.name, "size": str(stat.st_size), "mtime_ns": str(stat.st_mtime_ns), "version": CACHE_VERSION}


def cache_path(path: str | os.PathLike) -> Path:
    """The cache beside a metadata TSV: an uncompressed Arrow IPC (Feather v2) file, memory-mapped when read."""
    path = Path(path)
    return path.with_name(f".{path.name}.cache.arrow")


def _read_cache(path: Path) -> pd.DataFrame | None:
    cached = cache_path(path)
    if not cached.is_file():
        return None
    try:
        table = feather.read_table(cached, memory_map=True)
        key = json.loads((table.schema.metadata or {}).get(b"bioscan_cache_key", b"{}"))
    except (OSError, pa.ArrowInvalid, ValueError):
        return None
    return table.to_pandas() if key == _cache_key(path) else None


def _write_cache(path: Path, table: pa.Table) -> None:
    metadata = dict(table.schema.metadata or {})
    metadata[b"bioscan_cache_key"] = json.dumps(_cache_key(path)).encode()
    try:
        with atomic_path(cache_path(path)) as temporary:
            feather.write_feather(table.replace_schema_metadata(metadata), temporary, compression="uncompressed")
    except OSError:
        pass  # a read-only data folder just means no cache


def read_metadata(path: str | os.PathLike, cache: bool = True) -> pd.DataFrame:
    """Load and validate the metadata TSV (a file, or a folder holding it), label columns as categories."""
    path = find_metadata(path)
    if cache and (frame := _read_cache(path)) is not None:
        return frame
    table = _read_tsv(path)
    frame = table.to_pandas()
    validate_metadata(frame, path)
    frame["chunk_number"] = frame["chunk_number"].astype("int16")
    table = pa.Table.from_pandas(frame, preserve_index=False)
    if cache:
        _write_cache(path, table)
    return frame


def write_metadata(frame: pd.DataFrame, path: str | os.PathLike) -> Path:
    """Write metadata as the published TSV (tab separated, header, no quoting), through a temporary file."""
    validate_metadata(frame, path)
    ordered = frame[list(COLUMNS) + [c for c in frame.columns if c not in COLUMNS]]
    table = pa.Table.from_pandas(ordered.astype({c: "string" for c in ordered.columns}), preserve_index=False)
    with atomic_path(path) as temporary, open(temporary, "wb") as handle:
        handle.write(("\t".join(table.column_names) + "\n").encode("utf-8"))
        pacsv.write_csv(
            table, handle, write_options=pacsv.WriteOptions(delimiter="\t", quoting_style="none", include_header=False)
        )
    return Path(path)
