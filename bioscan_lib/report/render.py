"""The reproduction report: every table and figure of a run in the paper's order, with environment and parameters."""

from __future__ import annotations

import base64
import os
import platform
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata as package_metadata
from pathlib import Path
from typing import Any

import jinja2
import nbformat
import pandas as pd

from bioscan_lib.classify import outputs as classify
from bioscan_lib.config import load_profile
from bioscan_lib.core import provenance
from bioscan_lib.core.files import write_text_atomic
from bioscan_lib.core.outputs import FIGURE_METADATA, FIGURES_FOLDER, NO_ROWS, TABLES_FOLDER, Figure, Output, Table
from bioscan_lib.core.paths import project_root, resolve_path
from bioscan_lib.data.bioscan1m import EXPERIMENTS
from bioscan_lib.dataset import outputs as dataset
from bioscan_lib.dna import outputs as dna
from bioscan_lib.download import outputs as download
from bioscan_lib.open_world import outputs as open_world
from bioscan_lib.preprocess import outputs as preprocess
from bioscan_lib.report import runner, summary
from bioscan_lib.report.display import ShownTable, show_table
from bioscan_lib.report.runner import FAILED_SUFFIX
from bioscan_lib.report.summary import kind_verdicts, recorded_check, summary_table
from bioscan_lib.split import outputs as split

ENVIRONMENT_PACKAGES = (
    "bioscan-repro",
    "numpy",
    "pandas",
    "pyarrow",
    "pillow",
    "h5py",
    "scikit-learn",
    "scikit-image",
    "torch",
    "torchvision",
    "timm",
    "papermill",
    "nbval",
)


@dataclass(frozen=True)
class Section:
    """A part of the report: the notebook behind it and the tables and figures it shows, in order."""

    title: str
    notebook: str
    tables: tuple[Table, ...]
    figures: tuple[Figure, ...] = ()
    note: str = ""


