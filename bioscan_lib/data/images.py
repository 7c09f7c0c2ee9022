"""Image packages in the three published formats (folder, ZIP, HDF5): names, readers, writers and the 256 px resize."""

from __future__ import annotations

import difflib
import io
import math
import os
import zipfile
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import NamedTuple

import cv2
import h5py
import numpy as np
from PIL import Image, ImageOps

from bioscan_lib.core.files import atomic_path
from bioscan_lib.data.bioscan1m import (
    FULL_PACKAGES,
    HDF5_GROUP,
    PACKAGE_FOLDERS,
    PACKAGE_FORMS,
    RESIZED_PACKAGES,
    RESIZED_SIDE,
    ZIP_IMAGES_FOLDER,
)

OPENCV_REDUCTIONS = {
    1: cv2.IMREAD_COLOR,
    2: cv2.IMREAD_REDUCED_COLOR_2,
    4: cv2.IMREAD_REDUCED_COLOR_4,
    8: cv2.IMREAD_REDUCED_COLOR_8,
}
JPEG_END = b"\xff\xd9"
PHOTO_SUFFIXES = (".jpg", ".jpeg", ".png")
JPEG_QUALITY = 90
REDUCING_GAP = 1.5  # resize: box-reduce by a whole factor first, leaving at least this much to the Lanczos filter
MAX_PIXELS = 64_000_000  # an image larger than this is refused before decoding (full-size photographs: 6.2 M)
MAX_ASPECT = 10.0  # nor one whose longer side exceeds this many times the shorter (published: 4:3)


class ImageRejected(ValueError):
    """An image refused whole: too large, too elongated, or decoded to a single colour."""


class ImageRecord(NamedTuple):
    """One image of a package: its chunk, its file name and its encoded JPEG bytes."""

    chunk_number: int
    image_file: str
    data: bytes


def zip_member(package: str, chunk_number: int, image_file: str) -> str:
    """The member name of an image inside a published ZIP package."""
    return f"{ZIP_IMAGES_FOLDER}/{package}/part{int(chunk_number)}/{image_file}"


def folder_path(root: str | os.PathLike, chunk_number: int, image_file: str) -> Path:
    """The path of an image inside a package folder (`<root>/part<N>/<file>`)."""
    return Path(root) / f"part{int(chunk_number)}" / image_file


def package_format(path: str | os.PathLike) -> str:
    """`folder`, `zip` or `hdf5`, from the path."""
    path = Path(path)
    if path.suffix.lower() == ".zip":
        return "zip"
    if path.suffix.lower() in (".hdf5", ".h5"):
        return "hdf5"
    if path.is_dir() or not path.suffix:
        return "folder"
    raise ValueError(f"{path}: not an image package; give {PACKAGE_FORMS}")


class FolderPackage:
    """Reads images from `<root>/part<N>/<file>`, or from a plain folder of photographs, read as part 1."""

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root)
        self.flat = self.root.is_dir() and not any(self.root.glob("part*")) and bool(self._loose_photographs())

    def _loose_photographs(self) -> list[str]:
        return sorted(
            p.name for p in self.root.iterdir() if p.suffix.lower() in PHOTO_SUFFIXES and not p.name.startswith(".")
        )

    def _path(self, image_file: str, chunk_number: int) -> Path:
        return self.root / image_file if self.flat else folder_path(self.root, chunk_number, image_file)

    def read(self, image_file: str, chunk_number: int) -> bytes:
        return self._path(image_file, chunk_number).read_bytes()

    def contains(self, image_file: str, chunk_number: int) -> bool:
        return self._path(image_file, chunk_number).is_file()

    def names(self) -> Iterator[tuple[int, str]]:
        if self.flat:
            yield from ((1, name) for name in self._loose_photographs())
            return
        for part in sorted(self.root.glob("part*"), key=lambda p: int(p.name[4:] or 0)):
            for file in sorted(part.iterdir()):
                if file.is_file() and not file.name.startswith("."):
                    yield int(part.name[4:]), file.name

    def close(self) -> None:
        pass


