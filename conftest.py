"""pytest settings for the whole suite: nbval waits longer for a busy kernel's outputs; the report's browser check
and the checks of the trained numbers run last, on what the notebooks nbval has just executed."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

# nbval gives up if a finished cell's outputs do not arrive within 5 s; a training cell's stream of
# progress-bar updates can take longer to drain on 2 busy cores.
NBVAL_OUTPUT_TIMEOUT = 120
RUNS_LAST = ("test_report_browser.py", "test_trained_numbers.py")  # on the outputs nbval has just made
EXECUTED_NOTEBOOKS = pytest.StashKey[set[str]]()


def pytest_configure(config: pytest.Config) -> None:
    config.stash[EXECUTED_NOTEBOOKS] = set()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if hasattr(item, "output_timeout"):
            item.output_timeout = NBVAL_OUTPUT_TIMEOUT
    items.sort(key=lambda item: Path(str(item.fspath)).name in RUNS_LAST)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    """Remember the numbered notebooks whose cells nbval executed in this session."""
    path = Path(str(item.fspath))
    if path.suffix == ".ipynb" and path.name[:2].isdigit():
        item.config.stash[EXECUTED_NOTEBOOKS].add(path.name[:2])
    return (yield)


@pytest.fixture(scope="session")
def executed_notebooks(request: pytest.FixtureRequest) -> set[str]:
    """Numbers of the notebooks nbval executed in this session (e.g. {"06", "07"})."""
    return request.config.stash[EXECUTED_NOTEBOOKS]
