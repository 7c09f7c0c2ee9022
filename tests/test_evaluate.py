"""Testing runs: the files of `bioscan-repro test`, the tables beside the paper, mean +- std over seeds, and learning beyond the majority class."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bioscan_lib import cli
from bioscan_lib.classify import test as evaluate
from bioscan_lib.classify import train
from bioscan_lib.config import TrainConfig, read_profile
from bioscan_lib.data.metadata import find_metadata, read_metadata
from bioscan_lib.split import rules as split

# the sample profile's recipe, on the small test sample's original_256 images
SAMPLE_SETTINGS = {
    **read_profile("sample").training,
    "profile": "test",
    "seed": 2023,
    "package": "bioscan1m/images/original_256",
}
EXPERIMENTS = ("large_insect_order", "large_diptera_family")


def train_and_test(root: Path, out: Path, settings: dict, medium: int, small: int) -> dict[str, Path]:
    """Split a sample release, train both tasks and test them through `bioscan-repro test`."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", split.SplitBudgetWarning)
        frame = split.make_splits(read_metadata(find_metadata(root / "bioscan1m")), 7, medium, small)
    split.write_split(frame, split.split_folder(out) / split.SPLIT_FILE_NAME)
    runs = {
        experiment: train.train(
            TrainConfig(**settings, experiment=experiment, data_root=str(root), output_dir=str(out)),
            progress=False,
        )
        for experiment in EXPERIMENTS
    }
    assert cli.main(["test", "--quiet", "--run", *map(str, runs.values())]) == 0
    return runs


@pytest.fixture(scope="module")
def trained(small_sample: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Both tasks trained briefly on the small sample and tested."""
    quick = {**SAMPLE_SETTINGS, "image_size": 40, "crop_size": 32, "batch_size": 8, "epochs": 2, "lr_milestones": [1]}
    return train_and_test(small_sample, tmp_path_factory.mktemp("out"), quick, 100, 40)


def test_a_tested_run_holds_consistent_metrics_tables_and_figures(trained: dict[str, Path]) -> None:
    folder = trained["large_insect_order"]
    result = json.loads((folder / evaluate.METRICS_JSON).read_text())
    per_class = pd.read_csv(folder / evaluate.PER_CLASS_CSV)
    matrix = pd.read_csv(folder / evaluate.CONFUSION_CSV, index_col=0).to_numpy()
    assert per_class["test_samples"].sum() == result["samples"] == matrix.sum()
    assert np.trace(matrix) / matrix.sum() == pytest.approx(result["top1"])
    assert per_class["top1"].mean() == pytest.approx(result["macro_present_top1"])
    assert result["macro_top1"] <= result["macro_present_top1"]
    assert result["top1"] <= result["top3"] <= result["top5"] <= result["top10"]
    assert 0 < result["average_k1_threshold"] < 1 and 0 <= result["average_k1"] <= 1
    assert pd.read_csv(folder / evaluate.METRICS_CSV).loc[0, "top1"] == pytest.approx(result["top1"])
    for name in ("per_class_accuracy", "per_class_scores", "confusion_matrix", "confusion_matrix_row_shares"):
        assert (folder / "figures" / f"{name}.png").is_file() and (folder / "figures" / f"{name}.svg").is_file()
    assert np.nanmean(per_class["f1"][(matrix.sum(axis=0) + matrix.sum(axis=1)) > 0]) == pytest.approx(
        result["f1_macro"]
    )
    confusions = evaluate.top_confusions_table(folder)
    assert confusions["samples"].sum() <= result["samples"] * (1 - result["top1"]) + 1e-9
    assert confusions["samples"].is_monotonic_decreasing and (confusions["true"] != confusions["predicted"]).all()
    predictions = pd.read_csv(folder / evaluate.PREDICTIONS_CSV)
    assert len(predictions) == result["samples"]
    assert (predictions["true"] == predictions["predicted"]).mean() == pytest.approx(result["top1"])
    assert predictions["probability"].between(0, 1).all()


def test_results_sit_beside_the_published_rows_in_the_paper_layout(trained: dict[str, Path]) -> None:
    results = evaluate.results_table(evaluate.find_runs(next(iter(trained.values())).parent))
    assert results["run"].tolist() == sorted(run.name for run in trained.values())
    layout = evaluate.paper_layout(results)
    assert layout["task"].tolist() == ["order", "order", "family", "family"]
    paper = layout[layout["source"].str.startswith("paper")].set_index("task")
    assert paper.loc["order", "top1"] == 99.69 and paper.loc["family", "f1_macro"] == 91.45
    assert layout.loc[0, "source"].startswith("paper"), "each experiment's published row comes first"
    ours = layout[~layout["source"].str.startswith("paper")].set_index("task")
    assert ours.loc["order", "top1 diff"] == pytest.approx(ours.loc["order", "top1"] - 99.69)
    assert ours.loc["family", "f1_macro diff"] == pytest.approx(ours.loc["family", "f1_macro"] - 91.45)


def test_seed_summary_gives_mean_and_std_of_configurations_with_several_distinct_seeds() -> None:
    rows = [
        {
            "experiment": "small_insect_order",
            "model": "m",
            "loss": "ce",
            "seed": seed,
            "origin": origin,
            **dict.fromkeys(evaluate.PAPER_COLUMNS, value),
        }
        for seed, value, origin in ((1, 90.0, "released"), (1, 90.0, "trained"), (2, 92.0, "trained"))
    ]
    rows.append(
        {
            "experiment": "small_insect_order",
            "model": "m",
            "loss": "focal",
            "seed": 1,
            "origin": "trained",
            **dict.fromkeys(evaluate.PAPER_COLUMNS, 50.0),
        }
    )
    summary = evaluate.seed_summary(pd.DataFrame(rows))
    assert len(summary) == 1 and summary.loc[0, "loss"] == "ce" and summary.loc[0, "seeds"] == 2
    assert summary.loc[0, "top1"] == "91.0 ± 1.41"
    assert evaluate.seed_summary(pd.DataFrame(rows[:2] + rows[3:])).empty, "a released copy of a seed is no new seed"