class ZipPackage:
    """Reads images from a published ZIP (`bioscan/images/<package>/part<N>/<file>`), opened once."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self.archive = zipfile.ZipFile(self.path)
        self.members = {self._key(n): n for n in self.archive.namelist() if not n.endswith("/")}

    @staticmethod
    def _key(member: str) -> tuple[int, str]:
        parts = member.split("/")
        return int(parts[-2][4:]), parts[-1]

    def read(self, image_file: str, chunk_number: int) -> bytes:
        return self.archive.read(self.members[(int(chunk_number), image_file)])

    def contains(self, image_file: str, chunk_number: int) -> bool:
        return (int(chunk_number), image_file) in self.members

    def names(self) -> Iterator[tuple[int, str]]:
        yield from self.members

    def close(self) -> None:
        self.archive.close()


class Hdf5Package:
    """Reads images from a published HDF5 (group `bioscan_dataset`, one uint8 dataset of JPEG bytes per image).

    Each name is looked up in the group once per process; an image stored as one contiguous block is then read
    straight from the file at its offset, skipping HDF5's per-read machinery. Open one per process (not fork-shared).
    """

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self.file = h5py.File(self.path, "r")
        if HDF5_GROUP not in self.file:
            self.file.close()
            raise ValueError(f"{self.path}: no group {HDF5_GROUP!r}; not a BIOSCAN-1M HDF5 package")
        self.group = self.file[HDF5_GROUP]
        self._raw = os.open(self.path, os.O_RDONLY)
        self._blocks: dict[str, tuple[int, int] | None] = {}

    def _block(self, image_file: str) -> tuple[int, int] | None:
        """(offset, size) of an image's bytes in the file; None when HDF5 must read it (chunked, filtered, wider)."""
        if image_file not in self._blocks:
            dataset = h5py.h5o.open(self.group.id, image_file.encode("utf-8"))
            if not isinstance(dataset, h5py.h5d.DatasetID):
                raise ValueError(f"{self.path}: {image_file} is a group, not an image's bytes")
            offset = dataset.get_offset() if dataset.get_type().get_size() == 1 else None
            self._blocks[image_file] = None if offset is None else (offset, dataset.get_storage_size())
        return self._blocks[image_file]

    def read(self, image_file: str, chunk_number: int = 0) -> bytes:
        block = self._block(image_file)
        if block is None:
            return self.group[image_file][()].tobytes()
        return os.pread(self._raw, block[1], block[0])

    def contains(self, image_file: str, chunk_number: int = 0) -> bool:
        return image_file in self.group

    def names(self) -> Iterator[tuple[int, str]]:
        for name in self.group:
            yield int(self.group[name].attrs.get("chunk_number", 0)), name

    def close(self) -> None:
        os.close(self._raw)
        self.file.close()


PhotoPaths = str | os.PathLike | Sequence[str | os.PathLike]


def is_photograph(path: Path) -> bool:
    """Whether `path` is a photograph file (by its suffix)."""
    return path.is_file() and path.suffix.lower() in PHOTO_SUFFIXES


def _photo_container(path: Path) -> str:
    """`folder`, `zip` or `hdf5`: what holds the photographs at `path`, else a one-line error saying what may."""
    if path.suffix.lower() == ".zip":
        return "zip"
    if path.suffix.lower() in (".hdf5", ".h5"):
        return "hdf5"
    if path.is_dir():
        return "folder"
    raise ValueError(
        f"{path}: not a photograph ({', '.join(PHOTO_SUFFIXES)}), nor a folder, ZIP or HDF5 file of photographs"
    )


