"""Statistics of the six experiments' splits: per-class counts, left-out classes, the check against the paper, figures."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.colors import LogNorm
from matplotlib.figure import Figure

from bioscan_lib.core.figures import write_in_cell
from bioscan_lib.data import bioscan1m
from bioscan_lib.data.bioscan1m import (
    DIPTERA,
    EXPERIMENTS,
    N_DIPTERA_FAMILIES,
    NOT_CLASSIFIED,
    experiment_size,
    experiment_task,
    label_column,
)
from bioscan_lib.split.rules import (
    SPLITS,
    class_list,
    class_split_counts,
    class_split_table,
    round_robin_counts,
    split_budgets,
)


def rule_examples(class_sizes: list[int]) -> pd.DataFrame:
    """The train, validation and test counts that the per-class rule gives classes of these sizes."""
    counts = pd.DataFrame(class_split_counts(np.array(class_sizes)), columns=list(SPLITS))
    counts.insert(0, "n", class_sizes)
    counts["left_out"] = counts[list(SPLITS)].sum(axis=1) == 0
    return counts


def split_class_counts(frame: pd.DataFrame, experiment: str) -> pd.DataFrame:
    """Per class of an experiment, in training-index order: index, class, train, validation, test, total."""
    classes = class_list(frame, experiment)
    table = class_split_table(frame, experiment).reindex(classes["class"]).reset_index()
    table.insert(0, "index", classes["index"].to_numpy())
    table["total"] = table[list(SPLITS)].sum(axis=1)
    return table


def _population(frame: pd.DataFrame, experiment: str) -> pd.Series:
    """Samples per class that the experiment could draw on: the task's rows for Large, the Large split otherwise."""
    labels = frame[label_column(experiment)].astype(str)
    if experiment_size(experiment) != "large":
        return class_split_table(frame, f"large_{experiment_task(experiment)}").sum(axis=1)
    candidates = labels != NOT_CLASSIFIED
    if experiment_task(experiment) == "diptera_family":
        candidates &= frame["order"].astype(str) == DIPTERA
    return labels[candidates].value_counts()


def left_out_classes(frame: pd.DataFrame) -> pd.DataFrame:
    """Classes an experiment could have had but has not, with their sample counts and the rule that left them out."""
    parts = []
    for experiment in EXPERIMENTS:
        population = _population(frame, experiment).sort_index().sort_values(ascending=False, kind="stable")
        rank = pd.Series(np.arange(1, len(population) + 1), index=population.index)
        kept = class_split_table(frame, experiment).index
        missing = population[~population.index.isin(kept)]
        if experiment_size(experiment) != "large":
            reason = pd.Series("not drawn from the Large split", index=missing.index)
        else:
            reason = pd.Series(
                np.where(missing < 3, "fewer than 3 samples", "a split would be empty"), index=missing.index
            )
            if experiment_task(experiment) == "diptera_family":
                reason[rank[missing.index] > N_DIPTERA_FAMILIES] = (
                    f"not among the {N_DIPTERA_FAMILIES} largest Diptera families"
                )
        parts.append(
            pd.DataFrame(
                {
                    "experiment": experiment,
                    "class": missing.index,
                    "count": missing.to_numpy(),
                    "reason": reason.to_numpy(),
                }
            )
        )
    return pd.concat(parts, ignore_index=True).astype({"count": np.int64})


def left_out_summary(left_out: pd.DataFrame) -> pd.DataFrame:
    """Left-out classes and their samples per experiment and reason."""
    return (
        left_out.groupby(["experiment", "reason"], sort=False)
        .agg(classes=("class", "size"), samples=("count", "sum"))
        .reset_index()
    )


def emptied_by_trim(frame: pd.DataFrame, medium_size: int, small_size: int) -> pd.DataFrame:
    """Classes a Medium or Small draw of these sizes leaves with no sample of a split although the Large split has
    some: the round-robin's overshoot, taken from the largest classes, can empty them when budgets are small."""
    rows = []
    for experiment in EXPERIMENTS:
        size = {"medium": medium_size, "small": small_size}.get(experiment_size(experiment))
        if size is None:
            continue
        large = f"large_{experiment_task(experiment)}"
        for split, budget in split_budgets(size).items():
            pool = frame.loc[frame[large] == split, label_column(experiment)].astype(str).value_counts().sort_index()
            taken = round_robin_counts(pool.to_numpy(), pool.index.to_numpy(), budget)
            for name, available, drawn in zip(pool.index, pool.to_numpy(), taken):
                if available > 0 and drawn == 0:
                    rows.append({"experiment": experiment, "split": split, "class": name, "large_pool": int(available)})
    return pd.DataFrame(rows, columns=["experiment", "split", "class", "large_pool"])


def split_sizes_against_published(sizes: pd.DataFrame) -> pd.DataFrame:
    """The split-size table beside the one derived from the published counts, with differences (suite - published)."""
    published = pd.DataFrame(bioscan1m.split_sizes()).T.rename_axis("experiment")
    long = sizes.set_index("experiment")[list(published.columns)].stack().rename("suite").to_frame()
    long["published"] = published.stack()
    long["difference"] = long["suite"] - long["published"]
    return long.rename_axis(["experiment", "quantity"]).reset_index()


def plot_split_distribution(counts: pd.DataFrame, experiment: str) -> Figure:
    """Heatmap of samples per class (rows, training-index order) and split (columns), numbers written in."""
    values = counts[list(SPLITS)].to_numpy()
    figure, axes = plt.subplots(figsize=(5.5, 1.6 + 0.24 * len(counts)))
    image = axes.imshow(
        np.where(values > 0, values, np.nan),
        aspect="auto",
        cmap="viridis",
        norm=LogNorm(vmin=1, vmax=max(int(values.max(initial=1)), 2)),
    )
    for (row, column), value in np.ndenumerate(values):
        write_in_cell(axes, row, column, f"{value:,}", "white" if value == 0 else image.cmap(image.norm(value)), 7)
    axes.set_xticks(range(len(SPLITS)), SPLITS)
    axes.set_yticks(
        range(len(counts)), [f"{index}  {name}" for index, name in zip(counts["index"], counts["class"])], fontsize=7
    )
    axes.xaxis.tick_top()
    axes.set_title(f"{experiment}: samples per class and split", fontsize=9, pad=22)
    figure.colorbar(image, ax=axes, label="samples (log scale)", fraction=0.08, pad=0.03)
    return figure
