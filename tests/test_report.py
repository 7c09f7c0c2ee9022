"""The reproduction report: sections in the paper's order, embedded figures, tables, environment and parameters."""

from __future__ import annotations

import ast
import base64
import fnmatch
import json
import re
from pathlib import Path

import nbformat
import pandas as pd
import pytest
import yaml
from markupsafe import escape

from bioscan_lib.core import paths
from bioscan_lib.core.paths import project_root
from bioscan_lib.report import render as report

PIXEL_PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)


@pytest.fixture()
def run_outputs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A suite folder whose profile `tiny` has two tables, a figure and an executed notebook."""
    for folder in ("params", "notebooks", "outputs/tiny/tables", "outputs/tiny/figures", "outputs/tiny/notebooks"):
        (tmp_path / folder).mkdir(parents=True)
    (tmp_path / "params" / "tiny.yaml").write_text(
        yaml.safe_dump({"profile": "tiny", "data_root": "data/tiny", "output_dir": "outputs/tiny", "seed": 5})
    )
    out = tmp_path / "outputs" / "tiny"
    pd.DataFrame({"experiment": ["large_insect_order"], "train": [10]}).to_csv(
        out / "tables" / "split_sizes.csv", index=False
    )
    pd.DataFrame({"quantity": ["order categories"], "reproduced": [18], "published": [16], "difference": [2]}).to_csv(
        out / "tables" / "statistics_vs_published.csv", index=False
    )
    (out / "figures" / "class_distribution.png").write_bytes(PIXEL_PNG)
    (out / "notebooks" / "02_dataset_statistics.ipynb").write_text("{}")
    monkeypatch.setenv(paths.ROOT_ENVIRONMENT_VARIABLE, str(tmp_path))
    return out


def test_sections_follow_the_paper_and_skip_empty_ones(run_outputs: Path) -> None:
    sections = report.collect_sections(run_outputs)
    assert [s.title.split(":")[0] for s in sections] == ["Dataset statistics", "Data splits"]
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


def saved_names(notebook: Path) -> list[tuple[str, str]]:
    """(table or figure, name) of every save_table/save_figure call in a notebook; f-string fields become x."""
    found = []
    for cell in json.loads(notebook.read_text())["cells"]:
        if cell["cell_type"] != "code":
            continue
        for node in ast.walk(ast.parse("".join(cell["source"]))):
            called = getattr(node, "func", None)
            kind = getattr(called, "attr", getattr(called, "id", ""))
            if isinstance(node, ast.Call) and kind in ("save_table", "save_figure"):
                name = node.args[2]
                parts = name.values if isinstance(name, ast.JoinedStr) else [name]
                text = "".join(p.value if isinstance(p, ast.Constant) else "x" for p in parts)
                found.append((kind.removeprefix("save_"), text))
    return found


def test_every_table_and_figure_a_notebook_saves_has_a_place_in_the_report() -> None:
    """Renaming a table or figure in a notebook cannot silently drop it from the report."""
    patterns = {
        "table": [p for s in report.SECTIONS for p in s.tables],
        "figure": [p for s in report.SECTIONS for p in s.figures],
    }
    saved = [
        (nb.name, kind, name)
        for nb in sorted((project_root() / "notebooks").glob("[0-9][0-9]_*.ipynb"))
        for kind, name in saved_names(nb)
    ]
    assert len(saved) > 30
    lost = [item for item in saved if not any(fnmatch.fnmatch(item[2], p) for p in patterns[item[1]])]
    assert not lost, f"saved by a notebook but in no report section: {lost}"


def test_counts_print_as_integers_and_empty_tables_say_why(run_outputs: Path) -> None:
    table = pd.DataFrame({"name": ["a", "b"], "count": [896324.0, float("nan")], "share": [0.25, 0.5]})
    shown = report.display_table(table)
    assert shown["count"].tolist() == [896324, ""] and shown["share"].tolist() == [0.25, 0.5]
    pd.DataFrame(columns=["experiment", "model", "loss", "seeds"]).to_csv(
        run_outputs / "tables" / "test_results_seeds.csv", index=False
    )
    pd.DataFrame({"quantity": ["rows"], "count": [1128313.0]}).to_csv(
        run_outputs / "tables" / "dataset_statistics.csv", index=False
    )
    html, markdown = (path.read_text() for path in report.write_report("tiny"))
    assert escape(report.EMPTY_TABLE_REASONS["test_results_seeds"]) in html
    assert report.EMPTY_TABLE_REASONS["test_results_seeds"] in markdown
    for text in (html, markdown):
        assert "1128313.00" not in text and "1128313" in text
    assert '<a href="#section-1">Dataset statistics: ' in html and '<h2 id="section-1">' in html
    assert '<div class="scroll"><table' in html.replace("\n", "")
    assert escape(report.SAMPLE_BANNER) not in html, "the banner is for the sample profile only"


def test_the_sample_profile_carries_the_synthetic_data_banner(run_outputs: Path) -> None:
    params = run_outputs.parents[1] / "params" / "tiny.yaml"
    params.write_text(params.read_text() + "sample_records: 300\n")
    html, markdown = (path.read_text() for path in report.write_report("tiny"))
    assert escape(report.SAMPLE_BANNER) in html and report.SAMPLE_BANNER in markdown


def test_the_report_opens_with_a_summary_of_verdicts(run_outputs: Path) -> None:
    html, markdown = (path.read_text() for path in report.write_report("tiny"))
    assert html.index('id="summary"') < html.index('id="section-1"')
    assert '<td class="verdict-differs">differs</td>' in html
    row = next(line for line in markdown.splitlines() if line.startswith("| Taxonomy statistics"))
    assert re.search(r"\|\s+1 numbers\s+\|\s+2 records\s+\|\s+0 records\s+\|\s+differs\s+\|", row)
    assert re.search(r"\| Table 3: test results of ViT-B/16 with cross-entropy\s+\|", markdown)
    assert "not run" in markdown


def test_a_failed_notebook_puts_a_banner_on_the_report(run_outputs: Path) -> None:
    failed = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("frame['order']", execution_count=4)
    cell.outputs = [nbformat.v4.new_output("error", ename="KeyError", evalue="'order'", traceback=[])]
    failed.cells = [cell]
    nbformat.write(failed, str(run_outputs / "notebooks" / "02_dataset_statistics.failed.ipynb"))
    html, markdown = (path.read_text() for path in report.write_report("tiny"))
    line = "02_dataset_statistics failed in cell [4]: KeyError: 'order'"
    assert '<p class="failure">' in html and escape(line) in html
    assert "**Failed in the last run:** 02_dataset_statistics failed in cell [4]: KeyError: 'order'" in markdown


def test_tables_are_headed_by_what_they_are_and_shares_shown_as_percent() -> None:
    assert report.table_title("statistics_vs_published") == "Taxonomy statistics beside the paper's"
    assert report.table_title("split_counts_small_insect_order") == "Per-class split counts: small_insect_order"
    assert report.figure_title("bin_sizes") == "Specimens per BIN"
    assert report.figure_title("confusion_matrix_run_a") == "Confusion matrix: run_a"
    shown = report.as_percent("per_class_x", pd.DataFrame({"class": ["a"], "top1": [0.5], "top5": [1.0]}))
    assert shown["top1"].tolist() == [50.0] and shown["top5"].tolist() == [100.0]


def test_html_escapes_what_it_shows(run_outputs: Path) -> None:
    params = run_outputs.parents[1] / "params" / "tiny.yaml"
    params.write_text(params.read_text() + "photographs: <script>alert(1)</script>\n")
    html = report.write_report("tiny")[0].read_text()
    assert "<script>" not in html and "&lt;script&gt;" in html


def _written_names(notebook: Path) -> dict[str, set[str]]:
    """The table and figure names a notebook's code saves: literal names, f-string names with `*` for each field."""
    cells = nbformat.read(notebook, as_version=4).cells
    code = "\n".join(
        line for c in cells if c.cell_type == "code" for line in c.source.splitlines() if line[:1] not in "%!"
    )
    written = {"save_table": set(), "save_figure": set()}
    for node in ast.walk(ast.parse(code)):
        function = getattr(node, "func", None)
        name = getattr(function, "id", getattr(function, "attr", None))
        if isinstance(node, ast.Call) and name in written and len(node.args) > 2:
            argument = node.args[2]
            parts = argument.values if isinstance(argument, ast.JoinedStr) else [argument]
            written[name].add("".join(p.value if isinstance(p, ast.Constant) else "*" for p in parts))
    return written


@pytest.mark.parametrize("section", report.SECTIONS, ids=lambda section: section.notebook)
def test_a_report_section_shows_only_tables_and_figures_its_notebook_writes(section: report.Section) -> None:
    written = _written_names(project_root() / "notebooks" / f"{section.notebook}.ipynb")
    for kind, patterns in (("save_table", section.tables), ("save_figure", section.figures)):
        for pattern in patterns:
            matched = [name for name in written[kind] if fnmatch.fnmatch(name.replace("*", "x"), pattern)]
            assert matched, f"{section.notebook} writes no {kind.removeprefix('save_')} named {pattern}"
