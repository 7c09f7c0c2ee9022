"""The BIOSCAN-1M metadata TSV: its schema, a fast validated loader with a memory-mapped cache, and a safe writer."""

from __future__ import annotations

import hashlib
import io
import json
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.feather as feather

from bioscan_lib.core.files import atomic_path
from bioscan_lib.data.bioscan1m import (
    CATEGORY_COLUMNS,
    COLUMNS,
    DATASET_FOLDER,
    METADATA_FILE_NAMES,
    NOT_CLASSIFIED,
    SPLIT_COLUMNS,
    SPLIT_VALUES,
    TAXONOMY_COLUMNS,
)

CACHE_VERSION = "2"
CHUNK_LIMIT = 32767  # chunk numbers are held as int16
FINGERPRINT_BLOCK = 1 << 20
HEADER_BYTES = 1 << 16
WRITE_ROWS = 1 << 16  # rows formatted per task when writing
READ_BLOCK = 4 << 20  # bytes parsed per task: fewer, larger chunks convert to pandas faster
UTF8_BOM = b"\xef\xbb\xbf"
COMPRESSED_MAGIC = {
    b"\x1f\x8b": "gzip",
    b"BZh": "bz2",
    b"\x28\xb5\x2f\xfd": "zstd",
    b"PK\x03\x04": "zip",
    b"\xfd7zXZ\x00": "xz",
}
READABLE_CODECS = ("gzip", "bz2", "zstd")
_CACHE_WRITERS: dict[Path, threading.Thread] = {}


class MetadataError(ValueError):
    """The metadata file is not in the published format; the message names file, column and rows."""


class TaxonomyWarning(UserWarning):
    """A name of the metadata sits under two parents: a family in two orders, a genus in two families, a species in
    two genera."""


def find_metadata(root: str | os.PathLike) -> Path:
    """The metadata TSV at `root`: the file itself, or inside it under either published name (also in its dataset folder)."""
    root = Path(root)
    if root.is_file():
        return root
    for folder in (root, root / DATASET_FOLDER):
        for name in METADATA_FILE_NAMES:
            if (folder / name).is_file():
                return folder / name
    raise FileNotFoundError(
        f"No metadata TSV in {root}: looked for {' or '.join(METADATA_FILE_NAMES)} there and in {root / DATASET_FOLDER}. "
        "Download it with `bioscan-repro download` or make the sample with `bioscan-repro sample`."
    )


def labelled(column: pd.Series) -> pd.Series:
    """True where a rank is known (not `not_classified` and not empty); computed on the codes of a category column."""
    if isinstance(column.dtype, pd.CategoricalDtype):
        known = ~column.cat.categories.astype("string").isin([NOT_CLASSIFIED, ""])
        codes = column.cat.codes.to_numpy()
        return pd.Series((codes >= 0) & np.asarray(known)[codes], index=column.index)
    values = column.astype("string")
    return values.notna() & (values != NOT_CLASSIFIED) & (values != "")


def labelled_counts(column: pd.Series) -> pd.Series:
    """Specimens per name of a rank, labelled ones only, largest first."""
    return column[labelled(column)].astype("string").value_counts()


def _first_rows(mask: pd.Series, limit: int = 5) -> str:
    """File line numbers (header is line 1) of the first offending rows."""
    lines = [str(int(i) + 2) for i in mask[mask].index[:limit]]
    return ", ".join(lines) + (" …" if int(mask.sum()) > limit else "")


def _compression(path: Path) -> str | None:
    """The codec a compressed TSV was written with (from its first bytes), None for plain text."""
    with open(path, "rb") as handle:
        head = handle.read(6)
    for magic, codec in COMPRESSED_MAGIC.items():
        if head.startswith(magic):
            if codec not in READABLE_CODECS:
                raise MetadataError(
                    f"{path}: this is a {codec} archive, not a TSV; unpack it and give the TSV inside "
                    f"(readable as is: plain, {', '.join(READABLE_CODECS)})."
                )
            return codec
    return None


def _header(path: Path, codec: str | None) -> list[str]:
    """Column names of the first line (a UTF-8 byte order mark skipped); duplicates and missing ones refused."""
    with pa.input_stream(str(path), compression=codec) as stream:
        line = stream.read(HEADER_BYTES).split(b"\n", 1)[0].rstrip(b"\r").removeprefix(UTF8_BOM)
    try:
        header = line.decode("utf-8").split("\t")
    except UnicodeDecodeError as error:
        raise MetadataError(f"{path}: line 1 (the header) is not UTF-8 ({error}). Save the file as UTF-8.") from error
    repeated = sorted({name for name in header if header.count(name) > 1})
    if repeated:
        raise MetadataError(
            f"{path}: column(s) {', '.join(repeated)} appear more than once in the header; keep one of each."
        )
    missing = [c for c in COLUMNS if c not in header]
    if missing:
        raise MetadataError(
            f"{path}: missing column(s) {', '.join(missing)}. The published TSV has these {len(COLUMNS)} "
            f"tab-separated columns: {', '.join(COLUMNS)}. Re-download the file or fix its header row."
        )
    return header


