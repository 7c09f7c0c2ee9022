"""Labelling new photographs with a trained run: top-k labels with probabilities, an uncertainty flag, a gallery."""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from PIL import Image
from sklearn.metrics import roc_auc_score

from bioscan_lib.classify.data import eval_transform, experiment_dataset
from bioscan_lib.classify.metrics import softmax
from bioscan_lib.classify.plots import reliability_figure
from bioscan_lib.classify.test import checked_classes, load_best
from bioscan_lib.config import run_config
from bioscan_lib.core.figures import image_grid
from bioscan_lib.core.files import write_text_atomic
from bioscan_lib.core.paths import resolve_path
from bioscan_lib.core.runs import THRESHOLD_FILE, RunFolder
from bioscan_lib.data.images import PhotoPaths, PhotoSource, decode_image
from bioscan_lib.engine import make_loader, predict, start_runtime
from bioscan_lib.preprocess.crop import SpecimenCropper, displayed_size
from bioscan_lib.preprocess.process import DECODE_ERRORS, READ_ERRORS, describe_problem
from bioscan_lib.split.rules import split_folder

FULL_SIZE_FACTOR = 4  # a shorter side this many times the model's input size looks like an uncropped photograph
FULL_SIZE_PROBES = 5  # photographs whose size is read for that check
CONFIDENT_SHARE = 0.95  # the threshold keeps this share of the run's validation photographs confident
RELIABILITY_BINS = 10  # equal-width confidence bins of the reliability diagram


class PhotoDataset:
    """Photographs of a source as model inputs, optionally cut out with the crop tool first."""

    def __init__(self, source: PhotoSource, names: list[str], transform, crop: bool = False):

        self.source, self.names, self.transform = source, names, transform
        self.cropper = SpecimenCropper() if crop else None

    def __len__(self) -> int:
        return len(self.names)

    def image(self, index: int):
        """The photograph as the model sees it before the transform (cropped if asked)."""
        data = self.source.read(self.names[index])
        return decode_image(self.cropper(data)[0] if self.cropper else data)

    def problem(self, index: int) -> str:
        """Why a photograph cannot be labelled (unreadable, not an image, refused), or "" when it can."""
        try:
            self.image(index)
        except (*DECODE_ERRORS, *READ_ERRORS) as error:
            return describe_problem(error)
        return ""

    def __getitem__(self, index: int):
        """The transformed photograph and its index; an unreadable one gives a black stand-in and -(index + 1)."""
        try:
            return self.transform(self.image(index)), index
        except (*DECODE_ERRORS, *READ_ERRORS):
            return self.transform(Image.new("RGB", (8, 8))), -(index + 1)


def as_source(source: PhotoSource | PhotoPaths) -> PhotoSource:
    """`source` itself if it is a PhotoSource, else the photographs at its path(s)."""
    return source if isinstance(source, PhotoSource) else PhotoSource(source)


def full_size_side(photos: PhotoSource, image_size: int) -> int | None:
    """The shorter side of the first photographs when it is far above the model's input size, else None."""
    sides = []
    for name in photos.names()[:FULL_SIZE_PROBES]:
        try:
            sides.append(min(displayed_size(photos.read(name))))  # the header only: no pixel is decoded
        except (*DECODE_ERRORS, *READ_ERRORS):  # listed as a problem when labelled
            continue
    side = min(sides, default=0)
    return side if side >= FULL_SIZE_FACTOR * image_size else None


def run_classes(run_dir: str | os.PathLike) -> list[str]:
    """The class names of a run, by class index (checked against its split's class list)."""
    run = RunFolder(run_dir)
    return checked_classes(run, run_config(run))


def _probabilities(run_dir: Path, dataset, batch_size: int, workers: int) -> tuple[np.ndarray, np.ndarray]:
    """Softmax probabilities of the run's best checkpoint over a dataset, in order, and the second item of each
    sample (negative for a photograph that could not be read)."""

    config = run_config(RunFolder(run_dir))
    runtime = start_runtime(config, config.channels_last)
    model, _ = load_best(run_dir, len(run_classes(run_dir)), runtime)
    logits, targets = predict(model, make_loader(dataset, batch_size, workers), runtime, description="labelling")
    return softmax(logits), targets