class PhotoSource:
    """Loose photographs by name: one or several photograph files (named by their paths as given), a folder (searched
    recursively), any ZIP or an HDF5 package; opened once per process."""

    def __init__(self, paths: PhotoPaths):
        given = [Path(paths)] if isinstance(paths, str | os.PathLike) else [Path(path) for path in paths]
        if not given:
            raise ValueError("no photographs given; give photographs, or a folder, ZIP or HDF5 file of them")
        absent = next((path for path in given if not path.exists()), None)
        if absent is not None:
            raise FileNotFoundError(f"{absent}: no such photograph, folder or file of photographs")
        self.path = given[0]
        self.files: list[str] = []
        if len(given) > 1 or is_photograph(self.path):
            refused = next((path for path in given if not is_photograph(path)), None)
            if refused is not None:
                raise ValueError(
                    f"{refused}: not a photograph ({', '.join(PHOTO_SUFFIXES)}); give photographs alone, or one "
                    "folder, ZIP or HDF5 file of them"
                )
            self.kind, self.files = "photographs", sorted({path.as_posix() for path in given})
        else:
            self.kind = _photo_container(self.path)
        self._handle = None
        self._owner: int | None = None
        if self.kind in ("zip", "hdf5"):
            try:
                self._open()
            except (zipfile.BadZipFile, OSError) as error:
                raise ValueError(f"{self.path}: not a readable {self.kind.upper()} file ({error})") from error

    def __str__(self) -> str:
        others = len(self.files) - 1
        return f"{self.path} and {others} other photograph{'s' if others > 1 else ''}" if others > 0 else str(self.path)

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_handle": None, "_owner": None}

    def _open(self) -> zipfile.ZipFile | Hdf5Package:
        if self._handle is None or self._owner != os.getpid():
            self._handle = zipfile.ZipFile(self.path) if self.kind == "zip" else Hdf5Package(self.path)
            self._owner = os.getpid()
        return self._handle

    def names(self) -> list[str]:
        """Every photograph's name (its path as given, a path relative to the folder, a ZIP member, or an HDF5
        dataset), sorted."""
        if self.kind == "photographs":
            return list(self.files)
        if self.kind == "folder":
            found = [
                p.relative_to(self.path).as_posix()
                for p in self.path.rglob("*")
                if p.suffix.lower() in PHOTO_SUFFIXES and not p.name.startswith(".")
            ]
        elif self.kind == "zip":
            found = [n for n in self._open().namelist() if Path(n).suffix.lower() in PHOTO_SUFFIXES]
        else:
            found = list(self._open().group)
        if not found:
            raise ValueError(f"{self.path}: no photographs ({', '.join(PHOTO_SUFFIXES)}) found")
        return sorted(found)

    def read(self, name: str) -> bytes:
        """The encoded bytes of one photograph."""
        if self.kind == "photographs":
            return Path(name).read_bytes()
        if self.kind == "folder":
            return (self.path / name).read_bytes()
        return self._open().read(name)


def missing_package_message(path: str | os.PathLike) -> str:
    """What to say when an image package is not at `path`: what may be there, and how to get a published one."""
    name = Path(path).name.split(".")[0]
    package = {folder: package for package, folder in PACKAGE_FOLDERS.items()}.get(name, name)
    if package in RESIZED_PACKAGES:
        fetch = f"--extract {package}.zip"
    elif package in FULL_PACKAGES:
        fetch = f"--package {package} --extract"
    else:
        return f"{path}: no such folder or file{_nearest_beside(Path(path))}; give {PACKAGE_FORMS}"
    return (
        f"{path}: image package not found; download it with `bioscan-repro download --root <data_root> {fetch}` "
        f"(or notebook 01), or give the path of {PACKAGE_FORMS}"
    )


def _nearest_beside(path: Path) -> str:
    """` (did you mean <path>?)` naming the entry beside `path` nearest to its name, or "" where none is near."""
    beside = [entry.name for entry in path.parent.iterdir()] if path.parent.is_dir() else []
    nearest = difflib.get_close_matches(path.name, beside, n=1)
    return f" (did you mean {path.parent / nearest[0]}?)" if nearest else ""


def checked_package(path: str | os.PathLike) -> str:
    """The format of the image package at `path` (`folder`, `zip` or `hdf5`); one that is not there is an error."""
    kind = package_format(path)
    if not Path(path).exists():
        raise FileNotFoundError(missing_package_message(path))
    return kind


def open_package(path: str | os.PathLike) -> FolderPackage | ZipPackage | Hdf5Package:
    """A reader for a package in any of the three formats."""
    kind = checked_package(path)
    try:
        return {"folder": FolderPackage, "zip": ZipPackage, "hdf5": Hdf5Package}[kind](path)
    except (zipfile.BadZipFile, OSError) as error:
        raise ValueError(f"{path}: not a readable {kind.upper()} file ({error}); download or write it again") from error


