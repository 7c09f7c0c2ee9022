"""Every published BIOSCAN-1M file: its hosts in order of preference, its md5 where published, and where it goes."""

from __future__ import annotations

import fnmatch
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from functools import cache
from pathlib import Path

import pandas as pd

from bioscan_lib.data.bioscan1m import (
    DATASET_FOLDER,
    FULL_PACKAGES,
    GOOGLE_DRIVE_URL,
    HOST_URLS,
    JSONLD_NAME,
    METADATA_ALIAS,
    METADATA_NAME,
    N_PARTS,
    RESIZED_PACKAGES,
    published,
)


@dataclass(frozen=True)
class CatalogEntry:
    """One published file: what it is, where it is hosted and where it goes under a download root."""

    name: str
    kind: str  # "metadata", "package" or "part"
    format: str  # "tsv", "jsonld", "zip" or "hdf5"
    destination: str  # relative to the download root, "/"-separated
    hosts: tuple[str, ...] = ()  # keys of HOST_URLS, in order of preference
    md5: str | None = None
    package: str | None = None
    part: int | None = None
    google_drive_id: str | None = None

    def urls(self, mirror: str | None = None) -> tuple[str, ...]:
        """The URLs to try in order: the mirror's alone if given, else each host's (Google Drive where its id is known)."""
        if mirror:
            return (f"{mirror.rstrip('/')}/{self.name}",)
        urls = [HOST_URLS[host].format(name=self.name) for host in self.hosts]
        if self.google_drive_id:
            urls.append(GOOGLE_DRIVE_URL.format(file_id=self.google_drive_id))
        return tuple(urls)

    def path(self, root: str | os.PathLike) -> Path:
        """Where the file goes under `root`."""
        return Path(root, *self.destination.split("/"))


def part_name(package: str, part: int) -> str:
    """The published name of one full-size part (`bioscan_images_<package>_part<N>.zip`)."""
    return f"bioscan_images_{package}_part{int(part)}.zip"


def _entries() -> list[CatalogEntry]:
    md5 = published()["md5"]
    entries = [
        CatalogEntry(
            METADATA_NAME,
            "metadata",
            "tsv",
            f"{DATASET_FOLDER}/{METADATA_NAME}",
            ("zenodo", "huggingface"),
            md5.get(METADATA_NAME),
        ),
        CatalogEntry(JSONLD_NAME, "metadata", "jsonld", f"{DATASET_FOLDER}/{JSONLD_NAME}", ("huggingface",)),
    ]
    for package in RESIZED_PACKAGES:
        entries.append(
            CatalogEntry(
                f"{package}.zip", "package", "zip", f"{package}.zip", ("zenodo",), md5.get(f"{package}.zip"), package
            )
        )
        entries.append(
            CatalogEntry(
                f"{package}.hdf5",
                "package",
                "hdf5",
                f"{DATASET_FOLDER}/{package}.hdf5",
                ("huggingface",),
                md5.get(f"{package}.hdf5"),
                package,
            )
        )
    for package in FULL_PACKAGES:
        for part in range(1, N_PARTS + 1):
            name = part_name(package, part)
            entries.append(CatalogEntry(name, "part", "zip", name, package=package, part=part))
    return entries


@cache
def catalog() -> dict[str, CatalogEntry]:
    """Every published file by name: both metadata formats, the 256 px packages as ZIP and HDF5, the 2 x 113 parts."""
    return {entry.name: entry for entry in _entries()}


def with_drive_ids(entries: Iterable[CatalogEntry], drive_ids: Mapping[str, str]) -> list[CatalogEntry]:
    """The entries with their Google Drive file ids filled in from a name -> id mapping."""
    return [replace(entry, google_drive_id=drive_ids.get(entry.name, entry.google_drive_id)) for entry in entries]


def read_drive_ids(path: str | os.PathLike) -> dict[str, str]:
    """A `name:id` (or `name<TAB>id`) per line file of Google Drive file ids."""
    ids = {}
    for number, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        match = re.fullmatch(r"\s*([^:\t]+?)\s*[:\t]\s*(\S+)\s*", line)
        if not match:
            raise ValueError(f"{path}, line {number}: expected `file_name:drive_id`, found {line.strip()!r}")
        ids[match[1]] = match[2]
    return ids


