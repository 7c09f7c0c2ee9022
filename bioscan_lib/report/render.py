"""The reproduction report: every table and figure of a run in the paper's order, with environment and parameters."""

from __future__ import annotations

import base64
import fnmatch
import platform
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata as package_metadata
from pathlib import Path

import jinja2
import nbformat
import pandas as pd

from bioscan_lib.config import load_profile
from bioscan_lib.core.files import write_text_atomic
from bioscan_lib.core.paths import resolve_path
from bioscan_lib.report.runner import FAILED_SUFFIX
from bioscan_lib.report.summary import summary_table

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
    """A part of the report: the notebook behind it and the table and figure names (glob patterns) it shows."""

    title: str
    notebook: str
    tables: tuple[str, ...]
    figures: tuple[str, ...] = ()
    note: str = ""


SECTIONS = (
    Section("Downloads: the release's files, verified", "01_download", ("download_status",)),
    Section(
        "Dataset statistics: the taxonomy table, the class-distribution figure, DNA barcodes and BINs",
        "02_dataset_statistics",
        (
            "statistics_vs_published",
            "dataset_statistics",
            "order_counts",
            "diptera_family_counts",
            "barcode_length_summary",
            "bin_size_distribution",
        ),
        ("class_distribution", "order_gallery", "barcode_length_histogram", "barcode_blocks", "bin_sizes"),
        "On the sample profile the data is synthetic with tempered class frequencies, so the differences from the "
        "published numbers are large by design; on the paper profile they should be zero.",
    ),
    Section(
        "Data splits: the six experiments' split sizes",
        "03_data_split",
        ("split_sizes_vs_published", "split_sizes", "split_comparison", "split_sizes_regenerated"),
    ),
    Section(
        "Split statistics: per-class counts of each split (the split-distribution figures)",
        "04_split_statistics",
        ("split_left_out", "split_emptied_by_trim", "split_counts_*"),
        ("split_distribution_*",),
    ),
    Section(
        "Preprocessing: resizing and the crop tool, beside the published packages",
        "05_preprocessing",
        ("preprocessing_*", "crop_boxes_published"),
        ("crop_*",),
    ),
    Section("Training: learning curves", "06_train", ("training_*",), ("learning_curve*",)),
    Section(
        "Testing: Table 3 (test results), per-class accuracy and confusion matrices",
        "07_test",
        ("test_*", "per_class_*"),
        ("per_class_*", "confusion_*"),
    ),
    Section(
        "Generalization: labelling new photographs",
        "08_generalization",
        ("generalization_*",),
        ("generalization_*",),
    ),
)
TABLE_TITLES = {  # what each table is; tables not listed are titled by their file name
    "download_status": "Downloaded files and how each was verified",
    "statistics_vs_published": "Taxonomy statistics beside the paper's",
    "dataset_statistics": "Categories and labelled samples per rank",
    "order_counts": "Records per order beside the paper's",
    "diptera_family_counts": "The 40 largest Diptera families beside the paper's",
    "barcode_length_summary": "DNA barcode length",
    "bin_size_distribution": "Specimens per BIN",
    "split_sizes_vs_published": "Split sizes beside the paper's",
    "split_sizes": "Split sizes",
    "split_comparison": "The published split against the split rule, per class",
    "split_sizes_regenerated": "Split sizes of the regenerated split",
    "split_left_out": "Classes left out of an experiment, and why",
    "split_emptied_by_trim": "Classes the Medium and Small draw empties",
    "preprocessing_summary": "Images resized and cropped",
    "preprocessing_vs_published": "Rebuilt packages beside the published ones",
    "crop_boxes_published": "Crop boxes found in the published crops",
    "test_results_paper_layout": "Table 3: test results beside the paper's (percent; diff = reproduced - published)",
    "test_results": "Every metric of every tested run (percent)",
    "test_results_seeds": "Mean and standard deviation over seeds (percent)",
    "generalization_predictions": "Labels, confidence and uncertainty flag per photograph",
    "generalization_scores": "Scored against the held-out labels (percent)",
    "generalization_conditions": "Accuracy under each change of imaging condition (percent)",
}
FIGURE_TITLES = {  # what each figure is; figures not listed are titled by their file name
    "class_distribution": "Class distribution: the 16 orders and the 40 largest Diptera families",
    "order_gallery": "One specimen per order",
    "barcode_length_histogram": "DNA barcode lengths",
    "barcode_blocks": "One DNA barcode, base by base",
    "bin_sizes": "Specimens per BIN",
    "crop_examples": "The crop tool at work: photograph, box and crop",
    "generalization_gallery": "New photographs labelled (tick: right, cross: wrong with the truth, ?: flagged)",
}
SHARE_COLUMNS = {"per_class_*": ("top1", "top5")}  # shares (0-1) shown as percent, like every other table

EMPTY_TABLE_REASONS = {  # why a table a notebook saved has no rows; the report says it instead of an empty grid
    "test_results_seeds": "No configuration has runs with several seeds; the paper's 72-run sweep fills this table.",
    "split_emptied_by_trim": "No class is emptied by the Medium and Small draw at this profile's sizes.",
}
SAMPLE_BANNER = (
    "Profile on the embedded sample: the data are synthetic (generated photographs and metadata in the published "
    "formats) and the classifiers are tiny networks trained for minutes on a CPU. The numbers check the pipeline; "
    "their differences from the paper's are by design."
)