SECTIONS = (
    Section("Downloads: the release's files, verified", "01_download", (download.DOWNLOAD_STATUS,)),
    Section(
        "Dataset statistics: the taxonomy table, the class-distribution figure, DNA barcodes and BINs",
        "02_dataset_statistics",
        (
            dataset.STATISTICS_VS_PUBLISHED,
            dataset.DATASET_STATISTICS,
            dataset.ORDER_COUNTS,
            dataset.DIPTERA_FAMILY_COUNTS,
            dataset.BARCODE_LENGTH_SUMMARY,
            dataset.BIN_SIZE_DISTRIBUTION,
            dataset.NAMES_UNDER_TWO_PARENTS,
        ),
        (
            dataset.CLASS_DISTRIBUTION,
            dataset.ORDER_GALLERY,
            dataset.BARCODE_LENGTH_HISTOGRAM,
            dataset.BARCODE_BLOCKS,
            dataset.BIN_SIZES,
        ),
        "On the sample profile the data is synthetic with tempered class frequencies, so the differences from the "
        "published numbers are large by design; on the paper profile they should be zero.",
    ),
    Section(
        "Data splits: the six experiments' split sizes",
        "03_data_split",
        (split.SPLIT_SIZES_VS_PUBLISHED, split.SPLIT_SIZES, split.SPLIT_COMPARISON, split.SPLIT_SIZES_REGENERATED),
    ),
    Section(
        "Split statistics: per-class counts of each split (the split-distribution figures)",
        "04_split_statistics",
        (split.SPLIT_LEFT_OUT, split.SPLIT_EMPTIED_BY_TRIM, split.SPLIT_COUNTS),
        (split.SPLIT_DISTRIBUTION,),
    ),
    Section(
        "Preprocessing: resizing and the crop tool, beside the published packages",
        "05_preprocessing",
        (preprocess.PREPROCESSING_SUMMARY, preprocess.PREPROCESSING_VS_PUBLISHED, preprocess.CROP_BOXES_PUBLISHED),
        (preprocess.CROP_EXAMPLES,),
    ),
    Section("Training: learning curves", "06_train", (classify.TRAINING,), (classify.LEARNING_CURVES,)),
    Section(
        "Testing: Table 3 (test results), per-class accuracy and confusion matrices",
        "07_test",
        (
            classify.TEST_RESULTS_PAPER_LAYOUT,
            classify.TEST_RESULTS,
            classify.TEST_RESULTS_SEEDS,
            classify.PER_CLASS,
            classify.TOP_CONFUSIONS,
        ),
        (
            classify.PER_CLASS_ACCURACY,
            classify.CONFUSION_MATRIX_ROW_SHARES,
            classify.PER_CLASS_SCORES,
            classify.CONFUSION_MATRIX,
        ),
    ),
    Section(
        "Generalization: labelling new photographs",
        "08_generalization",
        (classify.GENERALIZATION_PREDICTIONS, classify.GENERALIZATION_SCORES, classify.GENERALIZATION_CONDITIONS),
        (classify.GENERALIZATION_RELIABILITY, classify.GENERALIZATION_GALLERY),
    ),
    Section(
        "Beyond the paper: DNA barcodes classified on the six experiments, beside the photographs",
        "09_dna_barcodes",
        (dna.DNA_RESULTS, dna.DNA_AGREEMENT, dna.DNA_PROBLEM_COUNTS, dna.DNA_PROBLEM_ROWS, dna.DNA_MISSING_BARCODES),
        (dna.DNA_PER_CLASS, dna.DNA_GALLERY),
        "Not a result of the BIOSCAN-1M paper, which classifies photographs only: the same splits, classes and "
        "metrics, with the barcode as input. The published row beside them is Table 3's ViT-B/16 on images.",
    ),
    Section(
        "Beyond the paper: species no classifier saw, placed by retrieval on the CLIBD partition; BINs and species",
        "10_open_world",
        (
            open_world.OPEN_WORLD_PUBLISHED,
            open_world.OPEN_WORLD_SCORES,
            open_world.CLIBD_PARTITION_COUNTS,
            open_world.BIN_SPECIES_SUMMARY,
            open_world.BARCODE_GAP_SUMMARY,
            open_world.BIN_RETRIEVAL,
            open_world.BARCODE_GAP,
        ),
        (open_world.OPEN_WORLD_FIGURE, open_world.BARCODE_GAP_FIGURE),
        "Not a result of the BIOSCAN-1M paper: CLIBD's seen and unseen species and BIOSCAN-5M's genus of unseen "
        "species, scored by cosine 1-NN of each encoder's embeddings, beside the figures those works publish; and how "
        "BINs relate to species, with the barcode gap of every BIN.",
    ),
)
KEY_TABLE = classify.TEST_RESULTS_PAPER_LAYOUT
KEY_FIGURES = (dataset.CLASS_DISTRIBUTION, classify.LEARNING_CURVES, classify.CONFUSION_MATRIX_ROW_SHARES)  # the second
# and third of the profile's `run` (the one notebook 08 labels with)
INSTANCES_SHOWN = 1  # of a table or figure written per experiment or run, the first is shown and the others folded
SAMPLE_BANNER = (
    "Profile on the embedded sample: the data are synthetic (generated photographs and metadata in the published "
    "formats) and the classifiers are tiny networks trained for minutes on a CPU. The numbers check the pipeline; "
    "their differences from the paper's are by design."
)


def _output(name: str, kinds: str) -> Output | None:
    """The table or figure of a report section whose file stem `name` is."""
    outputs = (o for section in SECTIONS for o in getattr(section, kinds))
    return next((o for o in outputs if o.matches(name)), None)


def table_title(name: str) -> str:
    """The heading of a table, by its file name."""
    table = _output(name, "tables")
    return table.heading(name) if table else name


def figure_title(name: str) -> str:
    """The heading of a figure, by its file name."""
    figure = _output(name, "figures")
    return figure.heading(name) if figure else name


def as_percent(name: str, table: pd.DataFrame) -> pd.DataFrame:
    """Share columns of the table shown as percent."""
    columns = getattr(_output(name, "tables"), "share_columns", ())
    return table.assign(**{c: 100 * table[c] for c in columns if c in table})


