"""Fetching published files from their hosts or a mirror: streamed, resumed, retried, verified, renamed when complete."""

from __future__ import annotations

import contextlib
import http.server
import json
import logging
import os
import re
import threading
import time
import zipfile
import zlib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from urllib.parse import urlencode, urljoin, urlsplit

import pandas as pd
import requests
from bs4 import BeautifulSoup
from filelock import FileLock, Timeout
from requests_file import FileAdapter
from tqdm.auto import tqdm

from bioscan_lib import __version__
from bioscan_lib.core.files import file_digests, write_text_atomic
from bioscan_lib.download import HOST_TIMEOUT_SECONDS, DownloadSettings, host_answers
from bioscan_lib.download.catalog import (
    CatalogEntry,
    select_files,
    with_drive_ids,
)

log = logging.getLogger(__name__)

MANIFEST_NAME = "download_manifest.json"
CHECKSUMS_NAME = "md5sums.txt"
LOOPBACK_PREFIX = "loopback:"
MAX_CONFIRMATION_PAGES = 2
MAX_PAGE_BYTES = 1 << 20
WEB_SCHEMES = ("http", "https")
SELF_CHECKING = (".zip", ".hdf5")  # formats whose completeness the content check itself proves
HTML_STARTS = (b"<!doctype html", b"<html", b"<head", b"<body", b"<?xml")


@dataclass(frozen=True)
class FetchResult:
    """A file present under the download root: its digests and what its md5 was checked against."""

    name: str
    path: Path
    size: int
    md5: str
    sha256: str
    checksum: str  # "published md5", "mirror md5sums.txt" or "none published"
    verified: bool
    action: str  # "downloaded" or "present"


class DownloadError(RuntimeError):
    """A file could not be fetched or written; the message names it and every host tried."""


class _Transient(Exception):
    """A failure worth retrying on the same host (timeout, dropped connection, 5xx)."""


class _HostFailed(Exception):
    """A failure that moves on to the next host (404, a web page instead of the file, retries exhausted)."""


class _Session(requests.Session):
    """A session whose redirects stay on http(s): a redirect to `file://` or any other scheme is refused unread."""

    def get_redirect_target(self, response: requests.Response) -> str | None:
        target = super().get_redirect_target(response)
        if target and urlsplit(urljoin(response.url, target)).scheme not in WEB_SCHEMES:
            raise requests.exceptions.InvalidSchema(f"redirected to {target!r}; only http(s) redirects are followed")
        return target


def make_session() -> requests.Session:
    """A requests session that also reads `file://` URLs, so local mirrors go through the same code as HTTP."""
    session = _Session()
    session.mount("file://", FileAdapter())
    session.headers["User-Agent"] = f"bioscan-repro/{__version__}"
    session.headers["Accept-Encoding"] = "identity"  # bytes on disk are the bytes counted and hashed
    return session


def partial_path(path: Path) -> Path:
    """The stable name a download grows under until it is complete and verified."""
    return path.with_name(f".{path.name}.partial")


