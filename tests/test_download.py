"""Downloads against a loopback HTTP server with injected faults: each case checks outcome, message and final path."""

from __future__ import annotations

import errno
import hashlib
import http.server
import io
import logging
import random
import threading
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import h5py
import numpy as np
import pytest
from filelock import FileLock

from bioscan_lib import cli
from bioscan_lib.data.bioscan1m import METADATA_NAME
from bioscan_lib.download import fetch as download
from bioscan_lib.download.catalog import lookup
from bioscan_lib.download.fetch import DownloadError, DownloadSettings, fetch_file, partial_path

FAST = DownloadSettings(
    timeout=2.0, attempts=3, backoff=0.01, max_backoff=0.02, host_time_limit=10.0, block_size=4096, progress=False
)
BODY = random.Random(7).randbytes(200_000)
BODY_MD5 = hashlib.md5(BODY).hexdigest()


def _zip_bytes(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


ZIP_BODY = _zip_bytes(
    {f"bioscan/images/original_full/part1/{n}.jpg": BODY[n * 1000 : n * 1000 + 40_000] for n in range(5)}
)


@dataclass
class Route:
    """What the fault server answers on one path."""

    body: bytes = BODY
    ranges: bool = True  # honour Range requests with 206
    drops: int = 0  # this many answers close the connection after `drop_after` bytes
    drop_after: int = 60_000
    corrupt: int = 0  # this many answers carry one flipped byte
    status: int = 200
    delay: float = 0.0  # seconds before answering
    content_type: str = "application/octet-stream"
    length: bool = True  # send Content-Length
    splice: bool = False  # answer a Range request with the right headers but the bytes from the start
    location: str | None = None  # answer 302 to this URL


@dataclass
class Seen:
    """One request as the server saw it, with the state of the client's files at that moment."""

    path: str
    query: dict
    range: str | None
    final_exists: bool
    partial_size: int


@dataclass
class FaultServer:
    """A loopback HTTP server with scripted faults, recording every request."""

    routes: dict[str, Route] = field(default_factory=dict)
    seen: list[Seen] = field(default_factory=list)
    watched: Path | None = None  # the client's final path, to record what exists while requests arrive

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.httpd.server_port}{path}"


class FaultHandler(http.server.BaseHTTPRequestHandler):
    timeout = 5

    def log_message(self, format: str, *args) -> None:
        pass

    def do_GET(self) -> None:
        state: FaultServer = self.server.state
        parts = urlsplit(self.path)
        watched = state.watched
        state.seen.append(
            Seen(
                parts.path,
                parse_qs(parts.query),
                self.headers.get("Range"),
                bool(watched and watched.exists()),
                partial_path(watched).stat().st_size if watched and partial_path(watched).exists() else 0,
            )
        )
        route = state.routes.get(parts.path)
        if route is not None and route.location:
            self.send_response(302)
            self.send_header("Location", route.location)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if route is None or route.status != 200:
            self.send_error(404 if route is None else route.status)
            return
        time.sleep(route.delay)
        body = route.body
        if route.corrupt:
            route.corrupt -= 1
            body = body[:1000] + bytes([body[1000] ^ 0xFF]) + body[1001:]
        start = 0
        if route.ranges and self.headers.get("Range", "").startswith("bytes="):
            start = int(self.headers["Range"][6:].split("-")[0])
        self.send_response(206 if start else 200)
        if start:
            self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
        self.send_header("Content-Type", route.content_type)
        if route.length:
            self.send_header("Content-Length", str(len(body) - start))
        else:
            self.close_connection = True
        self.end_headers()
        payload = body[: len(body) - start] if route.splice else body[start:]
        if route.drops:
            route.drops -= 1
            payload = payload[: route.drop_after]
            self.close_connection = True
        try:
            self.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up first (timeout, write error): that is the scenario under test


@pytest.fixture
def server():
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), FaultHandler)
    httpd.daemon_threads, httpd.block_on_close = True, False
    state = FaultServer()
    state.httpd, httpd.state = httpd, state
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield state
    httpd.shutdown()
    httpd.server_close()
    thread.join(timeout=5)