def failed_notebooks(out_dir: Path) -> list[str]:
    """One line per notebook whose last run failed: its name, the cell and the error."""
    lines = []
    for path in sorted((out_dir / "notebooks").glob(f"*{FAILED_SUFFIX}")):
        notebook = nbformat.read(path, as_version=4)
        errors = [
            (cell.get("execution_count"), output)
            for cell in notebook.cells
            for output in cell.get("outputs", [])
            if output.get("output_type") == "error"
        ]
        cell, error = errors[0] if errors else (None, {"ename": "error", "evalue": "see the notebook"})
        name = path.name.removesuffix(FAILED_SUFFIX)
        lines.append(f"{name} failed in cell [{cell}]: {error['ename']}: {error['evalue']}")
    return lines


def empty_reason(name: str) -> str:
    """Why the table `name` has no rows."""
    return getattr(_output(name, "tables"), "empty_reason", NO_ROWS)


@dataclass(frozen=True)
class ShownFigure:
    """A figure as the report embeds it; `folded` when it is one more of a figure written per experiment or run."""

    name: str
    title: str
    png: str  # base64
    folded: bool = False


@dataclass
class RenderedSection:
    """A section with the tables and figures found for it."""

    title: str
    note: str
    notebook: str | None
    stale: str = ""
    tables: list[ShownTable] = field(default_factory=list)
    figures: list[ShownFigure] = field(default_factory=list)


def headline_first(run: str | None) -> Callable[[str], tuple[bool, str]]:
    """A sort key putting first the files of the profile's `run` and of its experiment, then by name."""
    experiment = next((e for e in EXPERIMENTS if run and run.startswith(f"{e}_")), None)
    marks = [f"_{key}" for key in (run, experiment) if key]
    return lambda stem: (not any(mark in f"_{stem}" for mark in marks), stem)


def _matching(
    folder: Path, outputs: tuple[Output, ...], suffix: str, taken: set[str], run: str | None
) -> list[tuple[Output, Path]]:
    """Files of `folder` that are one of `outputs`, in their order, each listed once, with the output they are; of an
    output written per experiment or run, the profile's run and its experiment come first."""
    stems = sorted((p.stem for p in folder.glob(f"*{suffix}")), key=headline_first(run)) if folder.is_dir() else []
    found = []
    for output in outputs:
        for stem in stems:
            if output.matches(stem) and stem not in taken:
                taken.add(stem)
                found.append((output, folder / f"{stem}{suffix}"))
    return found


def shown_table(path: Path, fold: bool = False) -> ShownTable:
    """A table of the run as the report shows it (folded behind its summary line if `fold`)."""
    name = path.stem
    return show_table(name, table_title(name), as_percent(name, pd.read_csv(path)), empty_reason(name), fold)


def shown_figure(path: Path, folded: bool = False) -> ShownFigure:
    """A figure of the run as the report embeds it."""
    return ShownFigure(path.stem, figure_title(path.stem), base64.b64encode(path.read_bytes()).decode("ascii"), folded)


def _past_the_first(found: list[tuple[Output, Path]]) -> list[tuple[Path, bool]]:
    """Each file, and whether it comes after the first INSTANCES_SHOWN files of the same output (to be folded)."""
    seen: dict[Output, int] = {}
    marked = []
    for output, path in found:
        seen[output] = seen.get(output, 0) + 1
        marked.append((path, seen[output] > INSTANCES_SHOWN))
    return marked


def stale_section(notebook: str, profile: dict[str, Any]) -> str:
    """Why the tables and figures of a notebook's last run no longer follow from its inputs ('' when they do)."""
    source = project_root() / "notebooks" / f"{notebook}.ipynb"
    if not source.is_file():
        return ""
    out_dir = resolve_path(profile["output_dir"]) / "notebooks"
    reason = runner.stale_reason(source, runner.notebook_parameters(source, profile), out_dir, profile)
    return "" if reason == runner.NOT_RUN_BEFORE else reason


def collect_sections(
    out_dir: Path, profile: dict[str, Any], in_key_results: frozenset[str] = frozenset()
) -> list[RenderedSection]:
    """The sections that have at least one table or figure in `out_dir`, each marked if its notebook is stale; what
    the key results show is folded in its section."""
    taken_tables: set[str] = set()
    taken_figures: set[str] = set()
    sections = []
    for section in SECTIONS:
        tables = _matching(out_dir / TABLES_FOLDER, section.tables, ".csv", taken_tables, profile.get("run"))
        figures = _matching(out_dir / FIGURES_FOLDER, section.figures, ".png", taken_figures, profile.get("run"))
        if not tables and not figures:
            continue
        notebook = out_dir / "notebooks" / f"{section.notebook}.ipynb"
        sections.append(
            RenderedSection(
                section.title,
                section.note,
                f"notebooks/{notebook.name}" if notebook.is_file() else None,
                stale_section(section.notebook, profile),
                [shown_table(p, fold or p.stem in in_key_results) for p, fold in _past_the_first(tables)],
                [shown_figure(p, fold or p.stem in in_key_results) for p, fold in _past_the_first(figures)],
            )
        )
    return sections


