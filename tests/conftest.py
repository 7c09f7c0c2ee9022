"""Shared fixtures: a small generated sample release and the full-scale metadata, each made once per session."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

from bioscan_lib.data.metadata import find_metadata, read_metadata
from bioscan_lib.sample import release as sample
from bioscan_lib.split import rules as split

SMALL_RECORDS = 240


@pytest.fixture(scope="session")
def small_sample(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 240-record sample release (images at 240x180) in every published format."""
    return sample.generate_sample(
        tmp_path_factory.mktemp("sample"),
        records=SMALL_RECORDS,
        seed=7,
        image_size=(240, 180),
        chunk_length=100,
        workers=1,
    )


@pytest.fixture(scope="session")
def full_scale_frame() -> pd.DataFrame:
    """The 1,128,313-row full-scale metadata (about 30 s to make)."""
    return sample.full_scale_metadata()


@pytest.fixture(scope="session")
def output_with_splits(small_sample: Path, tmp_path_factory: pytest.TempPathFactory) -> Callable[[], Path]:
    """Makes fresh output folders, each holding the small sample's six splits (computed once)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", split.SplitBudgetWarning)
        frame = split.make_splits(read_metadata(find_metadata(small_sample / "bioscan1m")), 7, 100, 40)

    def make() -> Path:
        out = tmp_path_factory.mktemp("out")
        split.write_split(frame, split.split_folder(out) / split.SPLIT_FILE_NAME)
        return out

    return make
