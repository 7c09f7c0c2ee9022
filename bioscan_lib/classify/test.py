"""Testing a run's best checkpoint: the paper's metrics, per-class accuracy, confusion matrix, tables beside the published ones."""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from bioscan_lib.classify import metrics
from bioscan_lib.classify.data import build_datasets, class_names
from bioscan_lib.classify.metrics import per_class_topk, softmax
from bioscan_lib.classify.models import create_model
from bioscan_lib.classify.plots import (
    confusion_matrix_figure,
    per_class_accuracy,
    per_class_scores,
    row_share_confusion_figure,
)
from bioscan_lib.config import AVERAGE_K_RULES, TrainConfig, run_config
from bioscan_lib.core.files import write_text_atomic
from bioscan_lib.core.outputs import save_figure, write_csv
from bioscan_lib.core.paths import resolve_path
from bioscan_lib.core.runs import (
    CHECKPOINT_BEST,
    CONFUSION_CSV,
    METRICS_CSV,
    METRICS_JSON,
    PER_CLASS_CSV,
    PREDICTIONS_CSV,
    RESTORE,
    RunFolder,
    RunFolderError,
)
from bioscan_lib.data.bioscan1m import LABEL_COLUMNS, experiment_size, experiment_task, published
from bioscan_lib.engine import make_loader, predict, start_runtime
from bioscan_lib.split.rules import class_list_path, split_folder

PAPER_COLUMNS = tuple(published()["results_vit_b16_ce_test_percent"]["columns"])
SIZE_ORDER = ("small", "medium", "large")
CONFIGURATION = ["experiment", "model", "loss"]
NOT_PERCENT = {"run", "best_epoch", "samples", "classes", "classes_present"}


def load_best(folder: str | os.PathLike, n_classes: int, runtime):
    """The run's model with its best-validation weights (loaded with weights_only, every weight finite)."""

    run = RunFolder(folder)
    config = run_config(run)
    state = run.best_checkpoint()
    model = create_model(config.model, n_classes, pretrained=False)
    try:
        model.load_state_dict(state["model"])
    except RuntimeError as error:
        reason = next((line.strip() for line in str(error).splitlines()[1:] if line.strip()), str(error))[:160]
        raise RunFolderError(
            f"{run.file(CHECKPOINT_BEST)}: its weights do not fit {config.model} with {n_classes} classes ({reason}); "
            f"the run's parameters or class list were changed after it was saved: {RESTORE}."
        ) from None
    return runtime.place(model), int(state["epoch"])


def checked_classes(run: RunFolder, config: TrainConfig) -> list[str]:
    """A run's class names, checked against its experiment's class list in the profile's split."""
    where = class_list_path(split_folder(resolve_path(config.output_dir)), config.experiment)
    return run.check_classes(class_names(config), str(where))


def per_class_table(classes: list[str], logits: np.ndarray, labels: np.ndarray) -> pd.DataFrame:
    """Per class: index, test samples, top-1 (its recall) and top-5 accuracy, precision and F1 of the top-1
    predictions (NaN where there is nothing to count: see `metrics.precision_recall_f1`)."""
    scores = metrics.precision_recall_f1(metrics.confusion(labels, logits.argmax(axis=1), len(classes)))
    return pd.DataFrame(
        {
            "class": classes,
            "index": np.arange(len(classes)),
            "test_samples": np.bincount(labels, minlength=len(classes)),
            "top1": per_class_topk(logits, labels, 1),
            "top5": per_class_topk(logits, labels, min(5, len(classes))),
            "precision": scores["precision"].to_numpy(),
            "f1": scores["f1"].to_numpy(),
        }
    )


def published_per_class(experiment: str, classes: list[str]) -> list[float] | None:
    """The paper's per-class top-1 of a Large experiment (orders by name, families by rank), or None."""
    values = published()["per_class_top1_large_vit_b16_ce"]
    if experiment == "large_insect_order":
        return [values["large_insect_order"].get(name, np.nan) for name in classes]
    if experiment == "large_diptera_family":
        ranked = values["large_diptera_family_in_count_order"]
        return [ranked[i] if i < len(ranked) else np.nan for i in range(len(classes))]
    return None


def evaluate_run(
    folder: str | os.PathLike,
    data_root: str | None = None,
    workers: int | None = None,
    device: str = "auto",
    progress: bool = True,
    average_k_rule: str = AVERAGE_K_RULES[0],
) -> dict[str, float]:
    """Test a run's best checkpoint; write its metrics (JSON, CSV), per-class accuracy, confusion matrix and figures.

    Average-k's threshold comes from the validation split by `average_k_rule` (see `metrics.classification_metrics`)."""

    folder = Path(folder)
    run = RunFolder(folder)
    trained = run_config(run)
    config = dataclasses.replace(
        trained,
        data_root=data_root or trained.data_root,
        device=device,
        workers=trained.workers if workers is None else workers,
    )
    runtime = start_runtime(config, config.channels_last)
    classes = checked_classes(run, config)
    model, best_epoch = load_best(folder, len(classes), runtime)
    datasets = build_datasets(config, ("validation", "test"))
    loaders = {split: _loader(dataset, config) for split, dataset in datasets.items()}
    validation = predict(model, loaders["validation"], runtime, progress, "validation")
    logits, labels = predict(model, loaders["test"], runtime, progress, "test")
    records = pd.DataFrame({"image_file": datasets["test"].files, "chunk_number": datasets["test"].chunks})
    extra = {"best_epoch": best_epoch}
    return write_test_results(folder, classes, logits, labels, validation, records, extra, average_k_rule)