def key_results(out_dir: Path, profile: dict[str, Any]) -> tuple[ShownTable | None, list[ShownFigure]]:
    """The report's opening block: Table 3 as reproduced, and the key figures of the profile's labelling run."""
    table = KEY_TABLE.path(out_dir)
    run = profile.get("run") or ""
    paths = [
        out_dir / FIGURES_FOLDER / f"{figure.name(run if '{}' in figure.stem else '')}.png"
        for figure in KEY_FIGURES
        if run or "{}" not in figure.stem
    ]
    return (shown_table(table) if table.is_file() else None), [shown_figure(p) for p in paths if p.is_file()]


def environment() -> dict[str, str]:
    """The suite's commit, the processor, the compute device, Python and the platform of this report."""
    info = {
        "suite commit": provenance.source_commit(),
        "processor": f"{provenance.processor()} ({os.cpu_count()} cores)",
        "device": "CPU",
        "python": platform.python_version(),
        "platform": platform.platform(),
    }
    try:
        import torch

        info["device"] = (
            torch.cuda.get_device_name(0) if torch.cuda.is_available() else f"CPU ({torch.get_num_threads()} threads)"
        )
    except ImportError:
        pass
    return info


def library_versions() -> dict[str, str]:
    """The versions of the suite and the libraries its numbers depend on."""
    versions = {}
    for name in ENVIRONMENT_PACKAGES:
        try:
            versions[name] = package_metadata.version(name)
        except package_metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def _template(name: str) -> jinja2.Template:
    loader = jinja2.PackageLoader("bioscan_lib.report", "templates")
    return jinja2.Environment(
        loader=loader, autoescape=jinja2.select_autoescape(["html", "html.j2"]), keep_trailing_newline=True
    ).get_template(name)


def _recorded_tables(check: pd.DataFrame, kinds: pd.DataFrame) -> tuple[ShownTable, ShownTable]:
    """The recorded-number check as shown: per kind, and every number."""
    not_there = "The trained runs are not there yet: run notebooks 06-09."
    every = check.assign(allowed=pd.to_numeric(check["allowed"]))
    return (
        show_table(summary.RECORDED_ANCHOR, "Per kind of number", kinds, not_there),
        show_table(f"{summary.RECORDED_ANCHOR}-each", "Every number", every, not_there),
    )


def write_report(profile_name: str) -> tuple[Path, Path]:
    """Render `report.html` (self-contained) and `report.md` under the profile's output folder."""
    profile = load_profile(profile_name)
    out_dir = resolve_path(profile["output_dir"])
    check = recorded_check(out_dir, profile)
    kinds = None if check is None else kind_verdicts(check)
    key_table, key_figures = key_results(out_dir, profile)
    context = {
        "profile": profile_name,
        "banner": SAMPLE_BANNER if "sample_records" in profile else "",
        "parameters": profile,
        "key_table": key_table,
        "key_figures": key_figures,
        "sections": collect_sections(out_dir, profile, frozenset(f.name for f in key_figures) | {KEY_TABLE.name()}),
        "summary": summary_table(out_dir, profile, kinds),
        "recorded": None if check is None else _recorded_tables(check, kinds),
        "recorded_file": profile.get("recorded_numbers"),
        "failures": failed_notebooks(out_dir),
        "notebook_runs": runner.notebook_runs(out_dir / "notebooks"),
        "environment": environment(),
        "versions": library_versions(),
        "figure_formats": tuple(FIGURE_METADATA),
        "generated": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
    }
    html = _template("report.html.j2").render(**context)
    markdown = _template("report.md.j2").render(**context)
    return write_text_atomic(out_dir / "report.html", html), write_text_atomic(out_dir / "report.md", markdown)
