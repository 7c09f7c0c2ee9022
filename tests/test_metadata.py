"""The metadata loader: schema, both file names, the Parquet cache and the clear errors for bad files."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pandas as pd
import pytest

from bioscan_lib.dataset import metadata
from bioscan_lib.sample.release import synthetic_metadata


@pytest.fixture()
def tsv(tmp_path: Path) -> Path:
    return metadata.write_metadata(
        synthetic_metadata(records=300, seed=1, chunk_length=100), tmp_path / metadata.METADATA_FILE_NAMES[0]
    )


def _rewrite(path: Path, edit) -> None:
    lines = path.read_text().splitlines()
    edit(lines)
    path.write_text("\n".join(lines) + "\n")


def test_written_tsv_has_the_published_header_unquoted(tsv: Path) -> None:
    assert tsv.read_text().splitlines()[0].split("\t") == list(metadata.COLUMNS)


def test_read_gives_categories_and_whole_chunk_numbers(tsv: Path) -> None:
    frame = metadata.read_metadata(tsv, cache=False)
    assert list(frame.columns) == list(metadata.COLUMNS)
    assert isinstance(frame["order"].dtype, pd.CategoricalDtype)
    assert frame["chunk_number"].tolist()[:3] == [1, 1, 1] and frame["chunk_number"].max() == 3


def test_round_trip_keeps_every_value(tsv: Path) -> None:
    original = synthetic_metadata(records=300, seed=1, chunk_length=100)
    again = metadata.read_metadata(tsv, cache=False)
    for column in metadata.COLUMNS:
        assert original[column].astype(str).tolist() == again[column].astype(str).tolist(), column


def test_both_published_names_and_the_package_layout_are_found(tsv: Path, tmp_path: Path) -> None:
    assert metadata.find_metadata(tsv.parent) == tsv
    layout = tmp_path / "root" / "bioscan1m"
    layout.mkdir(parents=True)
    other = shutil.copy(tsv, layout / metadata.METADATA_FILE_NAMES[1])
    assert metadata.find_metadata(tmp_path / "root") == Path(other)


def test_missing_file_names_what_was_looked_for(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="BIOSCAN_1M_Insect_Dataset_metadata.tsv"):
        metadata.find_metadata(tmp_path)


def test_cache_is_used_then_invalidated_when_the_tsv_changes(tsv: Path) -> None:
    first = metadata.read_metadata(tsv)
    assert metadata.cache_path(tsv).is_file()
    _rewrite(tsv, lambda lines: lines.__setitem__(1, lines[1].replace("\t1\t", "\t2\t", 1)))
    os.utime(tsv, ns=(1, 1))
    second = metadata.read_metadata(tsv)
    assert first["chunk_number"].iloc[0] == 1 and second["chunk_number"].iloc[0] == 2


def test_source_file_is_never_modified(tsv: Path) -> None:
    before = tsv.read_bytes()
    metadata.read_metadata(tsv)
    assert tsv.read_bytes() == before


def test_missing_column_is_named(tsv: Path) -> None:
    _rewrite(tsv, lambda lines: lines.__setitem__(0, lines[0].replace("chunk_number", "chunk")))
    with pytest.raises(metadata.MetadataError, match=r"missing column\(s\) chunk_number") as error:
        metadata.read_metadata(tsv, cache=False)
    assert str(tsv) in str(error.value)


def _set_field(lines: list[str], line: int, column: str, value: str) -> None:
    fields = lines[line - 1].split("\t")
    fields[metadata.COLUMNS.index(column)] = value
    lines[line - 1] = "\t".join(fields)


def test_non_numeric_chunk_number_names_column_and_line(tsv: Path) -> None:
    _rewrite(tsv, lambda lines: _set_field(lines, 5, "chunk_number", "five"))
    with pytest.raises(metadata.MetadataError, match=r"chunk_number .* rows 5 hold \['five'\]"):
        metadata.read_metadata(tsv, cache=False)


def test_unknown_split_value_names_column_value_and_line(tsv: Path) -> None:
    _rewrite(tsv, lambda lines: _set_field(lines, 7, "small_insect_order", "val"))
    with pytest.raises(metadata.MetadataError, match=r"small_insect_order .*\['val'\] in rows 7"):
        metadata.read_metadata(tsv, cache=False)


def test_row_with_a_missing_field_is_reported(tsv: Path) -> None:
    _rewrite(tsv, lambda lines: lines.__setitem__(3, lines[3].rsplit("\t", 1)[0]))
    with pytest.raises(metadata.MetadataError, match="cannot be read as the published TSV"):
        metadata.read_metadata(tsv, cache=False)


def test_writer_refuses_bad_frames_and_leaves_nothing(tmp_path: Path) -> None:
    frame = synthetic_metadata(records=200, seed=1)
    frame["large_insect_order"] = frame["large_insect_order"].cat.add_categories("bogus")
    frame.loc[3, "large_insect_order"] = "bogus"
    with pytest.raises(metadata.MetadataError):
        metadata.write_metadata(frame, tmp_path / "out.tsv")
    assert list(tmp_path.iterdir()) == []
