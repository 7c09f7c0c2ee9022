"""The metadata loader: schema, both file names, the Parquet cache and the clear errors for bad files."""

from __future__ import annotations

import bz2
import gzip
import os
import shutil
import zipfile
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest

from bioscan_lib.data import bioscan1m, metadata
from bioscan_lib.sample.release import synthetic_metadata


@pytest.fixture()
def tsv(tmp_path: Path) -> Path:
    return metadata.write_metadata(
        synthetic_metadata(records=300, seed=1, chunk_length=100), tmp_path / bioscan1m.METADATA_FILE_NAMES[0]
    )


def _rewrite(path: Path, edit) -> None:
    lines = path.read_text().splitlines()
    edit(lines)
    path.write_text("\n".join(lines) + "\n")


def test_written_tsv_has_the_published_header_unquoted(tsv: Path) -> None:
    assert tsv.read_text().splitlines()[0].split("\t") == list(bioscan1m.COLUMNS)


def test_read_gives_categories_and_whole_chunk_numbers(tsv: Path) -> None:
    frame = metadata.read_metadata(tsv, cache=False)
    assert list(frame.columns) == list(bioscan1m.COLUMNS)
    assert isinstance(frame["order"].dtype, pd.CategoricalDtype)
    assert frame["chunk_number"].tolist()[:3] == [1, 1, 1] and frame["chunk_number"].max() == 3


def test_round_trip_keeps_every_value(tsv: Path) -> None:
    original = synthetic_metadata(records=300, seed=1, chunk_length=100)
    again = metadata.read_metadata(tsv, cache=False)
    for column in bioscan1m.COLUMNS:
        assert original[column].astype(str).tolist() == again[column].astype(str).tolist(), column


def test_both_published_names_and_the_package_layout_are_found(tsv: Path, tmp_path: Path) -> None:
    assert metadata.find_metadata(tsv.parent) == tsv
    layout = tmp_path / "root" / "bioscan1m"
    layout.mkdir(parents=True)
    other = shutil.copy(tsv, layout / bioscan1m.METADATA_FILE_NAMES[1])
    assert metadata.find_metadata(tmp_path / "root") == Path(other)


def test_missing_file_names_what_was_looked_for(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="BIOSCAN_1M_Insect_Dataset_metadata.tsv"):
        metadata.find_metadata(tmp_path)


def test_cache_is_used_then_invalidated_when_the_tsv_changes(tsv: Path) -> None:
    first = metadata.read_metadata(tsv)
    metadata.finish_cache_writes()
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
    fields[bioscan1m.COLUMNS.index(column)] = value
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


def test_cache_gives_the_frame_of_a_cold_read(tsv: Path) -> None:
    cold = metadata.read_metadata(tsv)
    metadata.finish_cache_writes()
    warm = metadata.read_metadata(tsv)
    pd.testing.assert_frame_equal(warm, cold)
    pd.testing.assert_frame_equal(warm, metadata.read_metadata(tsv, cache=False))