def display_table(table: pd.DataFrame) -> pd.DataFrame:
    """A table as shown: float columns that hold only whole numbers (counts read back from CSV) as integers."""
    shown = table.copy()
    for column in shown.columns:
        values = shown[column]
        if pd.api.types.is_float_dtype(values) and values.notna().any() and (values.dropna() % 1 == 0).all():
            shown[column] = values.map(lambda value: "" if pd.isna(value) else int(value))
    return shown


TABLE_TITLE_PREFIXES = {  # tables saved once per experiment or run
    "split_counts_": "Per-class split counts: ",
    "training_": "Learning curve: ",
    "per_class_": "Per-class accuracy (percent): ",
}
FIGURE_TITLE_PREFIXES = {
    "split_distribution_": "Split distribution: ",
    "learning_curves_": "Learning curves: ",
    "per_class_accuracy_": "Per-class test accuracy: ",
    "confusion_matrix_": "Confusion matrix: ",
}


def _title(name: str, titles: dict[str, str], prefixes: dict[str, str]) -> str:
    """What a file is, by its name: its own title, else its prefix's title and the rest of its name, else the name."""
    if name in titles:
        return titles[name]
    prefix = next((p for p in prefixes if name.startswith(p)), None)
    return prefixes[prefix] + name.removeprefix(prefix) if prefix else name


def table_title(name: str) -> str:
    """The heading of a table, by its file name."""
    return _title(name, TABLE_TITLES, TABLE_TITLE_PREFIXES)


def figure_title(name: str) -> str:
    """The heading of a figure, by its file name."""
    return _title(name, FIGURE_TITLES, FIGURE_TITLE_PREFIXES)


def as_percent(name: str, table: pd.DataFrame) -> pd.DataFrame:
    """Share columns of the table shown as percent."""
    for pattern, columns in SHARE_COLUMNS.items():
        if fnmatch.fnmatch(name, pattern):
            table = table.assign(**{c: 100 * table[c] for c in columns if c in table})
    return table


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
    return EMPTY_TABLE_REASONS.get(name, "No rows in this run.")


@dataclass
class RenderedSection:
    """A section with the tables and figures found for it."""

    title: str
    note: str
    notebook: str | None
    tables: list[tuple[str, pd.DataFrame]] = field(default_factory=list)
    figures: list[tuple[str, str]] = field(default_factory=list)


def _matching(folder: Path, patterns: tuple[str, ...], suffix: str, taken: set[str]) -> list[Path]:
    """Files of `folder` whose stem matches the patterns, in pattern order, each listed once."""
    stems = sorted(p.stem for p in folder.glob(f"*{suffix}")) if folder.is_dir() else []
    found = []
    for pattern in patterns:
        for stem in stems:
            if fnmatch.fnmatch(stem, pattern) and stem not in taken:
                taken.add(stem)
                found.append(folder / f"{stem}{suffix}")
    return found


def collect_sections(out_dir: Path) -> list[RenderedSection]:
    """The sections that have at least one table or figure in `out_dir`."""
    taken_tables: set[str] = set()
    taken_figures: set[str] = set()
    sections = []
    for section in SECTIONS:
        tables = _matching(out_dir / "tables", section.tables, ".csv", taken_tables)
        figures = _matching(out_dir / "figures", section.figures, ".png", taken_figures)
        if not tables and not figures:
            continue
        notebook = out_dir / "notebooks" / f"{section.notebook}.ipynb"
        sections.append(
            RenderedSection(
                section.title,
                section.note,
                f"notebooks/{notebook.name}" if notebook.is_file() else None,
                [(p.stem, display_table(as_percent(p.stem, pd.read_csv(p)))) for p in tables],
                [(p.stem, base64.b64encode(p.read_bytes()).decode("ascii")) for p in figures],
            )
        )
    return sections


def environment() -> dict[str, str]:
    """Python, platform, package versions and the compute device of this run."""
    info = {"python": platform.python_version(), "platform": platform.platform()}
    for name in ENVIRONMENT_PACKAGES:
        try:
            info[name] = package_metadata.version(name)
        except package_metadata.PackageNotFoundError:
            info[name] = "not installed"
    try:
        import torch

        info["device"] = (
            torch.cuda.get_device_name(0) if torch.cuda.is_available() else f"CPU ({torch.get_num_threads()} threads)"
        )
    except ImportError:
        info["device"] = "CPU"
    return info


def _template(name: str) -> jinja2.Template:
    loader = jinja2.PackageLoader("bioscan_lib.report", "templates")
    return jinja2.Environment(
        loader=loader, autoescape=jinja2.select_autoescape(["html", "html.j2"]), keep_trailing_newline=True
    ).get_template(name)


def write_report(profile_name: str) -> tuple[Path, Path]:
    """Render `report.html` (self-contained) and `report.md` under the profile's output folder."""
    profile = load_profile(profile_name)
    out_dir = resolve_path(profile["output_dir"])
    context = {
        "profile": profile_name,
        "banner": SAMPLE_BANNER if "sample_records" in profile else "",
        "empty_reason": empty_reason,
        "parameters": profile,
        "sections": collect_sections(out_dir),
        "summary": summary_table(out_dir / "tables"),
        "failures": failed_notebooks(out_dir),
        "table_title": table_title,
        "figure_title": figure_title,
        "environment": environment(),
        "generated": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
    }
    html = _template("report.html.j2").render(**context)
    markdown = _template("report.md.j2").render(**context)
    return write_text_atomic(out_dir / "report.html", html), write_text_atomic(out_dir / "report.md", markdown)