def test_dropped_connection_is_resumed_with_a_range_request(server, tmp_path, caplog):
    final = tmp_path / "file.zip"
    server.watched = final
    server.routes["/file.zip"] = Route(drops=1)
    result = fetch_file([server.url("/file.zip")], final, md5=BODY_MD5, settings=FAST)
    assert final.read_bytes() == BODY and result.verified and result.action == "downloaded"
    first, second = server.seen
    assert first.range is None
    assert second.range == f"bytes={second.partial_size}-" and 0 < second.partial_size <= 60_000
    assert not second.final_exists  # while incomplete, nothing is at the final path
    assert not partial_path(final).exists()
    assert "connection" in caplog.text and "resuming at byte" in caplog.text


def test_partial_file_from_an_earlier_run_is_resumed(server, tmp_path):
    final = tmp_path / "file.zip"
    partial_path(final).write_bytes(BODY[:50_000])
    server.routes["/file.zip"] = Route()
    fetch_file([server.url("/file.zip")], final, md5=BODY_MD5, settings=FAST)
    assert [seen.range for seen in server.seen] == ["bytes=50000-"]
    assert final.read_bytes() == BODY


def test_server_without_range_support_restarts_from_the_beginning(server, tmp_path, caplog):
    final = tmp_path / "file.zip"
    partial_path(final).write_bytes(b"stale bytes that must not survive")
    server.routes["/file.zip"] = Route(ranges=False)
    result = fetch_file([server.url("/file.zip")], final, md5=BODY_MD5, settings=FAST)
    assert final.read_bytes() == BODY and result.verified
    assert "ignores Range requests; restarting from the beginning" in caplog.text


def test_flipped_bytes_are_detected_and_retried_once_from_scratch(server, tmp_path, caplog):
    final = tmp_path / "file.zip"
    server.routes["/file.zip"] = Route(corrupt=1)
    result = fetch_file([server.url("/file.zip")], final, md5=BODY_MD5, settings=FAST)
    assert final.read_bytes() == BODY and result.verified
    assert "md5 mismatch" in caplog.text and "retrying once from scratch" in caplog.text
    assert [seen.range for seen in server.seen] == [None, None]


def test_flipped_bytes_twice_fail_without_leaving_a_file(server, tmp_path):
    final = tmp_path / "file.zip"
    server.routes["/file.zip"] = Route(corrupt=2)
    with pytest.raises(DownloadError, match="file.zip.*md5 mismatch twice") as failure:
        fetch_file([server.url("/file.zip")], final, md5=BODY_MD5, settings=FAST)
    assert BODY_MD5 in str(failure.value)
    assert not final.exists() and not partial_path(final).exists()


def test_404_on_the_first_host_then_the_second_host(server, tmp_path, caplog):
    final = tmp_path / "file.zip"
    server.routes["/second/file.zip"] = Route()
    result = fetch_file(
        [server.url("/first/file.zip"), server.url("/second/file.zip")], final, md5=BODY_MD5, settings=FAST
    )
    assert final.read_bytes() == BODY and result.verified
    assert [seen.path for seen in server.seen] == ["/first/file.zip", "/second/file.zip"]
    assert "HTTP 404" in caplog.text and "trying the next host" in caplog.text


def test_unreachable_hosts_give_one_message_naming_the_file_and_every_host(server, tmp_path):
    final = tmp_path / "file.zip"
    closed = http.server.HTTPServer(("127.0.0.1", 0), FaultHandler)
    dead_url = f"http://127.0.0.1:{closed.server_port}/file.zip"
    closed.server_close()
    with pytest.raises(DownloadError) as failure:
        fetch_file([server.url("/gone/file.zip"), dead_url], final, settings=FAST)
    message = str(failure.value)
    assert message.startswith("file.zip: could not be downloaded from any of 2 host(s)")
    assert "/gone/file.zip: HTTP 404" in message and f"{dead_url}: could not connect" in message
    assert not final.exists()