def _host(url: str) -> str:
    """A URL shortened for messages (scheme, host and path, no query)."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{parts.path}"


def _size(path: Path) -> int:
    return path.stat().st_size if path.exists() else 0


def confirmation_url(page: str, page_url: str, cookies: Mapping[str, str]) -> str | None:
    """Where a large-file confirmation page (Google Drive style) leads: its download form, a `confirm=` link or cookie."""
    soup = BeautifulSoup(page, "html.parser")
    for form in soup.find_all("form"):
        fields = {field["name"]: field.get("value", "") for field in form.find_all("input") if field.get("name")}
        if form.get("action") and (form.get("id") == "download-form" or "confirm" in fields):
            action = urljoin(page_url, form["action"])
            return f"{action}{'&' if '?' in action else '?'}{urlencode(fields)}"
    link = soup.find("a", href=re.compile(r"[?&]confirm="))
    if link:
        return urljoin(page_url, link["href"])
    token = next((value for key, value in cookies.items() if key.startswith("download_warning")), None)
    if token:
        return f"{page_url}{'&' if '?' in page_url else '?'}{urlencode({'confirm': token})}"
    return None


def _is_web_page(response: requests.Response) -> bool:
    return response.status_code in (200, 206) and response.headers.get("Content-Type", "").startswith("text/html")


def _open(session: requests.Session, url: str, offset: int, settings: DownloadSettings) -> requests.Response:
    """GET `url` from byte `offset`, following confirmation pages to the file itself."""
    for _ in range(MAX_CONFIRMATION_PAGES + 1):
        headers = {"Range": f"bytes={offset}-"} if offset else {}
        response = session.get(url, headers=headers, stream=True, timeout=settings.timeout)
        if not _is_web_page(response):
            return response
        with response:
            page = next(response.iter_content(MAX_PAGE_BYTES), b"").decode("utf-8", "replace")
        next_url = confirmation_url(page, response.url, session.cookies.get_dict())
        if next_url is None:
            raise _HostFailed("answered with a web page, not the file")
        if urlsplit(next_url).scheme not in WEB_SCHEMES:
            raise _HostFailed(f"a confirmation page leads to {_host(next_url)}; only http(s) links are followed")
        url = next_url
    raise _HostFailed(f"answered with more than {MAX_CONFIRMATION_PAGES} confirmation pages")


def _content_range(header: str | None) -> tuple[int | None, int | None]:
    """Start and total size from a `Content-Range: bytes a-b/total` (or `bytes */total`) header."""
    match = re.fullmatch(r"bytes (?:(\d+)-\d+|\*)/(\d+|\*)", (header or "").strip())
    if not match:
        return None, None
    start, total = match.groups()
    return (int(start) if start else None), (int(total) if total and total != "*" else None)


def _write_body(
    response: requests.Response, partial: Path, mode: str, offset: int, name: str, settings: DownloadSettings
) -> int | None:
    """Stream the body into `partial` (appending or from scratch); a short body is _Transient. The announced size."""
    length = response.headers.get("Content-Length")
    total = offset + int(length) if length and length.isdigit() else None
    written = 0
    with (
        open(partial, mode) as handle,
        tqdm(
            total=total,
            initial=offset,
            unit="B",
            unit_scale=True,
            unit_divisor=1024,
            desc=name,
            disable=not settings.progress,
        ) as bar,
    ):
        try:
            for block in response.iter_content(settings.block_size):
                handle.write(block)
                written += len(block)
                bar.update(len(block))
        except requests.RequestException as error:
            raise _Transient(f"connection lost after {offset + written} bytes ({type(error).__name__})") from error
    if total is not None and offset + written < total:
        raise _Transient(f"connection closed after {offset + written} of {total} bytes")
    return total


def _attempt(session: requests.Session, url: str, partial: Path, name: str, settings: DownloadSettings) -> int | None:
    """One GET of `url` into `partial`, resumed with a Range request where it has bytes; the size the host announced."""
    offset = _size(partial)
    try:
        response = _open(session, url, offset, settings)
    except requests.Timeout as error:
        raise _Transient(f"no answer within {settings.timeout:g} s") from error
    except requests.ConnectionError as error:
        raise _Transient(f"could not connect ({type(error).__name__})") from error
    except requests.RequestException as error:
        raise _HostFailed(f"{type(error).__name__}: {error}") from error
    with response:
        status = response.status_code
        if status == 416 and offset:
            if _content_range(response.headers.get("Content-Range"))[1] == offset:
                return offset
            partial.unlink()
            raise _Transient("the server refused to resume the partial file; restarting from the beginning")
        if status >= 500 or status in (408, 429):
            raise _Transient(f"HTTP {status} {response.reason}")
        if status >= 400:
            raise _HostFailed(f"HTTP {status} {response.reason}")
        mode, announced = "ab", None
        if status == 206:
            start, announced = _content_range(response.headers.get("Content-Range"))
            if start != offset:
                partial.unlink()
                raise _Transient(f"the server resumed at byte {start}, not {offset}; restarting from the beginning")
        elif offset:
            log.warning("%s: %s ignores Range requests; restarting from the beginning", name, _host(url))
            mode, offset = "wb", 0
        total = _write_body(response, partial, mode, offset, name, settings)
        return announced if announced is not None else total


def _fetch_from_host(
    session: requests.Session, url: str, partial: Path, name: str, settings: DownloadSettings
) -> int | None:
    """Fetch `url` into `partial`, retrying transient failures with doubling pauses, bounded in count and time; the
    size the host announced, if it did."""
    deadline = time.monotonic() + settings.host_time_limit
    failures, pause = 0, settings.backoff
    while True:
        before = _size(partial)
        try:
            return _attempt(session, url, partial, name, settings)
        except _Transient as problem:
            if _size(partial) > before:
                failures, pause = 0, settings.backoff
            failures += 1
            if failures >= settings.attempts or time.monotonic() + pause > deadline:
                raise _HostFailed(f"{problem} ({failures} attempt{'s' if failures > 1 else ''})") from problem
            log.warning(
                "%s: %s from %s; retrying in %g s (resuming at byte %d)",
                name,
                problem,
                _host(url),
                pause,
                _size(partial),
            )
            time.sleep(pause)
            pause = min(2 * pause, settings.max_backoff)


def _digests(path: Path, settings: DownloadSettings, desc: str = "") -> tuple[str, str]:
    """The md5 and sha256 of a downloaded file, in one pass with a progress bar."""
    md5, sha256 = file_digests(
        path, ("md5", "sha256"), settings.block_size, f"checking {desc or path.name}" if settings.progress else None
    )
    return md5, sha256


def content_problem(path: Path, name: str) -> str | None:
    """What shows a file is not the published one, whatever its checksum: a web page, or (by its name) a ZIP whose
    central directory or CRCs fail, or an HDF5 file that does not open; None when none of these."""
    with open(path, "rb") as handle:
        if handle.read(1024).lstrip().lower().startswith(HTML_STARTS):
            return "the body is a web page (HTML), not the file"
    suffix = path.suffix if path.suffix != ".partial" else Path(name).suffix
    if suffix == ".zip":
        try:
            with zipfile.ZipFile(path) as archive:
                broken = archive.testzip()
        except (zipfile.BadZipFile, zlib.error, EOFError, OSError, NotImplementedError, RuntimeError) as error:
            return f"not a complete ZIP ({error})"
        if broken is not None:
            return f"ZIP member {broken!r} fails its CRC check"
    elif suffix == ".hdf5":
        import h5py

        try:
            h5py.File(path, "r").close()
        except OSError as error:
            return f"not a complete HDF5 file ({str(error).splitlines()[0]})"
    return None


def _verification_problem(
    partial: Path, name: str, md5: str | None, got_md5: str, announced: int | None
) -> tuple[str, str] | None:
    """Why a complete download is not the file (what, details): md5 mismatch where one is published, else a size
    other than the host announced, broken content, or (but for ZIP and HDF5) no size announced; None when it
    passes."""
    if md5:
        return None if got_md5 == md5 else ("md5 mismatch", f"expected {md5}, got {got_md5}")
    size = partial.stat().st_size
    if announced is not None and size != announced:
        return "size mismatch", f"the host announced {announced} bytes, got {size}"
    problem = content_problem(partial, name)
    if problem:
        return "content check failed", problem
    if announced is None and Path(name).suffix not in SELF_CHECKING:
        return "unverifiable", "no checksum is published and the host announced no size"
    return None


def fetch_file(
    urls: Sequence[str],
    path: str | os.PathLike,
    *,
    name: str | None = None,
    md5: str | None = None,
    checksum: str = "published md5",
    session: requests.Session | None = None,
    settings: DownloadSettings = DownloadSettings(),
) -> FetchResult:
    """Download the first URL that works to `path` via a resumable partial file, verified against `md5` if given."""
    path = Path(path)
    name = name or path.name
    if not urls:
        raise DownloadError(
            f"{name}: no host is known for this file. Give a mirror (--mirror URL or folder) "
            "or its Google Drive id (--drive-ids FILE with `name:id` lines)."
        )
    session = session or make_session()
    partial = partial_path(path)
    failures = []
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        for url in urls:
            retried_from_scratch = False
            while True:
                try:
                    announced = _fetch_from_host(session, url, partial, name, settings)
                except _HostFailed as problem:
                    failures.append(f"{_host(url)}: {problem}")
                    if url != urls[-1]:
                        log.warning("%s: %s failed (%s); trying the next host", name, _host(url), problem)
                    break
                got_md5, got_sha256 = _digests(partial, settings, name)
                problem = _verification_problem(partial, name, md5, got_md5, announced)
                if problem:
                    partial.unlink()
                    again = "" if retried_from_scratch else "; retrying once from scratch"
                    log.warning(
                        "%s: %s from %s (%s); deleted the partial download%s",
                        name,
                        problem[0],
                        _host(url),
                        problem[1],
                        again,
                    )
                    if not retried_from_scratch:
                        retried_from_scratch = True
                        continue
                    failures.append(f"{_host(url)}: {problem[0]} twice ({problem[1]})")
                    break
                os.replace(partial, path)
                return FetchResult(
                    name,
                    path,
                    path.stat().st_size,
                    got_md5,
                    got_sha256,
                    checksum if md5 else "none published",
                    bool(md5),
                    "downloaded",
                )
    except OSError as error:  # network errors became _Transient or _HostFailed above: this is the disk
        with contextlib.suppress(OSError):
            partial.unlink(missing_ok=True)
        raise DownloadError(_write_failure(name, path.parent, error)) from error
    hint = " (a partial file is kept and will be resumed)" if partial.exists() else ""
    raise DownloadError(
        f"{name}: could not be downloaded from any of {len(urls)} host(s){hint}:\n  " + "\n  ".join(failures)
    )


def read_manifest(root: str | os.PathLike) -> dict[str, dict]:
    """The download manifest of a root: per file its size, digests and what it was verified against."""
    path = Path(root) / MANIFEST_NAME
    if not path.is_file():
        return {}
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise ValueError(
            f"{path}: not valid JSON ({error}); delete it and run again (present files are re-hashed)"
        ) from error


def _record(result: FetchResult, root: Path) -> dict:
    stat = result.path.stat()
    return {
        "path": result.path.relative_to(root).as_posix(),
        "size": stat.st_size,
        "mtime_ns": stat.st_mtime_ns,
        "md5": result.md5,
        "sha256": result.sha256,
        "checksum": result.checksum,
        "verified": result.verified,
    }


def _present(
    entry: CatalogEntry,
    root: Path,
    md5: str | None,
    checksum: str,
    manifest: Mapping[str, dict],
    settings: DownloadSettings,
) -> FetchResult | None:
    """The file already at its destination if it is complete (matching md5 where known), else None."""
    path = entry.path(root)
    if not path.is_file():
        return None
    stat, record = path.stat(), manifest.get(entry.name, {})
    if record.get("size") == stat.st_size and record.get("mtime_ns") == stat.st_mtime_ns:
        got_md5, got_sha256 = record["md5"], record["sha256"]
    else:
        got_md5, got_sha256 = _digests(path, settings, entry.name)
        problem = None if md5 else content_problem(path, entry.name)
        if problem:
            log.warning("%s: the present file fails its check (%s); downloading it again", entry.name, problem)
            return None
    if md5 and got_md5 != md5:
        log.warning("%s: the present file's md5 is %s, not %s; downloading it again", entry.name, got_md5, md5)
        return None
    return FetchResult(
        entry.name, path, stat.st_size, got_md5, got_sha256, checksum if md5 else "none published", bool(md5), "present"
    )


@contextlib.contextmanager
def download_lock(path: Path, name: str) -> Iterator[None]:
    """Hold `.<name>.lock` beside `path` while the block runs; a second download of the same file waits, saying so."""
    lock = FileLock(path.with_name(f".{path.name}.lock"))
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            lock.acquire(timeout=0)
        except Timeout:
            log.warning(
                "%s: another download of this file is running (it holds %s); waiting for it", name, lock.lock_file
            )
            lock.acquire()
    except OSError as error:
        raise DownloadError(_write_failure(name, path.parent, error)) from error
    try:
        yield
    finally:
        lock.release()


def _write_failure(name: str, folder: Path, error: OSError) -> str:
    """The one-line message for a download that could not be written (full disk, read-only or forbidden folder)."""
    return (
        f"{name}: could not write in {folder} ({error.strerror or error}). "
        "Free some space or fix the folder's permissions, then run again."
    )


def parse_md5sums(text: str) -> dict[str, str]:
    """File name -> md5 from `md5sum` output (`<md5>  <name>` or `<md5> *<name>` lines)."""
    sums = {}
    for line in text.splitlines():
        match = re.fullmatch(r"([0-9a-fA-F]{32}) [ *](.+)", line.strip())
        if match:
            sums[Path(match[2].strip()).name] = match[1].lower()
    return sums


def mirror_checksums(
    mirror: str, session: requests.Session | None = None, settings: DownloadSettings = DownloadSettings()
) -> dict[str, str] | None:
    """The mirror's own `md5sums.txt` as name -> md5, or None where it has none."""
    session = session or make_session()
    try:
        with session.get(f"{mirror.rstrip('/')}/{CHECKSUMS_NAME}", timeout=settings.timeout) as response:
            if response.status_code != 200:
                return None
            return parse_md5sums(response.text)
    except requests.RequestException as error:
        log.warning("%s: could not read %s (%s); using the published checksums", _host(mirror), CHECKSUMS_NAME, error)
        return None


