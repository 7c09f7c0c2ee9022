"""The paper's test metrics: micro and macro top-k accuracy, F1, average-k accuracy, per-class accuracy, confusion
matrix; and what the confusion matrix tells per class: its shares, precision, recall and F1, the largest confusions."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.metrics import confusion_matrix, f1_score

from bioscan_lib.config import AVERAGE_K_RULES

TOPK = (1, 3, 5, 10)


def _check(scores: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    scores, labels = np.asarray(scores, dtype=np.float64), np.asarray(labels, dtype=np.int64)
    if scores.ndim != 2 or len(scores) != len(labels):
        raise ValueError(
            f"scores must be (samples, classes) with one label per sample; got {scores.shape} and {labels.shape}"
        )
    if len(labels) and (labels.min() < 0 or labels.max() >= scores.shape[1]):
        raise ValueError(f"labels must lie in 0..{scores.shape[1] - 1}; got {labels.min()}..{labels.max()}")
    return scores, labels


def topk_hits(scores: np.ndarray, labels: np.ndarray, k: int) -> np.ndarray:
    """Per sample: whether its label is among the k highest scores (ties broken by class index)."""
    scores, labels = _check(scores, labels)
    top = np.argsort(-scores, axis=1, kind="stable")[:, : min(k, scores.shape[1])]
    return (top == labels[:, None]).any(axis=1)


def micro_topk(scores: np.ndarray, labels: np.ndarray, k: int) -> float:
    """Share of samples whose label is among the k highest scores."""
    return float(topk_hits(scores, labels, k).mean())


def per_class_topk(scores: np.ndarray, labels: np.ndarray, k: int) -> np.ndarray:
    """Top-k accuracy of each class (one per column of `scores`); NaN for a class with no sample."""
    scores, labels = _check(scores, labels)
    hits = topk_hits(scores, labels, k)
    n_classes = scores.shape[1]
    totals = np.bincount(labels, minlength=n_classes)
    correct = np.bincount(labels, weights=hits, minlength=n_classes)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(totals > 0, correct / np.maximum(totals, 1), np.nan)


def macro_topk(scores: np.ndarray, labels: np.ndarray, k: int, present_only: bool = False) -> float:
    """Mean per-class top-k accuracy; as the paper, divided by every class of the experiment (absent ones count 0).

    With `present_only`, the mean over classes that have at least one sample.
    """
    per_class = per_class_topk(scores, labels, k)
    return float(np.nanmean(per_class)) if present_only else float(np.nansum(per_class) / len(per_class))


def f1_micro_macro(labels: np.ndarray, predictions: np.ndarray) -> tuple[float, float]:
    """F1 of the top-1 predictions, micro and macro (scikit-learn, over the classes seen in labels or predictions)."""
    micro = f1_score(labels, predictions, average="micro", zero_division=0)
    macro = f1_score(labels, predictions, average="macro", zero_division=0)
    return float(micro), float(macro)


def softmax(scores: np.ndarray) -> np.ndarray:
    """Row-wise softmax of logits."""
    shifted = np.asarray(scores, dtype=np.float64) - np.max(scores, axis=1, keepdims=True)
    exponentials = np.exp(shifted)
    return exponentials / exponentials.sum(axis=1, keepdims=True)


def average_k_threshold(probabilities: np.ndarray, k: float) -> float:
    """The threshold lambda under which, on average, k classes per sample score above it (PlantNet-300K's average-k).

    Halfway between the (k n)-th and (k n + 1)-th largest of all n x classes probabilities, so exactly
    round(k n) of them exceed it.
    """
    values = np.sort(np.asarray(probabilities, dtype=np.float64).ravel())[::-1]
    count = int(round(k * len(probabilities)))
    if not 0 < count < len(values):
        raise ValueError(
            f"average-k needs 0 < k < number of classes; got k={k} for {np.shape(probabilities)} probabilities"
        )
    return float((values[count - 1] + values[count]) / 2)


def published_average_k_threshold(probabilities: np.ndarray, k: int) -> float:
    """The released code's lambda (`new_app` in its epoch.py): the mean of the k-th largest probability of the first
    and of the last validation sample, so it depends on the order of the validation set."""
    ranked = -np.sort(-np.asarray(probabilities, dtype=np.float64), axis=1)
    if len(ranked) == 0 or not 0 < k <= ranked.shape[1]:
        raise ValueError(f"average-k needs 0 < k <= number of classes; got k={k} for {ranked.shape} probabilities")
    return float((ranked[0, k - 1] + ranked[-1, k - 1]) / 2)


def average_k_accuracy(probabilities: np.ndarray, labels: np.ndarray, threshold: float) -> float:
    """Share of samples whose true class's probability is at least the threshold (`>=`, as the published code)."""
    probabilities, labels = _check(probabilities, labels)
    return float((probabilities[np.arange(len(labels)), labels] >= threshold).mean())


def confusion(labels: np.ndarray, predictions: np.ndarray, n_classes: int) -> np.ndarray:
    """Confusion matrix: rows true class, columns predicted class, over all `n_classes` classes."""
    return confusion_matrix(labels, predictions, labels=np.arange(n_classes))


def row_shares(matrix: np.ndarray) -> np.ndarray:
    """Each row of a confusion matrix divided by its sum: the share of the true class given each prediction (NaN for
    a class without samples)."""
    counts = np.asarray(matrix, dtype=np.float64)
    totals = counts.sum(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(totals > 0, counts / np.maximum(totals, 1), np.nan)


def precision_recall_f1(matrix: np.ndarray) -> pd.DataFrame:
    """Per class (one row per row of a confusion matrix): precision, recall and F1 of its top-1 predictions; NaN where
    a ratio has nothing to count (precision of a class never predicted, recall of one without samples)."""
    counts = np.asarray(matrix, dtype=np.float64)
    hits, true, predicted = np.diag(counts), counts.sum(axis=1), counts.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return pd.DataFrame(
            {
                "precision": np.where(predicted > 0, hits / predicted, np.nan),
                "recall": np.where(true > 0, hits / true, np.nan),
                "f1": np.where(true + predicted > 0, 2 * hits / (true + predicted), np.nan),
            }
        )


def top_confusions(matrix: np.ndarray, classes: list[str], count: int = 10) -> pd.DataFrame:
    """The `count` largest off-diagonal cells of a confusion matrix: true and predicted class, samples and their share
    of the true class; most samples first, then largest share, then class index."""
    counts = np.asarray(matrix)
    true, predicted = np.nonzero(counts * (1 - np.eye(len(counts), dtype=counts.dtype)))
    table = pd.DataFrame(
        {
            "true": np.asarray(classes, dtype=object)[true],
            "predicted": np.asarray(classes, dtype=object)[predicted],
            "samples": counts[true, predicted],
            "share_of_true": row_shares(counts)[true, predicted],
        }
    )
    return (
        table.sort_values(["samples", "share_of_true"], ascending=False, kind="stable")
        .head(count)
        .reset_index(drop=True)
    )


def classification_metrics(
    scores: np.ndarray,
    labels: np.ndarray,
    validation_scores: np.ndarray | None = None,
    validation_labels: np.ndarray | None = None,
    ks: tuple[int, ...] = TOPK,
    average_k_rule: str = AVERAGE_K_RULES[0],
) -> dict[str, float]:
    """Every metric of the paper as fractions: top-k, macro top-k (paper and present-classes), F1, average-k.

    Average-k (for each k) is computed only when validation scores are given: its threshold comes from them, by
    PlantNet-300K's rule (`plantnet`) or the released code's first-and-last-sample rule (`published`).
    """
    if average_k_rule not in AVERAGE_K_RULES:
        raise ValueError(f"Unknown average-k rule {average_k_rule!r}; choose one of {', '.join(AVERAGE_K_RULES)}.")
    choose = average_k_threshold if average_k_rule == AVERAGE_K_RULES[0] else published_average_k_threshold
    scores, labels = _check(scores, labels)
    n_classes = scores.shape[1]
    ks = tuple(k for k in ks if k <= n_classes)
    result: dict[str, float] = {
        "samples": float(len(labels)),
        "classes": float(n_classes),
        "classes_present": float(len(np.unique(labels))),
    }
    for k in ks:
        result[f"top{k}"] = micro_topk(scores, labels, k)
        result[f"macro_top{k}"] = macro_topk(scores, labels, k)
        result[f"macro_present_top{k}"] = macro_topk(scores, labels, k, present_only=True)
    result["f1_micro"], result["f1_macro"] = f1_micro_macro(labels, scores.argmax(axis=1))
    if validation_scores is not None and validation_labels is not None:
        validation_probabilities, probabilities = softmax(validation_scores), softmax(scores)
        for k in (k for k in ks if k < n_classes):
            threshold = choose(validation_probabilities, k)
            result[f"average_k{k}_threshold"] = threshold
            result[f"average_k{k}"] = average_k_accuracy(probabilities, labels, threshold)
    return result