def write_folder(records: Iterable[ImageRecord], root: str | os.PathLike) -> int:
    """Write images as `<root>/part<N>/<file>`, each through a temporary name; return the count."""
    count = 0
    for record in records:
        with atomic_path(folder_path(root, record.chunk_number, record.image_file)) as temporary:
            temporary.write_bytes(record.data)
        count += 1
    return count


def write_zip(records: Iterable[ImageRecord], path: str | os.PathLike, package: str) -> int:
    """Write images as a published ZIP package (stored, not deflated: JPEGs do not compress)."""
    count = 0
    with atomic_path(path) as temporary, zipfile.ZipFile(temporary, "w", zipfile.ZIP_STORED) as archive:
        for record in records:
            info = zipfile.ZipInfo(zip_member(package, record.chunk_number, record.image_file), (2021, 1, 1, 0, 0, 0))
            archive.writestr(info, record.data)
            count += 1
    return count


def write_hdf5(
    records: Iterable[ImageRecord], path: str | os.PathLike, attributes: dict[str, str] | None = None
) -> int:
    """Write images as a published HDF5 package; group attributes carry the copyright fields."""
    count = 0
    with atomic_path(path) as temporary, h5py.File(temporary, "w", track_order=True) as file:
        group = file.create_group(HDF5_GROUP, track_order=True)
        for key, value in (attributes or {}).items():
            group.attrs[key] = value
        for record in records:
            dataset = group.create_dataset(record.image_file, data=np.frombuffer(record.data, dtype=np.uint8))
            dataset.attrs["chunk_number"] = int(record.chunk_number)
            count += 1
    return count


def check_size(size: int) -> int:
    """A shorter side asked for (resize, crop), refused unless a positive number of pixels."""
    if not isinstance(size, int) or isinstance(size, bool) or size < 1:
        raise ValueError(f"--size {size!r}: give the shorter side as a positive number of pixels (e.g. 256)")
    return size


def check_dimensions(size: tuple[int, int]) -> None:
    """Refuse an image of more than MAX_PIXELS pixels or more elongated than MAX_ASPECT, before any pixel is decoded."""
    width, height = size
    if width < 1 or height < 1 or width * height > MAX_PIXELS:
        raise ImageRejected(f"{width}x{height} pixels: empty or over the limit of {MAX_PIXELS:,} pixels")
    if max(width, height) > MAX_ASPECT * min(width, height):
        raise ImageRejected(f"{width}x{height} pixels: more elongated than {MAX_ASPECT:g}:1")


def to_rgb(image: Image.Image) -> Image.Image:
    """An image of any mode as 8-bit RGB: 16- and 32-bit and float values scaled to 0-255 (not clipped), transparency
    laid on white, palettes and CMYK converted."""
    if image.mode == "RGB":
        return image
    if image.mode in ("I", "F") or image.mode.startswith("I;16"):
        values = np.asarray(image, dtype=np.float64)
        if image.mode == "F" and values.min() >= 0 and values.max() <= 1:
            values = values * 255
        elif image.mode.startswith("I;16") or (values.min() >= 0 and values.max() <= 65535 and values.max() > 255):
            values = values / 257
        elif values.min() < 0 or values.max() > 255:
            values = (values - values.min()) * (255 / max(values.max() - values.min(), 1e-12))
        return Image.fromarray(np.clip(np.rint(values), 0, 255).astype(np.uint8), "L").convert("RGB")
    if image.mode in ("RGBA", "LA", "PA", "La", "RGBa") or "transparency" in image.info:
        rgba = image.convert("RGBA")
        return Image.alpha_composite(Image.new("RGBA", rgba.size, (255, 255, 255, 255)), rgba).convert("RGB")
    return image.convert("RGB")


def check_not_blank(image: Image.Image) -> Image.Image:
    """The image, unless every pixel has the same colour (a failed decode or conversion), which is refused."""
    extrema = image.getextrema()
    if all(low == high for low, high in extrema):
        raise ImageRejected(f"a single colour {tuple(low for low, _ in extrema)} throughout: blank output")
    return image


