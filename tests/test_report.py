"""The reproduction report: sections in the paper's order, embedded figures, tables, environment and parameters."""

from __future__ import annotations

import ast
import base64
import re
from pathlib import Path

import nbformat
import pandas as pd
import pytest
import yaml
from markupsafe import escape

from bioscan_lib.classify import outputs as classify_outputs
from bioscan_lib.config import load_profile
from bioscan_lib.core import paths
from bioscan_lib.core.outputs import FIGURES_FOLDER, Output
from bioscan_lib.core.paths import project_root
from bioscan_lib.data.metadata import METADATA_FILE_NAMES
from bioscan_lib.dataset import outputs as dataset_outputs
from bioscan_lib.dna import outputs as dna_outputs
from bioscan_lib.download import outputs as download_outputs
from bioscan_lib.open_world import outputs as open_world_outputs
from bioscan_lib.preprocess import outputs as preprocess_outputs
from bioscan_lib.report import display, numbers, runner, summary
from bioscan_lib.report import render as report
from bioscan_lib.split import outputs as split_outputs

PIXEL_PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)


@pytest.fixture()
def run_outputs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A suite folder whose profile `tiny` has two tables, a figure and an executed notebook."""
    for folder in ("params", "notebooks", "outputs/tiny/figures", "outputs/tiny/notebooks"):
        (tmp_path / folder).mkdir(parents=True)
    (tmp_path / "params" / "tiny.yaml").write_text(
        yaml.safe_dump({"profile": "tiny", "data_root": "data/tiny", "output_dir": "outputs/tiny", "seed": 5})
    )
    out = tmp_path / "outputs" / "tiny"
    split_outputs.SPLIT_SIZES.save(pd.DataFrame({"experiment": ["large_insect_order"], "train": [10]}), out)
    comparison = pd.DataFrame(
        {"quantity": ["order categories"], "reproduced": [18], "published": [16], "difference": [2]}
    )
    dataset_outputs.STATISTICS_VS_PUBLISHED.save(comparison, out)
    (out / FIGURES_FOLDER / f"{dataset_outputs.CLASS_DISTRIBUTION.name()}.png").write_bytes(PIXEL_PNG)
    (out / "notebooks" / "02_dataset_statistics.ipynb").write_text("{}")
    monkeypatch.setenv(paths.ROOT_ENVIRONMENT_VARIABLE, str(tmp_path))
    return out


def test_sections_follow_the_paper_and_skip_empty_ones(run_outputs: Path) -> None:
    sections = report.collect_sections(run_outputs, load_profile("tiny"))
    assert [s.title.split(":")[0] for s in sections] == ["Dataset statistics", "Data splits"]
    assert sections[0].notebook == "notebooks/02_dataset_statistics.ipynb" and sections[1].notebook is None
    assert [table.name for table in sections[0].tables] == ["statistics_vs_published"]


def test_a_section_whose_inputs_changed_after_its_notebook_ran_is_marked_out_of_date(run_outputs: Path) -> None:
    root = run_outputs.parent.parent
    metadata = root / "data" / "tiny" / METADATA_FILE_NAMES[0]
    metadata.parent.mkdir(parents=True)
    metadata.write_text("processid\n1\n")
    notebook = nbformat.v4.new_notebook()
    notebook.metadata["kernelspec"] = {"name": runner.KERNEL_NAME, "display_name": "Python", "language": "python"}
    notebook.cells = [nbformat.v4.new_code_cell("pass")]
    source = root / "notebooks" / "02_dataset_statistics.ipynb"
    nbformat.write(notebook, source)
    profile = load_profile("tiny")
    runner.execute_notebook(source, {}, run_outputs / "notebooks", lambda: runner.input_digests(source, profile))
    assert report.collect_sections(run_outputs, profile)[0].stale == ""
    metadata.write_text("processid\n1\n2\n")
    assert report.collect_sections(run_outputs, profile)[0].stale == f"stale: {metadata} changed since its last run"
    html, markdown = (path.read_text() for path in report.write_report("tiny"))
    assert "<strong>Out of date:</strong> stale:" in html and "> **Out of date:** stale:" in markdown


def test_html_is_self_contained_and_markdown_links_figures(run_outputs: Path) -> None:
    html_path, markdown_path = report.write_report("tiny")
    html, markdown = html_path.read_text(), markdown_path.read_text()
    assert "data:image/png;base64," + base64.b64encode(PIXEL_PNG).decode() in html
    assert "<td>order categories</td>" in html and "large_insect_order" in html
    assert "![class_distribution](figures/class_distribution.png)" in markdown
    assert '<a href="figures/class_distribution.svg">SVG</a>' in html and "(figures/class_distribution.svg)" in markdown
    assert re.search(r"\| order categories\s+\|\s+18 \|\s+16 \|\s+2 \|", markdown)
    assert "| seed | 5 |" in markdown and "| torch |" in markdown
    assert markdown.index("Dataset statistics") < markdown.index("Data splits")


STAGE_OUTPUTS = (
    download_outputs,
    dataset_outputs,
    split_outputs,
    preprocess_outputs,
    classify_outputs,
    dna_outputs,
    open_world_outputs,
)


def saved_outputs(notebook: Path) -> tuple[set[Output], list[str]]:
    """The stage outputs a notebook saves (`outputs.NAME.save(...)`), and the source of any other save call."""
    named = {
        name: value for module in STAGE_OUTPUTS for name, value in vars(module).items() if isinstance(value, Output)
    }
    cells = nbformat.read(notebook, as_version=4).cells
    code = "\n".join(
        line for c in cells if c.cell_type == "code" for line in c.source.splitlines() if line[:1] not in "%!"
    )
    saved, other = set(), []
    for node in ast.walk(ast.parse(code)):
        called = getattr(node, "func", None)
        if not isinstance(node, ast.Call) or not isinstance(called, (ast.Attribute, ast.Name)):
            continue
        if isinstance(called, ast.Attribute) and called.attr == "save" and isinstance(called.value, ast.Attribute):
            saved.add(named[called.value.attr])
        elif getattr(called, "attr", getattr(called, "id", "")) in ("save_table", "save_figure"):
            other.append(ast.unparse(node))
    return saved, other


def test_each_section_shows_what_its_notebook_saves_and_nothing_else() -> None:
    """A table or figure renamed, dropped or added in a notebook cannot silently leave or haunt the report."""
    notebooks = {nb.stem: nb for nb in (project_root() / "notebooks").glob("[0-9][0-9]_*.ipynb")}
    everywhere = {o for s in report.SECTIONS for o in (*s.tables, *s.figures)}
    for section in report.SECTIONS:
        saved, other = saved_outputs(notebooks[section.notebook])
        assert not other, f"{section.notebook} saves by a literal name, not a stage output: {other}"
        shown = set(section.tables) | set(section.figures)
        assert shown - saved == set(), f"{section.notebook} writes no {[o.stem for o in shown - saved]}"
        assert saved <= everywhere, f"{section.notebook} saves {[o.stem for o in saved - everywhere]}, shown nowhere"


def test_every_stage_output_has_a_place_in_the_report_or_a_reason() -> None:
    shown = {o for s in report.SECTIONS for o in (*s.tables, *s.figures)}
    stage = {v for module in STAGE_OUTPUTS for v in vars(module).values() if isinstance(v, Output)}
    assert stage - shown == {preprocess_outputs.CROP_BOXES}, "only the crop tool's own box list stays out"


def test_counts_print_as_integers_and_empty_tables_say_why(run_outputs: Path) -> None:
    classify_outputs.TEST_RESULTS_SEEDS.save(
        pd.DataFrame(columns=["experiment", "model", "loss", "seeds"]), run_outputs
    )
    dataset_outputs.DATASET_STATISTICS.save(pd.DataFrame({"quantity": ["rows"], "count": [1128313.0]}), run_outputs)
    html, markdown = (path.read_text() for path in report.write_report("tiny"))
    assert escape(classify_outputs.TEST_RESULTS_SEEDS.empty_reason) in html
    assert classify_outputs.TEST_RESULTS_SEEDS.empty_reason in markdown
    for text in (html, markdown):
        assert "1128313.00" not in text and "1128313" in text
    assert '<a href="#section-1">Dataset statistics: ' in html and '<h2 id="section-1">1. Dataset statistics' in html
    assert "1. Dataset statistics" in markdown.split("## Contents")[1].splitlines()[2]
    assert not re.search(r"\bnan\b", markdown), "an empty cell prints empty"
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


def test_key_results_come_first_long_tables_fold_and_repeated_outputs_fold_past_the_first(run_outputs: Path) -> None:
    layout = pd.DataFrame({"task": ["order"], "source": ["paper"], "top1": [99.69], "top1 diff": [None]})
    classify_outputs.TEST_RESULTS_PAPER_LAYOUT.save(layout, run_outputs)
    rows = display.FOLD_ROWS + 1
    split_outputs.SPLIT_COMPARISON.save(pd.DataFrame({"class": range(rows), "difference": 0}), run_outputs)
    for experiment in ("a", "b", "c"):
        figure = split_outputs.SPLIT_DISTRIBUTION.name(experiment)
        (run_outputs / FIGURES_FOLDER / f"{figure}.png").write_bytes(PIXEL_PNG)
        split_outputs.SPLIT_COUNTS.save(pd.DataFrame({"class": ["x"], "train": [1]}), run_outputs, experiment)
    html, markdown = (path.read_text() for path in report.write_report("tiny"))
    assert html.index('id="key-results"') < html.index('id="test_results_paper_layout"') < html.index('id="summary"')
    assert f"<details><summary>{rows} rows: all {rows} differences are 0</summary>" in html
    assert f"<details><summary>{rows} rows: all {rows} differences are 0</summary>" in markdown
    shown, folded = html.split("2 more figures of the same kinds")
    assert 'alt="split_distribution_a"' in shown and 'alt="split_distribution_b"' in folded
    assert "<details><summary>1 rows</summary>" in html.split('id="split_counts_b"')[1], "a second instance folds"
    assert markdown.index("## Key results") < markdown.index("## Summary")


def test_the_profiles_run_and_its_experiment_come_first_and_what_the_key_results_show_folds(run_outputs: Path) -> None:
    first = report.headline_first("large_insect_order_test_resnet_ce_s2023")
    stems = ["split_counts_large_diptera_family", "split_counts_large_insect_order", "x_small_insect_order"]
    assert sorted(stems, key=first) == [stems[1], stems[0], stems[2]]
    assert sorted(stems, key=report.headline_first(None)) == stems
    sections = report.collect_sections(run_outputs, load_profile("tiny"), frozenset({"class_distribution"}))
    assert [figure.folded for figure in sections[0].figures] == [True]


def test_provenance_names_the_commit_the_processor_and_each_notebooks_run(run_outputs: Path) -> None:
    source = run_outputs.parents[1] / "notebooks" / "02_dataset_statistics.ipynb"
    notebook = nbformat.v4.new_notebook()
    notebook.metadata["kernelspec"] = {"name": runner.KERNEL_NAME, "display_name": "Python", "language": "python"}
    nbformat.write(notebook, source)
    runner.execute_notebook(source, {}, run_outputs / "notebooks")
    runs = runner.notebook_runs(run_outputs / "notebooks")
    assert runs["notebook"].tolist() == ["02_dataset_statistics"] and runs["seconds"].iloc[0] >= 0
    html = report.write_report("tiny")[0].read_text()
    assert "<th>suite commit</th>" in html and "<th>processor</th>" in html
    assert "<td>02_dataset_statistics</td>" in html


def test_a_profile_with_recorded_numbers_shows_their_check(run_outputs: Path) -> None:
    recorded = run_outputs.parents[1] / "recorded.yaml"
    tolerances = {kind: numbers.Tolerance(0.1, 0.05) for kind in numbers.KINDS}
    numbers.write_expectations(recorded, {"test/r/top1": numbers.Number("test_accuracy", 0.9)}, tolerances, "x")
    params = run_outputs.parents[1] / "params" / "tiny.yaml"
    params.write_text(params.read_text() + "recorded_numbers: recorded.yaml\n")
    html, markdown = (path.read_text() for path in report.write_report("tiny"))
    assert "Trained numbers against the recorded sample run" in html and "recorded.yaml" in html
    assert f'<a href="#{summary.RECORDED_ANCHOR}">' in html
    assert summary.RECORDED_ITEM in markdown and "not run" in markdown