def test_slow_server_hits_the_timeout(server, tmp_path):
    final = tmp_path / "file.zip"
    server.routes["/file.zip"] = Route(delay=1.5)
    settings = DownloadSettings(timeout=0.2, attempts=2, backoff=0.01, host_time_limit=5.0, progress=False)
    started = time.monotonic()
    with pytest.raises(DownloadError, match=r"file.zip.*no answer within 0.2 s \(2 attempts\)"):
        fetch_file([server.url("/file.zip")], final, md5=BODY_MD5, settings=settings)
    assert time.monotonic() - started < 1.4
    assert not final.exists() and not partial_path(final).exists()


def test_disk_full_stops_with_a_clear_message_and_no_file(server, tmp_path, monkeypatch):
    final = tmp_path / "file.zip"
    server.routes["/file.zip"] = Route()

    class FullDisk:
        def __init__(self, handle):
            self.handle = handle

        def write(self, data: bytes) -> int:
            raise OSError(errno.ENOSPC, "No space left on device")

        def __enter__(self):
            return self

        def __exit__(self, *exception) -> None:
            self.handle.close()

    def open_on_full_disk(path, mode="r", *args, **kwargs):
        handle = open(path, mode, *args, **kwargs)
        return FullDisk(handle) if set(mode) & set("wa") else handle

    monkeypatch.setattr(download, "open", open_on_full_disk, raising=False)
    with pytest.raises(DownloadError, match="file.zip: could not write.*No space left on device.*Free some space"):
        fetch_file([server.url("/file.zip"), server.url("/other/file.zip")], final, md5=BODY_MD5, settings=FAST)
    assert not final.exists() and not partial_path(final).exists()
    assert len(server.seen) == 1  # a full disk is not a host's fault: no other host is tried


CONFIRMATION_PAGE = """<html><body><p>File is too large for Google Drive to scan for viruses.</p>
<form id="download-form" action="/download" method="get">
<input type="hidden" name="id" value="abc"><input type="hidden" name="export" value="download">
<input type="hidden" name="confirm" value="t"><input type="submit" value="Download anyway"></form></body></html>"""


def test_google_drive_confirmation_page_is_followed(server, tmp_path):
    final = tmp_path / "file.zip"
    server.routes["/uc"] = Route(body=CONFIRMATION_PAGE.encode(), content_type="text/html; charset=utf-8")
    server.routes["/download"] = Route()
    result = fetch_file([server.url("/uc?export=download&id=abc")], final, md5=BODY_MD5, settings=FAST)
    assert final.read_bytes() == BODY and result.verified
    assert [seen.path for seen in server.seen] == ["/uc", "/download"]
    assert server.seen[1].query == {"id": ["abc"], "export": ["download"], "confirm": ["t"]}


def test_web_page_instead_of_the_file_moves_on(server, tmp_path):
    final = tmp_path / "file.zip"
    server.routes["/login"] = Route(body=b"<html><body>Sign in</body></html>", content_type="text/html")
    with pytest.raises(DownloadError, match="/login: answered with a web page, not the file"):
        fetch_file([server.url("/login")], final, settings=FAST)
    assert not final.exists()


def test_file_url_goes_through_the_same_code(tmp_path, caplog):
    source = tmp_path / "mirror" / "file.zip"
    source.parent.mkdir()
    source.write_bytes(BODY)
    final = tmp_path / "root" / "file.zip"
    partial_path(final).parent.mkdir()
    partial_path(final).write_bytes(BODY[:10])
    result = fetch_file([source.as_uri()], final, md5=BODY_MD5, settings=FAST)
    assert final.read_bytes() == BODY and result.verified
    assert "ignores Range requests" in caplog.text  # file:// answers the whole file, so the partial is restarted


def test_unknown_checksum_records_sha256(server, tmp_path):
    final = tmp_path / "file.zip"
    server.routes["/file.zip"] = Route(body=ZIP_BODY)
    result = fetch_file([server.url("/file.zip")], final, settings=FAST)
    assert not result.verified and result.checksum == "none published"
    assert result.sha256 == hashlib.sha256(ZIP_BODY).hexdigest()


