"""The reproduction report: sections in the paper's order, embedded figures, tables, environment and parameters."""
from __future__ import annotations

import base64
import re
from pathlib import Path

import pandas as pd
import pytest
import yaml

from bioscan_lib import paths, report

PIXEL_PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==")


@pytest.fixture()
def run_outputs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A suite folder whose profile `tiny` has two tables, a figure and an executed notebook."""
    for folder in ("params", "notebooks", "outputs/tiny/tables", "outputs/tiny/figures", "outputs/tiny/notebooks"):
        (tmp_path / folder).mkdir(parents=True)
    (tmp_path / "params" / "tiny.yaml").write_text(yaml.safe_dump({"profile": "tiny", "output_dir": "outputs/tiny", "seed": 5}))
    out = tmp_path / "outputs" / "tiny"
    pd.DataFrame({"experiment": ["large_insect_order"], "train": [10]}).to_csv(out / "tables" / "split_sizes.csv", index=False)
    pd.DataFrame({"quantity": ["order categories"], "reproduced": [18], "published": [16], "difference": [2]}).to_csv(
        out / "tables" / "statistics_vs_published.csv", index=False)
    (out / "figures" / "class_distribution.png").write_bytes(PIXEL_PNG)
    (out / "notebooks" / "02_dataset_statistics.ipynb").write_text("{}")
    monkeypatch.setenv(paths.ROOT_ENVIRONMENT_VARIABLE, str(tmp_path))
    return out


def test_sections_follow_the_paper_and_skip_empty_ones(run_outputs: Path) -> None:
    sections = report.collect_sections(run_outputs)
    assert [s.title for s in sections] == ["Dataset statistics", "Data splits"]
    assert sections[0].notebook == "notebooks/02_dataset_statistics.ipynb" and sections[1].notebook is None
    assert [name for name, _ in sections[0].tables] == ["statistics_vs_published"]


def test_html_is_self_contained_and_markdown_links_figures(run_outputs: Path) -> None:
    html_path, markdown_path = report.write_report("tiny")
    html, markdown = html_path.read_text(), markdown_path.read_text()
    assert "data:image/png;base64," + base64.b64encode(PIXEL_PNG).decode() in html
    assert "<td>order categories</td>" in html and "large_insect_order" in html
    assert "![class_distribution](figures/class_distribution.png)" in markdown
    assert re.search(r"\| order categories\s+\|\s+18 \|\s+16 \|\s+2 \|", markdown)
    assert "| seed | 5 |" in markdown and "| torch |" in markdown
    assert markdown.index("Dataset statistics") < markdown.index("Data splits")