def confidence_threshold(
    run_dir: str | os.PathLike, batch_size: int = 64, workers: int = 0, refresh: bool = False
) -> float:
    """The top-1 probability below which a prediction is flagged uncertain, chosen on the run's validation split.

    It keeps `CONFIDENT_SHARE` of the validation photographs confident; kept in the run folder unless `refresh`.
    """
    run_dir = Path(run_dir)
    run = RunFolder(run_dir)
    stored = run.file(THRESHOLD_FILE)
    if stored.is_file() and not refresh:
        return float(run.json(THRESHOLD_FILE, "")["threshold"])

    config = run_config(run)
    dataset = experiment_dataset(
        resolve_path(config.data_root),
        split_folder(resolve_path(config.output_dir)),
        config.experiment,
        "validation",
        config.package,
        eval_transform(config.image_size, config.crop_size, config.normalize),
    )
    confidence = _probabilities(run_dir, dataset, batch_size, workers)[0].max(axis=1)
    threshold = float(np.quantile(confidence, 1.0 - CONFIDENT_SHARE))
    write_text_atomic(
        stored,
        json.dumps(
            {"threshold": threshold, "confident_share": CONFIDENT_SHARE, "validation_samples": int(len(confidence))},
            indent=2,
        )
        + "\n",
    )
    return threshold


def predict_photographs(
    run_dir: str | os.PathLike,
    source: PhotoSource | PhotoPaths,
    crop: bool = False,
    top_k: int = 3,
    threshold: float | None = None,
    batch_size: int = 64,
    workers: int = 0,
) -> pd.DataFrame:
    """One row per photograph: the top-k labels and probabilities, the confidence, the uncertainty flag, and why it
    could not be labelled (`problem`, empty for those labelled; their labels are left empty)."""

    run_dir = Path(run_dir)
    config, classes = run_config(RunFolder(run_dir)), run_classes(run_dir)
    photos = as_source(source)
    if not crop and (side := full_size_side(photos, config.image_size)):
        warnings.warn(
            f"{photos}: photographs of {side} px on the shorter side look full-size, and the run was trained on "
            f"crops resized to {config.image_size} px; without --crop (crop_first) the labels will be unreliable",
            stacklevel=2,
        )
    dataset = PhotoDataset(
        photos, photos.names(), eval_transform(config.image_size, config.crop_size, config.normalize), crop
    )
    probabilities, indices = _probabilities(run_dir, dataset, batch_size, workers)
    unread = indices < 0
    k = min(top_k, len(classes))
    ranked = np.argsort(-probabilities, axis=1, kind="stable")[:, :k]
    table = pd.DataFrame({"image_file": dataset.names})
    for rank in range(k):
        table[f"label_{rank + 1}"] = [None if bad else classes[i] for i, bad in zip(ranked[:, rank], unread)]
        table[f"probability_{rank + 1}"] = np.where(
            unread, np.nan, probabilities[np.arange(len(table)), ranked[:, rank]]
        )
    table["confidence"] = table["probability_1"]
    limit = confidence_threshold(run_dir, batch_size, workers) if threshold is None else threshold
    table["uncertain"] = (table["confidence"] < limit) | unread
    table["problem"] = [dataset.problem(index) if bad else "" for index, bad in enumerate(unread)]
    return table


def labelled(predictions: pd.DataFrame) -> pd.DataFrame:
    """The rows of photographs that could be labelled (no `problem`)."""
    if "problem" not in predictions:
        return predictions
    return predictions[predictions["problem"].fillna("") == ""]


def with_truth(predictions: pd.DataFrame, labels: pd.DataFrame, label_column: str = "order") -> pd.DataFrame:
    """Predictions beside the true label: `true_<label>`, `seen_<label>` (a class the model knows) and `correct`."""
    truth = labels[["image_file", label_column, f"seen_{label_column}"]].rename(
        columns={label_column: f"true_{label_column}"}
    )
    earlier = [f"true_{label_column}", f"seen_{label_column}", "correct"]
    merged = predictions.drop(columns=earlier, errors="ignore").merge(
        truth, on="image_file", how="left", validate="one_to_one"
    )
    merged["correct"] = merged["label_1"] == merged[f"true_{label_column}"]
    return merged


