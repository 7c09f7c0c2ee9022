"""Extracting published ZIP packages into the canonical layout `<root>/bioscan1m/images/<package>/part<N>/<file>`."""

from __future__ import annotations

import os
import re
import shutil
import stat
import zipfile
import zlib
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import pandas as pd
from tqdm.auto import tqdm

from bioscan_lib.core.files import atomic_path
from bioscan_lib.data.bioscan1m import DATASET_FOLDER, PACKAGE_FOLDERS, images_folder
from bioscan_lib.data.metadata import find_metadata, read_metadata

MEMBER_LAYOUT = re.compile(r"bioscan/images/(?P<package>[A-Za-z0-9_]+)/part(?P<part>\d+)/(?P<file>[^/]+)")
PART_ARCHIVE = re.compile(r"bioscan_images_[a-z_]+_part\d+\.zip")
MAX_RATIO = 50  # uncompressed / compressed size beyond which a member is taken for a ZIP bomb (JPEGs are ~1)
RATIO_FLOOR = 1 << 20  # members smaller than this are not held to the ratio
FREE_SPACE_MARGIN = 1.05  # the free space must exceed what the archive unpacks to by 5 %
COPY_BLOCK = 1 << 20


class UnsafeArchiveError(ValueError):
    """An archive member would be written outside the target folder; nothing of the archive is extracted."""


@dataclass(frozen=True)
class ExtractResult:
    """One extracted archive: its package, the parts it holds, and how many images it wrote or found in place."""

    archive: str
    package: str
    parts: tuple[int, ...]
    whole_package: bool  # a 256 px package (all parts), not one full-size part
    images: int
    written: int
    skipped: int


def _is_symlink(info: zipfile.ZipInfo) -> bool:
    return stat.S_ISLNK(info.external_attr >> 16)


def member_target(info: zipfile.ZipInfo, root: Path, archive: Path) -> tuple[Path, str, int]:
    """Where a member goes, its package folder and part; refuses names that leave the images folder or break the
    layout. Full-size crops go to `cropped/`, the name the bioscan-dataset package reads."""
    name = info.filename
    pure = PurePosixPath(name.replace("\\", "/"))
    target_root = Path(os.path.abspath(images_folder(root)))
    target = Path(os.path.abspath(root / DATASET_FOLDER / Path(*pure.parts[1:]))) if len(pure.parts) > 1 else None
    if (
        pure.is_absolute()
        or ".." in pure.parts
        or re.match(r"^[A-Za-z]:", name)
        or _is_symlink(info)
        or target is None
        or not target.is_relative_to(target_root)
    ):
        raise UnsafeArchiveError(
            f"{archive.name}: member {name!r} would be written outside {images_folder(root)}; "
            "refusing the whole archive (nothing extracted). Re-download it from a trusted host."
        )
    match = MEMBER_LAYOUT.fullmatch(pure.as_posix())
    if not match:
        raise ValueError(
            f"{archive.name}: member {name!r} is not in the published layout "
            "bioscan/images/<package>/part<N>/<file>; is this a BIOSCAN-1M package?"
        )
    folder = PACKAGE_FOLDERS.get(match["package"], match["package"])
    return images_folder(root, folder) / f"part{match['part']}" / match["file"], folder, int(match["part"])


def extract_zip(archive: str | os.PathLike, root: str | os.PathLike, progress: bool = True) -> ExtractResult:
    """Extract a published ZIP into `<root>/bioscan1m/images/...`; members already in place (same size) are skipped."""
    archive, root = Path(archive), Path(root)
    if not archive.is_file():
        raise FileNotFoundError(f"{archive}: archive not found; download it first with `bioscan-repro download`")
    try:
        handle = zipfile.ZipFile(archive)
    except zipfile.BadZipFile as error:
        raise ValueError(f"{archive}: not a readable ZIP ({error}); delete it and download it again") from error
    with handle:
        members = [info for info in handle.infolist() if not info.is_dir()]
        check_members(members, archive, root)
        targets = [member_target(info, root, archive) for info in members]  # every member checked before writing
        written = 0
        for info, (target, _, _) in tqdm(
            list(zip(members, targets)), desc=f"extracting {archive.name}", unit="file", disable=not progress
        ):
            if target.is_file() and target.stat().st_size == info.file_size:
                continue
            _extract_member(handle, info, target, archive)
            written += 1
    packages = sorted({package for _, package, _ in targets})
    if len(packages) > 1:
        raise ValueError(f"{archive.name}: holds images of several packages ({', '.join(packages)}); expected one")
    return ExtractResult(
        archive.name,
        packages[0] if packages else "",
        tuple(sorted({p for _, _, p in targets})),
        not PART_ARCHIVE.fullmatch(archive.name),
        len(members),
        written,
        len(members) - written,
    )