def check_a_host_answers(urls: Sequence[str], settings: DownloadSettings) -> None:
    """Refuse at once, before the patient retries, when none of the web hosts of `urls` accepts a connection; a mirror
    on disk (a file:// URL) is never probed."""
    hosts = {urlsplit(url).netloc: url for url in urls}
    if not hosts or any(urlsplit(url).scheme not in WEB_SCHEMES for url in urls):
        return
    timeout = min(HOST_TIMEOUT_SECONDS, settings.timeout)
    with ThreadPoolExecutor(len(hosts)) as pool:
        if any(pool.map(partial(host_answers, timeout=timeout), hosts.values())):
            return
    raise DownloadError(
        f"no host answers ({', '.join(hosts)}: no connection within {timeout:g} s); connect to the network, or give "
        "--mirror URL or folder"
    )


def download(
    entries: Iterable[CatalogEntry],
    root: str | os.PathLike,
    *,
    mirror: str | None = None,
    checksums: Mapping[str, str] | None = None,
    session: requests.Session | None = None,
    settings: DownloadSettings = DownloadSettings(),
) -> list[FetchResult]:
    """Fetch each entry to its place under `root` (skipping present, verified ones) and record it in the manifest."""
    root = Path(root)
    entries = list(entries)
    if any(not entry.path(root).is_file() for entry in entries):
        check_a_host_answers([url for entry in entries for url in entry.urls(mirror)], settings)
    session = session or make_session()
    manifest = read_manifest(root)
    results, errors = [], []
    for entry in entries:
        if checksums and entry.name in checksums:
            md5, checksum = checksums[entry.name], "mirror md5sums.txt"
        else:
            md5, checksum = entry.md5, "published md5"
        try:
            with download_lock(entry.path(root), entry.name):
                result = _present(entry, root, md5, checksum, manifest, settings) or fetch_file(
                    entry.urls(mirror),
                    entry.path(root),
                    name=entry.name,
                    md5=md5,
                    checksum=checksum,
                    session=session,
                    settings=settings,
                )
        except DownloadError as error:
            errors.append(str(error))
            continue
        log.info(
            "%s: %s (%d bytes, %s)",
            entry.name,
            result.action,
            result.size,
            "md5 verified" if result.verified else "sha256 recorded",
        )
        manifest[entry.name] = _record(result, root)
        try:
            write_text_atomic(root / MANIFEST_NAME, json.dumps(manifest, indent=1, sort_keys=True) + "\n")
        except OSError as error:
            raise DownloadError(_write_failure(MANIFEST_NAME, root, error)) from error
        results.append(result)
    if errors:
        raise DownloadError(f"{len(errors)} file(s) failed:\n" + "\n".join(errors))
    return results


