"""This profile's open-world scores beside the later work's published figures, and as a figure."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from bioscan_lib.data.later_work import DNA_TO_DNA, published_open_world
from bioscan_lib.open_world.retrieval import MAJORITY, RANKS, SEEN_TRAINING

SEARCH = ["task", "queries_split", "keys_split", "rank"]
TEST_SEARCHES = ("test_seen", "test_unseen")


def beside_published(scores: pd.DataFrame, task: str = DNA_TO_DNA) -> pd.DataFrame:
    """Each published figure, then this profile's micro and macro accuracy (percent) of every encoder on the same
    search: the same query and key splits at the same rank."""
    ours = scores.assign(task=task, micro=100 * scores["micro"], macro=100 * scores["macro"])
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


def accuracy_figure(scores: pd.DataFrame):
    """Micro accuracy per rank of every encoder on the test queries, seen species beside unseen (CLIBD's searches)."""
    tests = scores[scores["queries_split"].isin(TEST_SEARCHES) & (scores["keys_split"] != SEEN_TRAINING)]
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