def write_test_results(
    folder: str | os.PathLike,
    classes: list[str],
    logits: np.ndarray,
    labels: np.ndarray,
    validation: tuple[np.ndarray, np.ndarray],
    records: pd.DataFrame,
    extra: dict[str, float] | None = None,
    average_k_rule: str = AVERAGE_K_RULES[0],
) -> dict[str, float]:
    """Write a run's test results from its test and validation scores, whatever the input: metrics (JSON, CSV, with
    `extra` beside them), per-class accuracy, confusion matrix, predictions (one row per record) and figures."""
    folder = Path(folder)
    result = {
        "run": folder.name,
        **(extra or {}),
        **metrics.classification_metrics(logits, labels, *validation, average_k_rule=average_k_rule),
        "majority_top1": float(np.mean(labels == 0)),
    }
    write_text_atomic(folder / METRICS_JSON, json.dumps(result, indent=2) + "\n")
    write_csv(pd.DataFrame([result]), folder / METRICS_CSV)
    table = per_class_table(classes, logits, labels)
    write_csv(table, folder / PER_CLASS_CSV)
    write_csv(
        pd.DataFrame(
            metrics.confusion(labels, logits.argmax(axis=1), len(classes)), index=classes, columns=classes
        ).rename_axis("true \\ predicted"),
        folder / CONFUSION_CSV,
        index=True,
    )
    write_csv(prediction_table(records, classes, logits, labels), folder / PREDICTIONS_CSV)
    _save_figures(folder, RunFolder(folder).params["experiment"], table)
    return result


def prediction_table(records: pd.DataFrame, classes: list[str], logits: np.ndarray, labels: np.ndarray) -> pd.DataFrame:
    """One row per test record: its image file, chunk, true and predicted class, and the predicted class's
    probability."""
    probabilities = softmax(logits)
    predicted = logits.argmax(axis=1)
    return pd.DataFrame(
        {
            "image_file": records["image_file"].to_numpy(),
            "chunk_number": records["chunk_number"].to_numpy(),
            "true": [classes[i] for i in labels],
            "predicted": [classes[i] for i in predicted],
            "probability": probabilities[np.arange(len(predicted)), predicted],
        }
    )


def _loader(dataset, config):

    return make_loader(dataset, config.batch_size, config.workers)


def read_confusion(folder: str | os.PathLike) -> pd.DataFrame:
    """A tested run's confusion matrix: rows true class, columns predicted class, indexed by class name."""
    return pd.read_csv(Path(folder) / CONFUSION_CSV, index_col=0)


def top_confusions_table(folder: str | os.PathLike) -> pd.DataFrame:
    """A tested run's most frequent confusions: true and predicted class, test samples, share of the true class."""
    matrix = read_confusion(folder)
    return metrics.top_confusions(matrix.to_numpy(), matrix.index.tolist())


def run_figures(folder: str | os.PathLike, experiment: str, table: pd.DataFrame) -> dict[str, object]:
    """The per-class figures (accuracy, with the paper's values where published; precision, recall and F1) and the
    confusion matrix, in samples and in shares of each true class."""

    folder = Path(folder)
    paper = published_per_class(experiment, table["class"].tolist())
    shown = table.assign(published_top1=paper) if paper is not None else table
    matrix = read_confusion(folder)
    counts, classes = matrix.to_numpy(), matrix.index.tolist()
    return {
        "per_class_accuracy": per_class_accuracy(shown, f"{folder.name}: test top-1 per class"),
        "per_class_scores": per_class_scores(table, f"{folder.name}: test precision, recall and F1 per class"),
        "confusion_matrix": confusion_matrix_figure(counts, classes, f"{folder.name}: test"),
        "confusion_matrix_row_shares": row_share_confusion_figure(
            counts, classes, f"{folder.name}: test, by true class"
        ),
    }


def _save_figures(folder: Path, experiment: str, table: pd.DataFrame) -> None:

    for name, figure in run_figures(folder, experiment, table).items():
        save_figure(figure, folder, name)
        plt.close(figure)


def read_test_metrics(folder: str | os.PathLike) -> dict[str, float]:
    """A run's test metrics as written by `evaluate_run`."""
    return RunFolder(folder).json(METRICS_JSON, f"test the run first (`bioscan-repro test --run {folder}`).")


