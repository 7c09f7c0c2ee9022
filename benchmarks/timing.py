"""Timing shared by the benchmarks: the best of repeated calls."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

Result = TypeVar("Result")


def best_time(function: Callable[[], Result], repeats: int) -> tuple[float, Result]:
    """The fastest of `repeats` calls and the last result."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        result = function()
        times.append(time.perf_counter() - start)
    return min(times), result
