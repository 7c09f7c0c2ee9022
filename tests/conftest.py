"""Shared fixtures: a small generated sample release and the full-scale metadata, each made once per session."""
from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from bioscan_lib import sample

SMALL_RECORDS = 240


@pytest.fixture(scope="session")
def small_sample(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 240-record sample release (images at 240x180) in every published format."""
    return sample.generate_sample(tmp_path_factory.mktemp("sample"), records=SMALL_RECORDS, seed=7,
                                  image_size=(240, 180), chunk_length=100, workers=1)


@pytest.fixture(scope="session")
def full_scale_frame() -> pd.DataFrame:
    """The 1,128,313-row full-scale metadata (about 30 s to make)."""
    return sample.full_scale_metadata()