def heldout_scores(predictions: pd.DataFrame, labels: pd.DataFrame, label_column: str = "order") -> pd.DataFrame:
    """Accuracy on photographs of known classes, flag rates (percent), and how well low confidence singles out
    the unseen classes: AUROC, and recall (the share of them flagged) at the chosen threshold."""

    merged = with_truth(labelled(predictions), labels, label_column)
    seen = merged[f"seen_{label_column}"].astype(bool)
    auroc = roc_auc_score(~seen, -merged["confidence"]) if seen.any() and (~seen).any() else np.nan
    return pd.DataFrame(
        [
            {"measure": "photographs of known orders", "value": int(seen.sum())},
            {"measure": "photographs of unseen orders", "value": int((~seen).sum())},
            {"measure": "top-1 accuracy on known orders (%)", "value": _percent(merged.loc[seen, "correct"])},
            {
                "measure": "unseen orders flagged uncertain: recall at the threshold (%)",
                "value": _percent(merged.loc[~seen, "uncertain"]),
            },
            {
                "measure": "known orders flagged uncertain: false alarms at the threshold (%)",
                "value": _percent(merged.loc[seen, "uncertain"]),
            },
            {"measure": "AUROC of low confidence for unseen orders (0.5: chance)", "value": round(float(auroc), 4)},
        ]
    )


def reliability_table(predictions: pd.DataFrame, bins: int = RELIABILITY_BINS) -> pd.DataFrame:
    """Labelled photographs with the truth (`with_truth`) in equal-width bins of confidence: per bin its bounds, its
    photographs, their mean confidence and their accuracy (a photograph of an unseen class counts as wrong)."""
    shown = labelled(predictions)
    edges = np.linspace(0, 1, bins + 1)
    which = np.digitize(shown["confidence"].to_numpy(), edges[1:-1])  # bin i holds [edges[i], edges[i + 1])
    grouped = shown.groupby(which)
    table = pd.DataFrame({"low": edges[:-1], "high": edges[1:]})
    table["photographs"] = grouped.size().reindex(range(bins), fill_value=0).to_numpy()
    table["confidence"] = grouped["confidence"].mean().reindex(range(bins)).to_numpy()
    table["accuracy"] = grouped["correct"].mean().reindex(range(bins)).to_numpy()
    return table


def expected_calibration_error(bins: pd.DataFrame) -> float:
    """The photographs' mean gap between confidence and accuracy, bin by bin (a `reliability_table`)."""
    gaps = (bins["accuracy"] - bins["confidence"]).abs().fillna(0)
    return float((gaps * bins["photographs"]).sum() / bins["photographs"].sum())


def reliability_diagram(predictions: pd.DataFrame, threshold: float) -> Figure:
    """Accuracy against confidence of the labelled photographs (`with_truth`), the uncertainty threshold marked."""
    bins = reliability_table(predictions)
    return reliability_figure(bins, threshold, expected_calibration_error(bins))


def _percent(flags: pd.Series) -> float:
    return round(100 * float(flags.astype(bool).mean()), 2) if len(flags) else float("nan")


def _gallery_title(row) -> str:
    """`label probability`, `?` when flagged, and where the truth is known the true label after a tick or cross."""
    title = f"{row.label_1} {row.probability_1:.2f}" + (" ?" if row.uncertain else "")
    truth = getattr(row, "true_order", None)
    if not isinstance(truth, str):
        return title
    if not row.seen_order:
        return f"{title}\n✗ unseen: {truth}"
    return f"{title}\n✓" if row.correct else f"{title}\n✗ true: {truth}"


def gallery(
    predictions: pd.DataFrame, source: PhotoSource | PhotoPaths, count: int = 12, crop: bool = False, columns: int = 6
):
    """The first `count` photographs with their top label and probability (`?`: flagged uncertain) and, where the
    table has the truth (`with_truth`), a tick or a cross and the true label; wrong ones titled in red."""

    photos = as_source(source)
    shown = labelled(predictions).head(count)
    dataset = PhotoDataset(photos, shown["image_file"].tolist(), transform=None, crop=crop)
    figure = image_grid([dataset.image(i) for i in range(len(shown))], [_gallery_title(r) for r in shown.itertuples()])
    wrong = ~shown["correct"] if "correct" in shown else shown["uncertain"]
    for axis, flagged in zip(figure.axes, wrong):
        axis.title.set_color("tab:red" if flagged else "black")
    return figure