def check_members(members: list[zipfile.ZipInfo], archive: Path, root: Path) -> None:
    """Refuse, before anything is written, an archive with no files, a name twice, a member inflating more than
    MAX_RATIO times (a ZIP bomb), or more to unpack than the free space under `root`."""
    if not members:
        raise ValueError(f"{archive}: the archive holds no files; delete it and download it again")
    twice = [name for name, count in Counter(info.filename for info in members).items() if count > 1]
    if twice:
        raise ValueError(
            f"{archive}: {len(twice)} member name(s) appear more than once, e.g. {twice[0]!r}; the archive is "
            "malformed: download it again"
        )
    for info in members:
        if info.file_size > RATIO_FLOOR and info.file_size > MAX_RATIO * max(info.compress_size, 1):
            raise ValueError(
                f"{archive}: member {info.filename!r} would inflate from {info.compress_size:,} to "
                f"{info.file_size:,} bytes (over {MAX_RATIO}x); refusing a likely ZIP bomb, nothing extracted"
            )
    total = sum(info.file_size for info in members)
    existing = next(folder for folder in (root, *root.parents) if folder.exists())
    free = shutil.disk_usage(existing).free
    if total * FREE_SPACE_MARGIN > free:
        raise ValueError(
            f"{archive}: unpacks to {total:,} bytes but {existing} has {free:,} bytes free; free some space or "
            "extract to another --root, nothing extracted"
        )


def _extract_member(handle: zipfile.ZipFile, info: zipfile.ZipInfo, target: Path, archive: Path) -> None:
    """Copy one member to `target` through a temporary name, at most its declared size, its CRC checked."""
    try:
        with handle.open(info) as source, atomic_path(target) as temporary, open(temporary, "wb") as sink:
            copied = 0
            while block := source.read(COPY_BLOCK):
                copied += len(block)
                if copied > info.file_size:
                    raise zipfile.BadZipFile(f"more than its declared {info.file_size:,} bytes")
                sink.write(block)
    except (zipfile.BadZipFile, zlib.error, EOFError) as error:
        raise ValueError(
            f"{archive}: member {info.filename!r} is corrupt ({error}); delete the archive and download it again"
        ) from error


def extract_archives(
    archives: Iterable[str | os.PathLike], root: str | os.PathLike, progress: bool = True
) -> list[ExtractResult]:
    """Extract each ZIP archive into the canonical layout under `root`."""
    return [extract_zip(archive, root, progress) for archive in archives]


def extraction_table(results: Iterable[ExtractResult]) -> pd.DataFrame:
    """One row per archive: name, package, number of parts and of images."""
    rows = [{"archive": r.archive, "package": r.package, "parts": len(r.parts), "images": r.images} for r in results]
    return pd.DataFrame(rows, columns=["archive", "package", "parts", "images"])


def _present_images(folder: Path, part: int) -> set[str]:
    """Names of the image files in `<folder>/part<N>`."""
    part_folder = folder / f"part{part}"
    if not part_folder.is_dir():
        return set()
    with os.scandir(part_folder) as entries:
        return {entry.name for entry in entries if entry.is_file() and not entry.name.startswith(".")}


def check_extraction(
    root: str | os.PathLike, extracted: Iterable[ExtractResult], metadata_path: str | os.PathLike | None = None
) -> pd.DataFrame:
    """Per extracted package: the metadata's images expected in its parts, how many are in place, how many are missing."""
    frame = read_metadata(metadata_path or find_metadata(root))
    chunks = frame["chunk_number"].astype(int)
    parts_by_package: dict[str, set[int] | None] = {}
    for result in extracted:
        if result.whole_package or parts_by_package.get(result.package, ()) is None:
            parts_by_package[result.package] = None
        else:
            parts_by_package.setdefault(result.package, set()).update(result.parts)
    rows = []
    for package, parts in parts_by_package.items():
        wanted = frame if parts is None else frame[chunks.isin(parts)]
        folder = images_folder(root, package)
        found = sum(
            int(files.astype(str).isin(_present_images(folder, int(part))).sum())
            for part, files in wanted.groupby(chunks[wanted.index])["image_file"]
        )
        rows.append(
            {
                "package": package,
                "parts": chunks[wanted.index].nunique(),
                "expected": len(wanted),
                "found": found,
                "missing": len(wanted) - found,
            }
        )
    return pd.DataFrame(rows, columns=["package", "parts", "expected", "found", "missing"])