def _release(folder: Path, files: dict[str, bytes], with_checksums: bool = True) -> None:
    folder.mkdir(parents=True)
    for name, data in files.items():
        (folder / name).write_bytes(data)
    if with_checksums:
        lines = [f"{hashlib.md5(data).hexdigest()}  {name}" for name, data in files.items()]
        (folder / download.CHECKSUMS_NAME).write_text("\n".join(lines) + "\n")


def test_loopback_mirror_checksums_override_the_catalog_and_present_files_are_skipped(tmp_path):
    tsv = b"processid\tsampleid\n" + BODY[:1000].hex().encode()
    parts = {f"bioscan_images_original_full_part{n}.zip": BODY[n : n + 5000] for n in (1, 2)}
    _release(tmp_path / "data" / "release", {METADATA_NAME: tsv, **parts})
    root = tmp_path / "root"
    names = [METADATA_NAME, "bioscan_images_original_full_part*.zip"]
    with download.mirror_url("loopback:release", tmp_path / "data") as mirror:
        assert mirror.startswith("http://127.0.0.1:")
        first = download.download_files(names, root, mirror=mirror, settings=FAST)
        second = download.download_files(names, root, mirror=mirror, settings=FAST)
    assert [r.name for r in first] == [METADATA_NAME, *parts]
    assert all(r.verified and r.checksum == "mirror md5sums.txt" for r in first)
    assert lookup(METADATA_NAME).path(root).read_bytes() == tsv
    assert [r.action for r in first] == ["downloaded"] * 3 and [r.action for r in second] == ["present"] * 3
    manifest = download.read_manifest(root)
    assert manifest[METADATA_NAME]["path"] == f"bioscan1m/{METADATA_NAME}"
    assert manifest[METADATA_NAME]["md5"] == hashlib.md5(tsv).hexdigest()
    status = download.download_status(second)
    assert status.columns.tolist() == ["file", "size", "verified", "checksum"]
    assert status["size"].tolist() == [len(tsv), 5000, 5000]


def test_mirror_without_checksums_is_held_to_the_published_md5(tmp_path):
    _release(tmp_path / "release", {METADATA_NAME: b"not the published metadata"}, with_checksums=False)
    root = tmp_path / "root"
    with pytest.raises(DownloadError, match=f"{METADATA_NAME}.*md5 mismatch twice"):
        download.download_files([METADATA_NAME], root, mirror=(tmp_path / "release").as_uri(), settings=FAST)
    assert not lookup(METADATA_NAME).path(root).exists()


def test_a_present_file_with_the_wrong_md5_is_downloaded_again(tmp_path, caplog):
    _release(tmp_path / "release", {"original_256.zip": BODY})
    root = tmp_path / "root"
    (root / "original_256.zip").parent.mkdir()
    (root / "original_256.zip").write_bytes(b"truncated")
    [result] = download.download_files(
        ["original_256.zip"], root, mirror=(tmp_path / "release").as_uri(), settings=FAST
    )
    assert result.action == "downloaded" and (root / "original_256.zip").read_bytes() == BODY
    assert "downloading it again" in caplog.text


def test_no_known_host_names_the_remedies(tmp_path):
    entry = lookup("bioscan_images_cropped_full_part7.zip")
    with pytest.raises(DownloadError, match="part7.zip: no host is known.*--mirror.*--drive-ids"):
        download.download([entry], tmp_path, settings=FAST)


def test_serve_folder_stops_answering_after_its_request_budget(tmp_path):
    (tmp_path / "a.txt").write_text("a")
    session = download.make_session()
    with download.serve_folder(tmp_path, max_requests=1) as url:
        assert session.get(f"{url}/a.txt", timeout=5).text == "a"
        assert session.get(f"{url}/a.txt", timeout=5).status_code == 503
    with pytest.raises(FileNotFoundError, match="no release folder"):
        with download.serve_folder(tmp_path / "missing"):
            pass