def download_files(
    names: Iterable[str],
    root: str | os.PathLike,
    *,
    mirror: str | None = None,
    all_metadata: bool = False,
    package: str | None = None,
    file_format: str = "zip",
    parts: Iterable[int] | None = None,
    drive_ids: Mapping[str, str] | None = None,
    settings: DownloadSettings = DownloadSettings(),
) -> list[FetchResult]:
    """Select published files by name (wildcards match what a mirror lists), download and verify them under `root`."""
    with make_session() as session:  # closing it ends kept-alive connections, so a loopback server stops cleanly
        if mirror:
            check_a_host_answers([mirror], settings)  # before its md5sums.txt is asked for
        checksums = mirror_checksums(mirror, session, settings) if mirror else None
        entries = select_files(
            names, all_metadata=all_metadata, package=package, file_format=file_format, parts=parts, available=checksums
        )
        if drive_ids:
            entries = with_drive_ids(entries, drive_ids)
        return download(entries, root, mirror=mirror, checksums=checksums, session=session, settings=settings)


def download_status(results: Iterable[FetchResult]) -> pd.DataFrame:
    """One row per file: its name, size in bytes, whether its md5 verified, and what it was checked against."""
    rows = [{"file": r.name, "size": r.size, "verified": r.verified, "checksum": r.checksum} for r in results]
    return pd.DataFrame(rows, columns=["file", "size", "verified", "checksum"])


