"""DNA beside images: one results table over the DNA runs, the image runs of notebook 07 and Table 3, the 2 x 2
count of test specimens each gets right, and per-class top-1 side by side."""

from __future__ import annotations

import os
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from bioscan_lib.classify.test import PAPER_COLUMNS, published_table, read_test_metrics
from bioscan_lib.config import BarcodeCnnConfig, KmerConfig, run_config
from bioscan_lib.core.figures import image_grid
from bioscan_lib.core.paths import resolve_path
from bioscan_lib.core.runs import PER_CLASS_CSV, PREDICTIONS_CSV, RunFolder
from bioscan_lib.data.bioscan1m import CHUNK_COLUMN, IMAGE_COLUMN
from bioscan_lib.data.images import decode_image, open_package

UNSEEN_COLUMNS = ("top1_unseen_bins", "samples_unseen_bins")
PUBLISHED_SOURCE = "paper: vit_base_patch16_224 ce (Table 3)"


def dna_results(folders: list[Path]) -> pd.DataFrame:
    """One row per DNA run: experiment, source, the paper's columns and top-1 on unseen BINs (percent)."""
    rows = []
    for folder in folders:
        run = RunFolder(folder)
        kind = KmerConfig if "kmer" in run.params else BarcodeCnnConfig
        config, scores = run_config(run, kind), read_test_metrics(folder)
        row = {"experiment": config.experiment, "source": f"DNA: {config.method}", "run": folder.name}
        row |= {column: 100 * scores[column] for column in PAPER_COLUMNS}
        top1, samples = UNSEEN_COLUMNS
        row |= {top1: 100 * scores[top1], samples: scores[samples]}
        rows.append(row)
    return pd.DataFrame(rows)


def beside_images(dna: pd.DataFrame, image_results: pd.DataFrame | None) -> pd.DataFrame:
    """The DNA rows, the image runs of the same experiments (notebook 07's `test_results`) and Table 3's row."""
    parts = [dna]
    if image_results is not None and len(image_results):
        images = image_results[image_results["experiment"].isin(dna["experiment"])]
        name = "image: " + images["model"] + " " + images["loss"] + " s" + images["seed"].astype(str)
        name = name.where(images["origin"] == "trained", name + " (released checkpoint)")
        parts.append(images.assign(source=name)[["experiment", "source", "run", *PAPER_COLUMNS]])
    paper = published_table()
    published = paper[paper["experiment"].isin(dna["experiment"])].assign(source=PUBLISHED_SOURCE, run="")
    parts.append(published[["experiment", "source", "run", *PAPER_COLUMNS]])
    table = pd.concat(parts, ignore_index=True)
    order = {name: i for i, name in enumerate(dict.fromkeys(dna["experiment"]))}
    table = table.sort_values("experiment", key=lambda e: e.map(order), kind="stable").reset_index(drop=True)
    return table[["experiment", "source", *PAPER_COLUMNS, *UNSEEN_COLUMNS, "run"]]


def image_runs(image_results: pd.DataFrame | None, experiments: list[str]) -> dict[str, str]:
    """Per experiment of `experiments`, the first trained image run notebook 07 tested (none without results)."""
    if image_results is None:
        return {}
    trained = image_results[(image_results["origin"] == "trained") & image_results["experiment"].isin(experiments)]
    return dict(trained.drop_duplicates("experiment")[["experiment", "run"]].itertuples(index=False))


def agreement(dna_folder: str | os.PathLike, image_folder: str | os.PathLike) -> pd.DataFrame:
    """Test specimens of both runs counted by which gets them right: both, DNA only, image only, neither."""
    dna = pd.read_csv(Path(dna_folder) / PREDICTIONS_CSV)
    image = pd.read_csv(Path(image_folder) / PREDICTIONS_CSV)
    both = dna.merge(image, on=IMAGE_COLUMN, suffixes=("_dna", "_image"))
    rows, columns = ["DNA right", "DNA wrong"], ["image right", "image wrong"]
    dna_right = (both["predicted_dna"] == both["true_dna"]).map({True: rows[0], False: rows[1]})
    image_right = (both["predicted_image"] == both["true_image"]).map({True: columns[0], False: columns[1]})
    counts = pd.crosstab(dna_right, image_right).reindex(index=rows, columns=columns, fill_value=0)
    return counts.rename_axis(index=None, columns=None).reset_index(names="test specimens")


def dna_right_image_wrong(dna_folder: str | os.PathLike, image_folder: str | os.PathLike, count: int):
    """A gallery of the test specimens the DNA run gets right and the image run gets wrong (up to `count`, in
    prediction order) from the image run's package, each titled with its class and what the image model said; None
    when there are none."""
    dna = pd.read_csv(Path(dna_folder) / PREDICTIONS_CSV)
    image = pd.read_csv(Path(image_folder) / PREDICTIONS_CSV)
    both = dna.merge(image, on=[IMAGE_COLUMN, CHUNK_COLUMN], suffixes=("_dna", "_image"))
    chosen = both[(both["predicted_dna"] == both["true_dna"]) & (both["predicted_image"] != both["true_image"])]
    if chosen.empty:
        return None
    shown = chosen.head(count)
    trained = run_config(RunFolder(image_folder))
    opened = open_package(resolve_path(trained.data_root) / trained.package)
    try:
        photographs = [decode_image(opened.read(row.image_file, row.chunk_number), 128) for row in shown.itertuples()]
    finally:
        opened.close()
    titles = [f"{row.true_dna}\nimage: {row.predicted_image}" for row in shown.itertuples()]
    return image_grid(photographs, titles)


def per_class_figure(dna_folder: str | os.PathLike, image_folder: str | os.PathLike, title: str):
    """Per-class test top-1 of the DNA run and the image run, side by side."""
    dna = pd.read_csv(Path(dna_folder) / PER_CLASS_CSV)
    image = pd.read_csv(Path(image_folder) / PER_CLASS_CSV)
    figure, axis = plt.subplots(figsize=(max(6, 0.35 * len(dna)), 4.4), layout="constrained")
    positions = np.arange(len(dna))
    axis.bar(positions - 0.2, dna["top1"], 0.4, label="DNA barcode")
    axis.bar(positions + 0.2, image.set_index("class").reindex(dna["class"])["top1"].to_numpy(), 0.4, label="image")
    axis.set_xticks(positions, dna["class"], rotation=90)
    axis.set_ylabel("test top-1")
    axis.set_ylim(0, 1.05)
    axis.set_title(title)
    figure.legend(loc="outside upper center", ncols=2, frameon=False)
    return figure