def decode_image(data: bytes, shorter_side: int | None = None) -> Image.Image:
    """Decode encoded image bytes (any mode Pillow reads) to an RGB image, applying any EXIF orientation; its size is
    checked from the header first (`check_dimensions`).

    With `shorter_side`, a JPEG is decoded at the smallest of its 1/2, 1/4, 1/8 scales that keeps the
    shorter side at least that long (Pillow's `draft`, much faster than a full decode).
    """
    image = Image.open(io.BytesIO(data))
    check_dimensions(image.size)
    if shorter_side and shorter_side < min(image.size):
        ratio = shorter_side / min(image.size)
        image.draft(image.mode, (math.ceil(image.width * ratio), math.ceil(image.height * ratio)))
    image.load()
    ImageOps.exif_transpose(image, in_place=True)
    return to_rgb(image)


def _draft_reduction(image: Image.Image, shorter_side: int | None) -> int:
    """The DCT scale (1, 2, 4 or 8) Pillow's `draft` decodes at in `decode_image(data, shorter_side)`."""
    if not shorter_side or shorter_side >= min(image.size):
        return 1
    ratio = shorter_side / min(image.size)
    wanted = (math.ceil(image.width * ratio), math.ceil(image.height * ratio))
    scale = min(image.width // wanted[0], image.height // wanted[1])
    return next(reduction for reduction in (8, 4, 2, 1) if scale >= reduction)


def decode_array(data: bytes, shorter_side: int | None = None) -> np.ndarray:
    """`decode_image` as an RGB array, the same pixels bit for bit: a whole colour JPEG goes through OpenCV's
    libjpeg-turbo, which writes the array directly (Pillow fills four-byte pixels, then copies); the rest through Pillow."""
    with Image.open(io.BytesIO(data)) as image:
        check_dimensions(image.size)
        plain_jpeg = image.format == "JPEG" and image.mode == "RGB" and len(image.tile) == 1
        scan_start = image.tile[0].offset if plain_jpeg else 0
        reduction = _draft_reduction(image, shorter_side)
    if plain_jpeg and data.find(JPEG_END, scan_start) >= 0:  # whole: Pillow refuses a truncated file, OpenCV not
        decoded = cv2.imdecode(np.frombuffer(data, np.uint8), OPENCV_REDUCTIONS[reduction])
        if decoded is not None:
            return cv2.cvtColor(decoded, cv2.COLOR_BGR2RGB)
    return np.asarray(decode_image(data, shorter_side))


def resize_shorter_side(image: Image.Image, size: int = RESIZED_SIDE) -> Image.Image:
    """Resize so the shorter side is `size` px, aspect kept, with an antialiasing (Lanczos) filter; large reductions
    start with a whole-factor box reduction (Pillow's `reducing_gap`), as a JPEG decoder's own scaling does."""
    width, height = image.size
    scale = size / min(width, height)
    target = (max(1, round(width * scale)), max(1, round(height * scale)))
    return image.resize(target, Image.Resampling.LANCZOS, reducing_gap=REDUCING_GAP)


def encode_jpeg(image: Image.Image, quality: int = JPEG_QUALITY) -> bytes:
    """Encode an RGB image as JPEG bytes."""
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()


def held_images(package_path: str | os.PathLike, image_files: list[str], chunk_numbers: list[int]) -> np.ndarray:
    """Per image (file, chunk): whether the package holds it; a folder is listed once per part, not probed per file."""
    package = open_package(package_path)
    try:
        if isinstance(package, FolderPackage):
            listed = {}
            for chunk in set(chunk_numbers):
                part = package.root / f"part{int(chunk)}"
                listed[int(chunk)] = set(os.listdir(part)) if part.is_dir() else set()
            found = [name in listed[int(chunk)] for name, chunk in zip(image_files, chunk_numbers)]
        else:
            found = [package.contains(name, int(chunk)) for name, chunk in zip(image_files, chunk_numbers)]
    finally:
        package.close()
    return np.asarray(found, dtype=bool)