class _LoopbackServer(http.server.ThreadingHTTPServer):
    """A threaded HTTP server that answers 503 after `max_requests` requests."""

    daemon_threads = True
    block_on_close = False

    def __init__(self, handler: type, max_requests: int):
        super().__init__(("127.0.0.1", 0), handler)
        self.remaining = max_requests
        self.lock = threading.Lock()

    def take_request(self) -> bool:
        with self.lock:
            self.remaining -= 1
            return self.remaining >= 0


class _QuietFolderHandler(http.server.SimpleHTTPRequestHandler):
    """Serves a folder without logging each request, within the server's request budget and a socket timeout."""

    timeout = 60

    def log_message(self, format: str, *args) -> None:
        pass

    def do_GET(self) -> None:
        if self.server.take_request():
            super().do_GET()
        else:
            self.send_error(503, "request budget of this loopback server spent")


@contextlib.contextmanager
def serve_folder(folder: str | os.PathLike, max_requests: int = 10_000) -> Iterator[str]:
    """Serve `folder` over HTTP on 127.0.0.1 at a free port while the block runs; yield its base URL."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: no release folder to serve; make the sample with `bioscan-repro sample`")
    server = _LoopbackServer(partial(_QuietFolderHandler, directory=str(folder)), max_requests)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


@contextlib.contextmanager
def mirror_url(mirror: str | None, base: str | os.PathLike) -> Iterator[str | None]:
    """A mirror's base URL: None (the real hosts), a URL as given, a local folder as `file://`, or `loopback:<folder>`
    (a folder under `base` served on 127.0.0.1 while the block runs)."""
    if mirror and mirror.startswith(LOOPBACK_PREFIX):
        with serve_folder(Path(base) / mirror[len(LOOPBACK_PREFIX) :]) as url:
            yield url
    elif mirror and not re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*://", mirror):
        yield (Path(base) / mirror).resolve().as_uri()
    else:
        yield mirror
