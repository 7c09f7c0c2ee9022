"""This profile's open-world scores beside the later work's published figures, and as a figure."""

from __future__ import annotations

import os

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from bioscan_lib.data.later_work import published_open_world
from bioscan_lib.open_world import outputs
from bioscan_lib.open_world.encoders import Encoder
from bioscan_lib.open_world.retrieval import MAJORITY, RANKS, SEEN_TRAINING, open_world_scores, partition_counts

SEARCH = ["task", "queries_split", "keys_split", "rank"]
TEST_SEARCHES = ("test_seen", "test_unseen")


def beside_published(scores: pd.DataFrame) -> pd.DataFrame:
    """Each published figure, then this profile's micro and macro accuracy (percent) of every encoder on the same
    search: the same task, query and key splits at the same rank."""
    ours = scores.assign(micro=100 * scores["micro"], macro=100 * scores["macro"])
    wide = ours.pivot_table(index=SEARCH, columns="encoder", values=["micro", "macro"], sort=False)
    wide.columns = [f"{encoder}: {average}" for average, encoder in wide.columns]
    order = [
        f"{e}: {a}"
        for e in dict.fromkeys([*ours["encoder"][ours["encoder"] != MAJORITY], MAJORITY])
        for a in ("micro", "macro")
    ]
    wide = wide.reindex(columns=[column for column in order if column in wide.columns])
    published = published_open_world().rename(columns={"encoder": "published encoder", "value": "published"})
    return published.merge(wide.round(2).reset_index(), on=SEARCH, how="left")


def accuracy_figure(scores: pd.DataFrame) -> Figure:
    """Micro accuracy per rank of every encoder on the test queries, seen species beside unseen (CLIBD's searches)."""
    tests = scores[scores["queries_split"].isin(TEST_SEARCHES) & (scores["keys_split"] != SEEN_TRAINING)]
    tests = tests.drop_duplicates(["encoder", "queries_split", "rank"])  # the majority answer is every task's
    figure, axes = plt.subplots(1, len(TEST_SEARCHES), figsize=(10, 3.8), sharey=True, layout="constrained")
    encoders = list(dict.fromkeys(tests["encoder"]))
    width = 0.8 / max(len(encoders), 1)
    for axis, split in zip(axes, TEST_SEARCHES):
        part = tests[tests["queries_split"] == split]
        for index, encoder in enumerate(encoders):
            rows = part[part["encoder"] == encoder].set_index("rank").reindex(list(RANKS))
            axis.bar(
                np.arange(len(RANKS)) + (index - (len(encoders) - 1) / 2) * width, rows["micro"], width, label=encoder
            )
        axis.set_xticks(np.arange(len(RANKS)), RANKS)
        axis.set_title(f"{split} queries")
        axis.set_ylim(0, 1.05)
    axes[0].set_ylabel("1-NN micro accuracy")
    figure.legend(
        *axes[0].get_legend_handles_labels(), loc="outside upper center", ncols=min(len(encoders), 3), frameon=False
    )
    return figure


def scores_by_task(frame: pd.DataFrame, by_task: dict[str, dict[str, Encoder]]) -> pd.DataFrame:
    """Every encoder's scores, task by task (a task without an encoder is left out)."""
    return pd.concat(
        [open_world_scores(frame, chosen, task) for task, chosen in by_task.items() if chosen], ignore_index=True
    )


def write_open_world(
    frame: pd.DataFrame, by_task: dict[str, dict[str, Encoder]], out_dir: str | os.PathLike
) -> tuple[pd.DataFrame, pd.DataFrame, Figure]:
    """Score every encoder of each task on `frame`'s partition and write the stage's tables and figure; the scores,
    the table beside the published figures and the figure."""
    outputs.CLIBD_PARTITION_COUNTS.save(partition_counts(frame), out_dir)
    scores = scores_by_task(frame, by_task)
    outputs.OPEN_WORLD_SCORES.save(scores, out_dir)
    beside = beside_published(scores)
    outputs.OPEN_WORLD_PUBLISHED.save(beside, out_dir)
    figure = accuracy_figure(scores)
    outputs.OPEN_WORLD_FIGURE.save(figure, out_dir)
    return scores, beside, figure