def find_runs(runs_dir: str | os.PathLike) -> list[Path]:
    """Run folders with a best checkpoint under `runs_dir`, sorted by name."""
    return sorted(path.parent for path in Path(runs_dir).glob(f"*/{CHECKPOINT_BEST}"))


def evaluate_runs(
    runs_dir: str | os.PathLike,
    data_root: str | None = None,
    workers: int | None = None,
    force: bool = False,
    progress: bool = True,
    average_k_rule: str = AVERAGE_K_RULES[0],
) -> list[Path]:
    """Test every run under `runs_dir` whose results are missing or older than its best checkpoint; return all runs."""

    folders = find_runs(runs_dir)
    for folder in tqdm(folders, desc="runs", disable=not progress):
        metrics_file = folder / METRICS_JSON
        stale = not metrics_file.is_file() or metrics_file.stat().st_mtime < (folder / CHECKPOINT_BEST).stat().st_mtime
        if force or stale or not (folder / PREDICTIONS_CSV).is_file():
            evaluate_run(folder, data_root, workers, progress=progress, average_k_rule=average_k_rule)
    return folders


def results_table(folders: list[Path]) -> pd.DataFrame:
    """One row per tested run: its configuration and every metric in percent (the paper's columns first)."""

    rows = []
    for folder in folders:
        config, scores = run_config(RunFolder(folder)), read_test_metrics(folder)
        ordered = [*PAPER_COLUMNS, *(key for key in scores if key not in PAPER_COLUMNS)]
        rows.append(
            {
                "run": folder.name,
                "task": LABEL_COLUMNS[experiment_task(config.experiment)],
                "size": experiment_size(config.experiment),
                "experiment": config.experiment,
                "model": config.model,
                "loss": config.loss,
                "seed": config.seed,
                "origin": f"released checkpoint {config.imported_from}" if config.imported_from else "trained",
                **{
                    key: 100 * scores[key]
                    for key in ordered
                    if key in scores and key not in NOT_PERCENT and not key.endswith("_threshold")
                },
            }
        )
    return pd.DataFrame(rows)


def published_table() -> pd.DataFrame:
    """The paper's ViT-B/16 cross-entropy test results (percent), one row per experiment."""
    values = published()["results_vit_b16_ce_test_percent"]
    rows = [
        {
            "task": LABEL_COLUMNS[experiment_task(name)],
            "size": experiment_size(name),
            "experiment": name,
            **dict(zip(PAPER_COLUMNS, numbers)),
        }
        for name, numbers in values.items()
        if name != "columns"
    ]
    return pd.DataFrame(rows)


def paper_layout(results: pd.DataFrame) -> pd.DataFrame:
    """Results in the paper's layout (task, size, then its columns), each experiment's runs beside the published row,
    with each number's difference from the paper's (`<column> diff`, percentage points)."""
    paper = published_table().assign(source="paper: vit_base_patch16_224 ce (published table)")
    imported = results.get("origin", pd.Series("trained", index=results.index)) != "trained"
    name = results["model"] + " " + results["loss"] + " s" + results["seed"].astype(str)
    ours = results.assign(source=name.where(~imported, name + " (released checkpoint)"))
    reference = paper.set_index("experiment")[list(PAPER_COLUMNS)]
    for column in PAPER_COLUMNS:
        ours[f"{column} diff"] = ours[column] - ours["experiment"].map(reference[column])
    both = pd.concat([paper[paper["experiment"].isin(results["experiment"])], ours], ignore_index=True)
    both["size_rank"] = both["size"].map(SIZE_ORDER.index)
    both["ours"] = both["source"] != paper["source"].iloc[0]
    both = both.sort_values(["task", "size_rank", "ours", "source"], ascending=[False, True, True, True], kind="stable")
    columns = [item for column in PAPER_COLUMNS for item in (column, f"{column} diff")]
    return both[["task", "size", "source", *columns]].reset_index(drop=True)


def seed_summary(results: pd.DataFrame) -> pd.DataFrame:
    """Mean +- std (percent) over seeds of each configuration that has several seeds (the paper's appendix tables).

    A seed counts once: a released checkpoint of a seed also trained here is the same run, not another seed."""
    columns = list(PAPER_COLUMNS)
    trained_first = results.sort_values("origin", key=lambda origin: origin != "trained", kind="stable")
    groups = trained_first.drop_duplicates([*CONFIGURATION, "seed"]).groupby(CONFIGURATION, sort=True)
    sizes = groups.size().rename("seeds")
    several = sizes[sizes > 1].index
    if len(several) == 0:
        return pd.DataFrame(columns=[*CONFIGURATION, "seeds", *columns])
    mean, std = groups[columns].mean().loc[several], groups[columns].std(ddof=1).loc[several]
    text = mean.round(2).astype(str) + " ± " + std.round(2).astype(str)
    return text.join(sizes).reset_index()[[*CONFIGURATION, "seeds", *columns]]