def test_cache_is_not_served_after_an_edit_in_place_at_the_same_size_and_time(
    tsv: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(metadata, "FINGERPRINT_BLOCK", 64)  # the edit falls between the blocks digested
    metadata.read_metadata(tsv)
    metadata.finish_cache_writes()
    before = tsv.stat()
    _rewrite(tsv, lambda lines: _set_field(lines, 150, "chunk_number", "3"))  # was 2: same size
    os.utime(tsv, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert (tsv.stat().st_size, tsv.stat().st_mtime_ns) == (before.st_size, before.st_mtime_ns)
    assert metadata.read_metadata(tsv)["chunk_number"].iloc[148] == 3


def test_byte_order_mark_is_skipped(tsv: Path) -> None:
    expected = metadata.read_metadata(tsv, cache=False)
    tsv.write_bytes(b"\xef\xbb\xbf" + tsv.read_bytes())
    pd.testing.assert_frame_equal(metadata.read_metadata(tsv, cache=False), expected)


@pytest.mark.parametrize("compress", [gzip.compress, bz2.compress], ids=["gzip", "bz2"])
def test_compressed_tsv_is_read_under_its_published_name(tsv: Path, compress) -> None:
    expected = metadata.read_metadata(tsv, cache=False)
    tsv.write_bytes(compress(b"\xef\xbb\xbf" + tsv.read_bytes()))
    pd.testing.assert_frame_equal(metadata.read_metadata(tsv, cache=False), expected)


def test_zip_archive_is_named_with_what_to_do(tsv: Path, tmp_path: Path) -> None:
    archive = tmp_path / "zipped" / tsv.name
    archive.parent.mkdir()
    with zipfile.ZipFile(archive, "w") as handle:
        handle.write(tsv, tsv.name)
    with pytest.raises(metadata.MetadataError, match="zip archive, not a TSV; unpack it") as error:
        metadata.read_metadata(archive, cache=False)
    assert str(archive) in str(error.value)


@pytest.mark.parametrize("value", ["2.0", "40000", "99999999999999999999", "0", ""])
def test_chunk_number_not_a_whole_number_in_range_names_file_column_and_line(tsv: Path, value: str) -> None:
    _rewrite(tsv, lambda lines: _set_field(lines, 5, "chunk_number", value))
    with pytest.raises(metadata.MetadataError, match=rf"chunk_number .* rows 5 hold \['{value}'\]") as error:
        metadata.read_metadata(tsv, cache=False)
    assert str(tsv) in str(error.value)


@pytest.mark.parametrize("column", ["processid", "copyright_holder"])
def test_bytes_that_are_not_utf8_name_file_column_and_line(tsv: Path, column: str) -> None:
    lines = tsv.read_bytes().split(b"\n")
    fields = lines[5].split(b"\t")
    fields[bioscan1m.COLUMNS.index(column)] = "Müller".encode("latin-1")
    lines[5] = b"\t".join(fields)
    tsv.write_bytes(b"\n".join(lines))
    with pytest.raises(
        metadata.MetadataError, match=f"line 6, column {column} holds bytes that are not UTF-8"
    ) as error:
        metadata.read_metadata(tsv, cache=False)
    assert str(tsv) in str(error.value)


def test_duplicate_header_name_names_file_and_column(tsv: Path) -> None:
    _rewrite(tsv, lambda lines: lines.__setitem__(0, lines[0].replace("\tauthor", "\tphotographer")))
    with pytest.raises(metadata.MetadataError, match="photographer appear more than once") as error:
        metadata.read_metadata(tsv, cache=False)
    assert str(tsv) in str(error.value)


def test_repeated_image_files_are_refused_with_counts(tsv: Path) -> None:
    def repeat(lines: list[str]) -> None:
        lines.append(lines[3])  # an exact copy of line 4
        fields = lines[10].split("\t")
        fields[bioscan1m.COLUMNS.index("image_file")] = lines[20].split("\t")[bioscan1m.COLUMNS.index("image_file")]
        lines[10] = "\t".join(fields)  # line 11 names line 21's image

    _rewrite(tsv, repeat)
    message = r"image_file repeats 4 times over 2 file names \(1 of those rows are exact copies .*rows 4, 11, 21, 302"
    with pytest.raises(metadata.MetadataError, match=message):
        metadata.read_metadata(tsv, cache=False)


def test_written_bytes_are_the_values_as_text_in_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(metadata, "WRITE_ROWS", 7)  # many slices, formatted in parallel, must land in order
    frame = synthetic_metadata(records=300, seed=2, chunk_length=100).assign(extra=lambda f: f.index * 0.5)
    path = metadata.write_metadata(frame, tmp_path / "out.tsv")
    expected = ["\t".join(frame.columns)] + ["\t".join(str(v) for v in row) for row in frame.itertuples(index=False)]
    assert path.read_bytes() == ("\n".join(expected) + "\n").encode("utf-8")


def test_a_tab_inside_a_value_is_refused_and_nothing_is_left(tmp_path: Path) -> None:
    frame = synthetic_metadata(records=300, seed=2, chunk_length=100)
    frame.loc[200, "processid"] = "A\tB"
    with pytest.raises(pa.ArrowInvalid, match="structural characters"):
        metadata.write_metadata(frame, tmp_path / "out.tsv")
    assert list(tmp_path.iterdir()) == []


def test_labelled_counts_leave_out_unlabelled_names_largest_first() -> None:
    column = pd.Series(["Diptera", "not_classified", "Coleoptera", "Diptera", None, ""], dtype="category")
    counts = metadata.labelled_counts(column)
    assert counts.index.tolist() == ["Diptera", "Coleoptera"] and counts.tolist() == [2, 1]
