"""Image packages in the three published formats, and the 256 px resize."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from bioscan_lib.data import bioscan1m, images
from bioscan_lib.preprocess import FORMATS


def _jpeg(width: int, height: int, colour: tuple[int, int, int] = (200, 10, 10)) -> bytes:
    return images.encode_jpeg(Image.new("RGB", (width, height), colour))


RECORDS = [images.ImageRecord(1, "a.jpg", _jpeg(40, 30)), images.ImageRecord(2, "BIOUG1-A01.jpg", _jpeg(30, 40))]


@pytest.mark.parametrize("kind", FORMATS)
def test_each_format_reads_back_what_was_written(kind: str, tmp_path: Path) -> None:
    target = {"folder": tmp_path / "pkg", "zip": tmp_path / "pkg.zip", "hdf5": tmp_path / "pkg.hdf5"}[kind]
    writer = {
        "folder": lambda: images.write_folder(RECORDS, target),
        "zip": lambda: images.write_zip(RECORDS, target, "original_256"),
        "hdf5": lambda: images.write_hdf5(RECORDS, target, {"copyright_holder": "x"}),
    }[kind]
    assert writer() == 2
    reader = images.open_package(target)
    try:
        assert sorted(reader.names()) == [(1, "a.jpg"), (2, "BIOUG1-A01.jpg")]
        assert reader.read("BIOUG1-A01.jpg", 2) == RECORDS[1].data
        assert reader.contains("a.jpg", 1) and not reader.contains("b.jpg", 1)
    finally:
        reader.close()


def test_zip_members_and_folder_paths_follow_the_release(tmp_path: Path) -> None:
    images.write_zip(RECORDS, tmp_path / "p.zip", "cropped_256")
    with zipfile.ZipFile(tmp_path / "p.zip") as archive:
        assert archive.namelist() == [
            "bioscan/images/cropped_256/part1/a.jpg",
            "bioscan/images/cropped_256/part2/BIOUG1-A01.jpg",
        ]
    assert images.folder_path("root", 3, "x.jpg") == Path("root/part3/x.jpg")


def test_unknown_package_kind_and_missing_package_are_explained(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="not an image package"):
        images.package_format(tmp_path / "pkg.tar")
    with pytest.raises(FileNotFoundError, match=r"missing.zip: no such folder or file; give a folder of photographs"):
        images.open_package(tmp_path / "missing.zip")
    with pytest.raises(
        FileNotFoundError, match=r"image package not found.*--root <data_root> --extract original_256.zip"
    ):
        images.open_package(tmp_path / "original_256.zip")
    with pytest.raises(FileNotFoundError, match=r"download --root <data_root> --package cropped_full --extract`"):
        images.open_package(tmp_path / "cropped")


def test_hdf5_without_the_group_is_refused(tmp_path: Path) -> None:
    import h5py

    with h5py.File(tmp_path / "other.hdf5", "w") as file:
        file.create_group("something_else")
    with pytest.raises(ValueError, match="bioscan_dataset"):
        images.open_package(tmp_path / "other.hdf5")


def test_failed_write_leaves_no_package(tmp_path: Path) -> None:
    def broken():
        yield RECORDS[0]
        raise RuntimeError("disk went away")

    with pytest.raises(RuntimeError):
        images.write_zip(broken(), tmp_path / "p.zip", "original_256")
    assert list(tmp_path.iterdir()) == []


def _gradient(mode: str) -> Image.Image:
    """A 60x40 horizontal ramp in `mode`, from dark to bright over the type's whole range."""
    ramp = np.tile(np.linspace(0, 1, 60), (40, 1))
    if mode.startswith("I;16"):
        return Image.fromarray((ramp * 65535).astype(np.uint16))
    if mode == "I":
        return Image.fromarray((ramp * 65535).astype(np.int32))
    if mode == "F":
        return Image.fromarray(ramp.astype(np.float32))
    return Image.fromarray((ramp * 255).astype(np.uint8), "L").convert(mode)


