"""01 download: the catalog of published files, verified resumable downloads, safe extraction."""

from dataclasses import dataclass


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