def lookup(name: str) -> CatalogEntry:
    """The catalog entry of a published file name (both metadata names accepted)."""
    entries = catalog()
    if name == METADATA_ALIAS:
        name = METADATA_NAME
    if name not in entries:
        raise ValueError(
            f"{name!r} is not a published BIOSCAN-1M file. Known: {METADATA_NAME} (or {METADATA_ALIAS}), {JSONLD_NAME}, "
            f"{', '.join(f'{p}.zip, {p}.hdf5' for p in RESIZED_PACKAGES)}, and "
            f"bioscan_images_<original_full|cropped_full>_part<N>.zip for N in 1..{N_PARTS}."
        )
    return entries[name]


def parse_parts(text: str) -> list[int]:
    """Part numbers from a list like `1-10,12,20-25`, each within 1..113."""
    parts: list[int] = []
    for piece in text.replace(" ", "").split(","):
        match = re.fullmatch(r"(\d+)(?:-(\d+))?", piece)
        if not match:
            raise ValueError(f"--parts {text!r}: expected numbers and ranges like 1-10,12")
        first, last = int(match[1]), int(match[2] or match[1])
        if not 1 <= first <= last <= N_PARTS:
            raise ValueError(f"--parts {text!r}: {piece} is not a range within 1..{N_PARTS}")
        parts.extend(p for p in range(first, last + 1) if p not in parts)
    return parts


def package_files(package: str, file_format: str = "zip", parts: Iterable[int] | None = None) -> list[CatalogEntry]:
    """The files of one image package: the single ZIP or HDF5 of a 256 px package, or the ZIP parts of a full one."""
    if package in RESIZED_PACKAGES:
        if parts is not None:
            raise ValueError(f"--parts applies to {' and '.join(FULL_PACKAGES)}; {package} is a single file")
        return [lookup(f"{package}.{file_format}")]
    if package in FULL_PACKAGES:
        if file_format != "zip":
            raise ValueError(f"{package} is published as ZIP parts only, not as {file_format}")
        return [lookup(part_name(package, part)) for part in (parts or range(1, N_PARTS + 1))]
    raise ValueError(f"unknown package {package!r}; choose one of {', '.join(RESIZED_PACKAGES + FULL_PACKAGES)}")


def select_files(
    names: Iterable[str] = (),
    *,
    all_metadata: bool = False,
    package: str | None = None,
    file_format: str = "zip",
    parts: Iterable[int] | None = None,
    available: Iterable[str] | None = None,
) -> list[CatalogEntry]:
    """The entries named (shell wildcards match catalog names, restricted to `available` when a mirror lists its files)."""
    offered = None if available is None else set(available)
    selected: dict[str, CatalogEntry] = {}
    for name in names:
        if any(character in name for character in "*?["):
            matches = [
                e for n, e in catalog().items() if fnmatch.fnmatchcase(n, name) and (offered is None or n in offered)
            ]
            if not matches:
                raise ValueError(
                    f"{name!r} matches no published file{' the mirror offers' if offered is not None else ''}"
                )
            selected.update((entry.name, entry) for entry in matches)
        else:
            entry = lookup(name)
            selected[entry.name] = entry
    if all_metadata:
        selected.update((name, lookup(name)) for name in (METADATA_NAME, JSONLD_NAME))
    if package:
        selected.update((entry.name, entry) for entry in package_files(package, file_format, parts))
    elif parts is not None:
        raise ValueError("--parts needs --package original_full or --package cropped_full")
    if not selected:
        raise ValueError("nothing to download: name files, or give --all-metadata or --package")
    return list(selected.values())


def catalog_summary() -> pd.DataFrame:
    """One row per kind of published file: how many, their hosts in order of preference, how many have an md5."""
    rows = {}
    for entry in catalog().values():
        key = (entry.package or "metadata", entry.format)
        row = rows.setdefault(
            key, {"package": key[0], "format": key[1], "files": 0, "hosts": set(), "md5_published": 0}
        )
        row["files"] += 1
        row["hosts"].update(entry.hosts)
        row["md5_published"] += entry.md5 is not None
    order = list(HOST_URLS)
    for row in rows.values():
        row["hosts"] = ", ".join([h for h in order if h in row["hosts"]] + ["google_drive (with an id)"])
    return pd.DataFrame(list(rows.values()))