def _encoded(image: Image.Image, format: str = "PNG") -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=format)
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("mode", "format"),
    [("I;16", "PNG"), ("I", "TIFF"), ("F", "TIFF"), ("P", "PNG"), ("LA", "PNG"), ("RGBA", "PNG"), ("CMYK", "JPEG")],
)
def test_every_mode_decodes_to_rgb_with_its_range_kept(mode: str, format: str) -> None:
    source = _gradient(mode)
    data = _encoded(source, format)
    assert Image.open(io.BytesIO(data)).mode.startswith(mode[:1])
    grey = np.asarray(images.decode_image(data).convert("L"), int)
    assert grey[:, :3].mean() < 20 and grey[:, -3:].mean() > 235  # dark to bright, not all white or black
    assert np.all(np.diff(grey[20].astype(int)) >= -3)


def test_transparent_pixels_are_laid_on_white() -> None:
    clear = Image.new("RGBA", (20, 10), (0, 0, 0, 0))
    assert images.decode_image(_encoded(clear)).getpixel((5, 5)) == (255, 255, 255)


@pytest.mark.parametrize("size", [(1, 12000), (12000, 1), (300, 20)])
def test_elongated_images_are_refused_from_the_header(size: tuple[int, int], monkeypatch) -> None:
    data = _encoded(Image.new("L", size))
    monkeypatch.setattr(Image.Image, "load", lambda self: pytest.fail("pixels decoded"))
    with pytest.raises(images.ImageRejected, match=f"{size[0]}x{size[1]} pixels: more elongated"):
        images.decode_image(data)


def test_oversized_images_are_refused_from_the_header(monkeypatch) -> None:
    monkeypatch.setattr(images, "MAX_PIXELS", 100)
    with pytest.raises(images.ImageRejected, match="20x10 pixels: empty or over the limit of 100 pixels"):
        images.decode_image(_jpeg(20, 10))


def test_a_single_colour_output_is_refused() -> None:
    with pytest.raises(images.ImageRejected, match=r"single colour \(255, 255, 255\)"):
        images.check_not_blank(Image.new("RGB", (8, 8), "white"))
    photo = _gradient("RGB")
    assert images.check_not_blank(photo) is photo


@pytest.mark.parametrize("size", [0, -5, True])
def test_a_size_that_is_not_positive_is_refused(size) -> None:
    with pytest.raises(ValueError, match="--size .*positive number of pixels"):
        images.check_size(size)


def test_files_that_are_no_package_are_explained(tmp_path: Path) -> None:
    (tmp_path / "fake.hdf5").write_text("<html>not hdf5</html>")
    (tmp_path / "fake.zip").write_bytes(b"PK\x03\x04broken")
    with pytest.raises(ValueError, match="fake.hdf5: not a readable HDF5 file"):
        images.open_package(tmp_path / "fake.hdf5")
    with pytest.raises(ValueError, match="fake.zip: not a readable ZIP file"):
        images.open_package(tmp_path / "fake.zip")
    with pytest.raises(ValueError, match="fake.hdf5: not a readable HDF5 file"):
        images.PhotoSource(tmp_path / "fake.hdf5")


@pytest.mark.parametrize(
    ("size", "expected"), [((2880, 2160), (341, 256)), ((300, 600), (256, 512)), ((256, 256), (256, 256))]
)
def test_resize_keeps_aspect_with_256_on_the_shorter_side(size: tuple[int, int], expected: tuple[int, int]) -> None:
    assert images.resize_shorter_side(Image.new("RGB", size)).size == expected


def test_decode_applies_exif_orientation_and_gives_rgb() -> None:
    image = Image.new("L", (40, 20), 128)
    exif = image.getexif()
    exif[0x0112] = 6  # rotate 90 degrees on display
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", exif=exif)
    decoded = images.decode_image(buffer.getvalue())
    assert decoded.mode == "RGB" and decoded.size == (20, 40)


@pytest.mark.parametrize("kind", ["folder", "zip", "hdf5"])
def test_held_images_tells_which_images_a_package_holds(kind: str, tmp_path: Path) -> None:
    records = [images.ImageRecord(1, "a.jpg", b"a"), images.ImageRecord(2, "b.jpg", b"b")]
    path = {"folder": tmp_path / "pkg", "zip": tmp_path / "pkg.zip", "hdf5": tmp_path / "pkg.hdf5"}[kind]
    {
        "folder": images.write_folder,
        "zip": lambda r, p: images.write_zip(r, p, "original_256"),
        "hdf5": images.write_hdf5,
    }[kind](records, path)
    assert images.held_images(path, ["a.jpg", "b.jpg", "c.jpg"], [1, 2, 1]).tolist() == [True, True, False]
    if kind != "hdf5":  # the published HDF5 keys images by file name alone
        assert images.held_images(path, ["b.jpg"], [3]).tolist() == [False]


