"""01 download: the catalog of published files, verified resumable downloads, safe extraction."""

import socket
import urllib.request
from dataclasses import dataclass
from urllib.parse import urlsplit

HOST_TIMEOUT_SECONDS = 5.0  # how long a host has to accept a connection before it counts as not answering


@dataclass(frozen=True)
class DownloadSettings:
    """How patient a download is: per-read timeout, retries with doubling pauses bounded in count and time, block size."""

    timeout: float = 60.0  # seconds to connect, and at most between two received blocks
    attempts: int = 5  # consecutive failed attempts on one host (an attempt that fetched bytes resets the count)
    backoff: float = 2.0  # first pause between attempts, doubled after each failure
    max_backoff: float = 120.0
    host_time_limit: float = 6 * 3600.0  # seconds spent on one host before giving up on it
    block_size: int = 1 << 20
    progress: bool = True


def host_answers(url: str, timeout: float = HOST_TIMEOUT_SECONDS) -> bool:
    """Whether a TCP connection to the URL's host, or to the proxy set for it, opens within `timeout` seconds."""
    parts = urlsplit(url)
    proxy = None if urllib.request.proxy_bypass(parts.hostname or "") else urllib.request.getproxies().get(parts.scheme)
    target = urlsplit(proxy if "://" in proxy else f"http://{proxy}") if proxy else parts
    port = target.port or (443 if target.scheme == "https" else 80)
    try:
        socket.create_connection((target.hostname, port), timeout).close()
    except OSError:
        return False
    return True
