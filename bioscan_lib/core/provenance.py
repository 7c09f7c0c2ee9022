"""Where a run's numbers come from: the suite's commit, the processor and the accelerator."""

from __future__ import annotations

import platform
import subprocess
from pathlib import Path

from bioscan_lib.core.paths import project_root

UNKNOWN_COMMIT = "unknown (not a git checkout)"


def processor() -> str:
    """The processor's model name (Linux), else the machine type."""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def _git(*arguments: str) -> str | None:
    try:
        done = subprocess.run(
            ["git", "-C", str(project_root()), *arguments], capture_output=True, text=True, timeout=10, check=True
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip()


def source_commit() -> str:
    """The suite's git commit, and whether the working tree held changes not committed."""
    commit = _git("rev-parse", "--short=12", "HEAD")
    if commit is None:
        return UNKNOWN_COMMIT
    changes = _git("status", "--porcelain")
    return f"{commit} ({'clean' if changes == '' else 'with changes not committed'})"