def test_cli_downloads_from_a_folder_mirror(tmp_path, capsys, caplog):
    caplog.set_level(logging.INFO)
    _release(tmp_path / "release", {"cropped_256.zip": BODY})
    arguments = cli.build_parser().parse_args(
        [
            "download",
            "--package",
            "cropped_256",
            "--root",
            str(tmp_path / "root"),
            "--mirror",
            str(tmp_path / "release"),
            "--attempts",
            "2",
        ]
    )
    assert arguments.handler(arguments) == 0
    assert "cropped_256.zip" in capsys.readouterr().out
    assert (tmp_path / "root" / "cropped_256.zip").read_bytes() == BODY


def test_truncated_zip_without_a_length_never_reaches_the_final_path(server, tmp_path):
    final = tmp_path / "file.zip"
    server.routes["/file.zip"] = Route(body=ZIP_BODY, length=False, drops=2, drop_after=len(ZIP_BODY) // 2)
    with pytest.raises(DownloadError, match="file.zip.*content check failed twice.*not a complete ZIP"):
        fetch_file([server.url("/file.zip")], final, settings=FAST)
    assert not final.exists() and not partial_path(final).exists()


@pytest.mark.parametrize("name", ["file.zip", "file.tsv", "file.hdf5"])
def test_a_web_page_served_as_binary_is_never_accepted(server, tmp_path, name):
    final = tmp_path / name
    page = b"<!DOCTYPE html>\n<html><body>Quota exceeded</body></html>"
    server.routes[f"/{name}"] = Route(body=page)
    with pytest.raises(DownloadError, match=f"{name}.*content check failed twice.*web page"):
        fetch_file([server.url(f"/{name}")], final, settings=FAST)
    assert not final.exists()


def test_a_body_spliced_at_the_wrong_range_offset_is_caught_and_refetched(server, tmp_path, caplog):
    final = tmp_path / "file.zip"
    partial_path(final).write_bytes(ZIP_BODY[:50_000])
    server.routes["/file.zip"] = Route(body=ZIP_BODY, splice=True)
    result = fetch_file([server.url("/file.zip")], final, settings=FAST)
    assert final.read_bytes() == ZIP_BODY and result.action == "downloaded"
    assert [seen.range for seen in server.seen] == ["bytes=50000-", None]
    assert "content check failed" in caplog.text and "retrying once from scratch" in caplog.text


def test_a_truncated_hdf5_file_is_refused(server, tmp_path):
    source = tmp_path / "source.hdf5"
    with h5py.File(source, "w") as handle:
        handle["images"] = np.arange(50_000, dtype=np.uint8)
    body = source.read_bytes()
    final = tmp_path / "file.hdf5"
    server.routes["/file.hdf5"] = Route(body=body, length=False, drops=2, drop_after=len(body) - 4000)
    with pytest.raises(DownloadError, match="file.hdf5.*not a complete HDF5 file"):
        fetch_file([server.url("/file.hdf5")], final, settings=FAST)
    assert not final.exists()
    server.routes["/file.hdf5"] = Route(body=body, length=False)
    assert fetch_file([server.url("/file.hdf5")], final, settings=FAST).size == len(body)


def test_a_size_other_than_announced_is_refused(server, tmp_path, monkeypatch):
    final = tmp_path / "file.zip"
    server.routes["/file.zip"] = Route(body=ZIP_BODY)
    write_body = download._write_body
    monkeypatch.setattr(download, "_write_body", lambda *args: write_body(*args) + 1)  # a host announcing 1 byte more
    with pytest.raises(DownloadError, match="size mismatch twice"):
        fetch_file([server.url("/file.zip")], final, settings=FAST)
    assert not final.exists()


def test_a_broken_present_file_is_not_reported_present(tmp_path, caplog):
    name = "bioscan_images_original_full_part1.zip"
    _release(tmp_path / "release", {name: ZIP_BODY}, with_checksums=False)
    root = tmp_path / "root"
    root.mkdir()
    (root / name).write_bytes(ZIP_BODY[:-100])
    [result] = download.download_files([name], root, mirror=(tmp_path / "release").as_uri(), settings=FAST)
    assert result.action == "downloaded" and (root / name).read_bytes() == ZIP_BODY
    assert "the present file fails its check" in caplog.text


@pytest.mark.parametrize("target", ["file:///etc/hostname", "ftp://127.0.0.1/file.zip"])
def test_a_redirect_away_from_http_is_refused_before_reading(server, tmp_path, target):
    final = tmp_path / "file.zip"
    server.routes["/file.zip"] = Route(location=target)
    with pytest.raises(DownloadError, match="only http\\(s\\) redirects are followed"):
        fetch_file([server.url("/file.zip")], final, settings=FAST)
    assert not final.exists() and not partial_path(final).exists()


def test_a_confirmation_page_leading_to_a_file_url_is_refused(server, tmp_path):
    final = tmp_path / "file.zip"
    page = b'<html><body><a href="file:///etc/hostname?confirm=t">Download anyway</a></body></html>'
    server.routes["/uc"] = Route(body=page, content_type="text/html")
    with pytest.raises(DownloadError, match="only http\\(s\\) links are followed"):
        fetch_file([server.url("/uc")], final, settings=FAST)


def test_a_second_download_of_the_same_file_waits_for_the_first(tmp_path, caplog):
    _release(tmp_path / "release", {"cropped_256.zip": BODY})
    root = tmp_path / "root"
    final = lookup("cropped_256.zip").path(root)
    final.parent.mkdir(parents=True)
    held = FileLock(final.with_name(f".{final.name}.lock"))
    held.acquire()
    results = []
    mirror = (tmp_path / "release").as_uri()
    worker = threading.Thread(
        target=lambda: results.extend(download.download_files(["cropped_256.zip"], root, mirror=mirror, settings=FAST))
    )
    worker.start()
    time.sleep(0.5)
    assert worker.is_alive() and not final.exists()
    assert "another download of this file is running" in caplog.text
    held.release()
    worker.join(timeout=10)
    assert [r.action for r in results] == ["downloaded"] and final.read_bytes() == BODY


@pytest.mark.parametrize(
    "error", [OSError(errno.EROFS, "Read-only file system"), OSError(errno.ENOSPC, "No space left on device")]
)
def test_a_folder_that_cannot_be_written_gives_one_line_from_the_cli(tmp_path, capsys, monkeypatch, error):
    _release(tmp_path / "release", {"cropped_256.zip": BODY})

    def refuse(*args, **kwargs):
        raise error

    monkeypatch.setattr(download.FileLock, "acquire", refuse)
    argv = ["download", "cropped_256.zip", "--root", str(tmp_path / "root"), "--mirror", str(tmp_path / "release")]
    assert cli.main(argv) == 1
    message = capsys.readouterr().err.strip().splitlines()
    assert message[-1].startswith("cropped_256.zip: could not write in") and error.strerror in message[-1]
    assert "Free some space or fix the folder's permissions" in message[-1]


def test_a_file_without_checksum_or_announced_size_is_not_accepted(server, tmp_path):
    final = tmp_path / "file.jsonld"
    server.routes["/file.jsonld"] = Route(body=b'{"@graph": []}', length=False)
    with pytest.raises(DownloadError, match="file.jsonld.*unverifiable twice.*announced no size"):
        fetch_file([server.url("/file.jsonld")], final, settings=FAST)
    assert not final.exists()
    server.routes["/file.jsonld"] = Route(body=b'{"@graph": []}')
    assert fetch_file([server.url("/file.jsonld")], final, settings=FAST).size == 14


def test_no_host_answering_is_said_at_once_without_the_retries(tmp_path, caplog):
    closed = http.server.HTTPServer(("127.0.0.1", 0), FaultHandler)
    dead = f"http://127.0.0.1:{closed.server_port}"
    closed.server_close()
    patient = DownloadSettings(progress=False)  # retrying would take half a minute
    with pytest.raises(DownloadError, match=rf"^no host answers \(127.0.0.1:{closed.server_port}: no connection"):
        download.download([lookup(METADATA_NAME)], tmp_path, mirror=dead, settings=patient)
    assert "retrying" not in caplog.text and not (tmp_path / "bioscan1m").exists()
    assert download.host_answers(dead) is False