def _first_unreadable_line(path: Path, codec: str | None, header: list[str]) -> str:
    """Where the file first breaks the format: its line and column, for bytes that are not UTF-8 or a field count."""
    with pa.input_stream(str(path), compression=codec) as stream, io.BufferedReader(stream) as lines:
        for number, line in enumerate(lines, start=1):
            fields = line.rstrip(b"\r\n").removeprefix(UTF8_BOM if number == 1 else b"").split(b"\t")
            if len(fields) != len(header):
                return f"line {number} has {len(fields)} tab-separated fields, the header {len(header)}"
            for column, field in zip(header, fields):
                try:
                    field.decode("utf-8")
                except UnicodeDecodeError:
                    return (
                        f"line {number}, column {column} holds bytes that are not UTF-8 ({field!r}); "
                        "save the file as UTF-8 (e.g. `iconv -f latin1 -t utf-8`)"
                    )
    return "no line found at fault"


def _read_tsv(path: Path) -> pa.Table:
    """The TSV as an Arrow table: label columns dictionary-encoded, the others text; parsed on every core."""
    codec = _compression(path)
    header = _header(path, codec)
    label_type = pa.dictionary(pa.int32(), pa.string())
    column_types = {c: (label_type if c in CATEGORY_COLUMNS else pa.large_string()) for c in header}
    try:
        return pacsv.read_csv(
            str(path) if codec is None else pa.input_stream(str(path), compression=codec),
            read_options=pacsv.ReadOptions(column_names=header, skip_rows=1, block_size=READ_BLOCK),
            parse_options=pacsv.ParseOptions(delimiter="\t", quote_char=False, ignore_empty_lines=False),
            convert_options=pacsv.ConvertOptions(column_types=column_types, strings_can_be_null=False),
            memory_pool=pa.system_memory_pool(),  # in a fresh process Arrow's default (mimalloc) faulted in
        )  # its pages at about three times the kernel time here (3.7 s against 1.0 s on 2 cores)
    except pa.ArrowInvalid as error:
        raise MetadataError(
            f"{path}: cannot be read as the published TSV: {_first_unreadable_line(path, codec, header)}. "
            f"(reader: {error})"
        ) from error


def _with_whole_chunk_numbers(table: pa.Table) -> pa.Table:
    """`chunk_number` as int16 when every value is written as a whole number in range; unchanged otherwise."""
    index = table.schema.get_field_index("chunk_number")
    try:
        numbers = pc.cast(table.column(index), pa.int16())
    except pa.ArrowInvalid:
        return table  # validate_metadata names the rows at fault
    return table.set_column(index, "chunk_number", numbers)


def _bad_chunk_numbers(chunk: pd.Series) -> pd.Series:
    """Rows whose chunk number is not a whole number from 1 to CHUNK_LIMIT (as text: digits only)."""
    if pd.api.types.is_numeric_dtype(chunk):
        numbers = chunk
        bad = chunk.isna() | (chunk % 1 != 0)
    else:
        text = chunk.astype(str)
        bad = ~text.str.fullmatch("[0-9]+")
        numbers = pd.to_numeric(text.where(~bad), errors="coerce")
    return bad | (numbers < 1) | (numbers > CHUNK_LIMIT)


def _bad_split_values(values: pd.Series) -> pd.Series:
    """Rows outside SPLIT_VALUES; a categorical column is checked through its categories."""
    if isinstance(values.dtype, pd.CategoricalDtype):
        unknown = [c for c in values.cat.categories if str(c) not in SPLIT_VALUES]
        return values.isin(unknown) | values.isna()
    return ~values.astype(str).isin(SPLIT_VALUES)


def _check_unique(frame: pd.DataFrame, source: str | os.PathLike) -> None:
    """Refuse repeated image files: one photograph would count twice, and could land in two parts of a split."""
    if not frame["image_file"].is_unique:
        repeated = frame["image_file"].duplicated(keep=False)
        identical = int(frame.duplicated().sum())
        raise MetadataError(
            f"{source}: column image_file repeats {int(repeated.sum()):,} times over "
            f"{frame.loc[repeated, 'image_file'].nunique():,} file names ({identical:,} of those rows are exact "
            f"copies of an earlier row), e.g. rows {_first_rows(repeated)}; each image must have one row. "
            "Remove the repeated rows or re-download the file."
        )


def validate_metadata(frame: pd.DataFrame, source: str | os.PathLike = "metadata") -> None:
    """Raise MetadataError naming the column and first rows if `frame` breaks the published format."""
    missing = [c for c in COLUMNS if c not in frame.columns]
    if missing:
        raise MetadataError(f"{source}: missing column(s) {', '.join(missing)}")
    bad = _bad_chunk_numbers(frame["chunk_number"])
    if bad.any():
        examples = frame.loc[bad, "chunk_number"].astype(str).head(3).tolist()
        raise MetadataError(
            f"{source}: column chunk_number must hold whole numbers from 1 to {CHUNK_LIMIT} written as digits; "
            f"rows {_first_rows(bad)} hold {examples}. Fix those rows or re-download the file."
        )
    for column in SPLIT_COLUMNS:
        bad = _bad_split_values(frame[column])
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
    _check_unique(frame, source)