def test_hdf5_reads_whole_blocks_at_their_offsets_and_leaves_other_layouts_to_hdf5(tmp_path: Path) -> None:
    import h5py
    import numpy as np

    path = tmp_path / "pkg.hdf5"
    images.write_hdf5(RECORDS, path)
    with h5py.File(path, "a") as file:
        group = file[bioscan1m.HDF5_GROUP]
        group.create_dataset("zipped.jpg", data=np.frombuffer(RECORDS[0].data, np.uint8), chunks=(64,), compression=9)
        group.create_dataset("wide.jpg", data=np.arange(10, dtype=">i2"))
    reader = images.open_package(path)
    try:
        for name in ("a.jpg", "BIOUG1-A01.jpg", "zipped.jpg", "wide.jpg"):
            assert reader.read(name) == reader.group[name][()].tobytes(), name
        assert reader.read("zipped.jpg") == RECORDS[0].data
        assert reader._blocks["a.jpg"] is not None and reader._blocks["zipped.jpg"] is None
        assert reader._blocks["wide.jpg"] is None
        with pytest.raises(KeyError):
            reader.read("absent.jpg")
    finally:
        reader.close()


def _oriented_jpeg(orientation: int) -> bytes:
    """A 160x120 JPEG with a corner marked, carrying EXIF orientation `orientation`."""
    photo = Image.fromarray(np.random.default_rng(orientation).integers(0, 255, (120, 160, 3), dtype=np.uint8))
    ImageDraw.Draw(photo).rectangle((0, 0, 30, 20), fill=(250, 0, 0))
    exif = photo.getexif()
    exif[0x0112] = orientation
    buffer = io.BytesIO()
    photo.save(buffer, format="JPEG", quality=90, exif=exif.tobytes())
    return buffer.getvalue()


@pytest.mark.parametrize("orientation", range(1, 9))
@pytest.mark.parametrize("shorter_side", [None, 60, 30, 15])
def test_decode_array_gives_decode_images_pixels_bit_for_bit(orientation, shorter_side):
    data = _oriented_jpeg(orientation)
    expected = np.asarray(images.decode_image(data, shorter_side=shorter_side))
    assert np.array_equal(images.decode_array(data, shorter_side=shorter_side), expected)


def test_decode_array_reads_other_images_through_pillow_and_refuses_a_truncated_jpeg():
    grey = io.BytesIO()
    Image.new("L", (64, 48), 90).save(grey, format="PNG")
    assert images.decode_array(grey.getvalue()).shape == (48, 64, 3)
    whole = _oriented_jpeg(1) + b"camera trailer"  # bytes after the end of the image, as CBG photographs have
    assert images.decode_array(whole).shape == (120, 160, 3)
    with pytest.raises(OSError, match="truncated"):
        images.decode_array(whole[: len(whole) // 2])


def test_photographs_are_taken_one_or_several_by_their_paths(tmp_path: Path) -> None:
    first, second = tmp_path / "b.jpg", tmp_path / "a.png"
    first.write_bytes(images.encode_jpeg(Image.new("RGB", (8, 8), "red")))
    second.write_bytes(b"png bytes")
    one = images.PhotoSource(first)
    assert one.names() == [first.as_posix()] and one.read(one.names()[0])[:2] == b"\xff\xd8"
    assert images.PhotoSource([first, second, first]).names() == [second.as_posix(), first.as_posix()]
    (tmp_path / "notes.txt").write_text("not a photograph")
    with pytest.raises(ValueError, match=r"notes.txt: not a photograph \(.jpg, .jpeg, .png\); give photographs alone"):
        images.PhotoSource([first, tmp_path / "notes.txt"])
    with pytest.raises(
        ValueError, match=r"notes.txt: not a photograph \(.jpg, .jpeg, .png\), nor a folder, ZIP or HDF5"
    ):
        images.PhotoSource(tmp_path / "notes.txt")
