"""pytest settings for the whole suite: nbval waits longer for a busy kernel's outputs."""
from __future__ import annotations

import pytest

# nbval gives up if a finished cell's outputs do not arrive within 5 s; a training cell's stream of
# progress-bar updates can take longer to drain on 2 busy cores.
NBVAL_OUTPUT_TIMEOUT = 120


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if hasattr(item, "output_timeout"):
            item.output_timeout = NBVAL_OUTPUT_TIMEOUT