def _fingerprint(path: Path) -> dict[str, str]:
    """What the cache is keyed on: size, inode, modification and change times (an in-place edit moves the change
    time even when the modification time is set back) and a digest of the first and last blocks."""
    stat = path.stat()
    digest = hashlib.blake2b(digest_size=16)
    with open(path, "rb") as handle:
        digest.update(handle.read(FINGERPRINT_BLOCK))
        handle.seek(max(0, stat.st_size - FINGERPRINT_BLOCK))
        digest.update(handle.read(FINGERPRINT_BLOCK))
    return {
        "source": path.name,
        "size": str(stat.st_size),
        "inode": str(stat.st_ino),
        "mtime_ns": str(stat.st_mtime_ns),
        "ctime_ns": str(stat.st_ctime_ns),
        "head_tail_blake2b": digest.hexdigest(),
        "version": CACHE_VERSION,
    }


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
    return table.to_pandas() if key == _fingerprint(path) else None


def _write_cache(path: Path, table: pa.Table, key: dict[str, str]) -> None:
    metadata = dict(table.schema.metadata or {})
    metadata[b"bioscan_cache_key"] = json.dumps(key).encode()
    try:
        with atomic_path(cache_path(path)) as temporary:
            feather.write_feather(table.replace_schema_metadata(metadata), temporary, compression="uncompressed")
    except OSError:
        pass  # a read-only data folder just means no cache


def _write_cache_in_background(path: Path, table: pa.Table, key: dict[str, str]) -> None:
    """Write the cache on a thread of its own; the interpreter waits for it at exit, a later read of `path` before."""
    writer = threading.Thread(target=_write_cache, args=(path, table, key), name=f"cache of {path.name}")
    _CACHE_WRITERS[path] = writer
    writer.start()


def finish_cache_writes() -> None:
    """Wait until every cache being written in the background is in place."""
    while _CACHE_WRITERS:
        _CACHE_WRITERS.popitem()[1].join()


def read_metadata(path: str | os.PathLike, cache: bool = True) -> pd.DataFrame:
    """Load and validate the metadata TSV (a file, or a folder holding it), label columns as categories.

    The first read parses the TSV and writes a cache beside it in the background; later reads map that cache."""
    path = find_metadata(path)
    if writer := _CACHE_WRITERS.pop(path, None):
        writer.join()
    if cache and (frame := _read_cache(path)) is not None:
        return frame
    key = _fingerprint(path)
    frame = _with_whole_chunk_numbers(_read_tsv(path)).to_pandas()
    validate_metadata(frame, path)
    if cache and _fingerprint(path) == key:  # not rewritten while it was read
        _write_cache_in_background(path, pa.Table.from_pandas(frame, preserve_index=False), key)
    return frame


def _printed_as_is(values: pd.Series | pd.Index) -> bool:
    """Whether Arrow's CSV writer prints these values as pandas' `astype("string")` does: text, integers, labels of those."""
    dtype = values.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        return _printed_as_is(dtype.categories)
    if isinstance(dtype, pd.StringDtype) or pd.api.types.is_integer_dtype(dtype):
        return True
    return pd.api.types.is_object_dtype(dtype) and pd.api.types.infer_dtype(values, skipna=True) in ("string", "empty")


def _tsv_rows(table: pa.Table) -> pa.Buffer:
    """The rows of `table` as TSV bytes: tab separated, no header, no quoting (a tab or line break in a value fails).

    Label columns are decoded to plain text first: Arrow writes those faster than it looks up dictionaries."""
    plain = pa.schema(
        field.with_type(field.type.value_type) if pa.types.is_dictionary(field.type) else field
        for field in table.schema
    )
    sink = pa.BufferOutputStream()
    options = pacsv.WriteOptions(delimiter="\t", quoting_style="none", include_header=False)
    pacsv.write_csv(table.cast(plain), sink, write_options=options)
    return sink.getvalue()


def write_metadata(frame: pd.DataFrame, path: str | os.PathLike) -> Path:
    """Write metadata as the published TSV (tab separated, header, no quoting), through a temporary file.

    Slices of rows are formatted on every core and written in order: the bytes are those of one pass."""
    validate_metadata(frame, path)
    ordered = frame[list(COLUMNS) + [c for c in frame.columns if c not in COLUMNS]]
    as_text = ordered.astype({c: "string" for c in ordered.columns if not _printed_as_is(ordered[c])})
    table = pa.Table.from_pandas(as_text, preserve_index=False)
    slices = (table.slice(start, WRITE_ROWS) for start in range(0, table.num_rows, WRITE_ROWS))
    with atomic_path(path) as temporary, open(temporary, "wb") as handle, ThreadPoolExecutor(os.cpu_count()) as pool:
        handle.write(("\t".join(table.column_names) + "\n").encode("utf-8"))
        for rows in pool.map(_tsv_rows, slices):
            handle.write(rows)
    return Path(path)
