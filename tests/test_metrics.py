"""The test metrics against hand-computed examples, including a class with no test sample."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import precision_recall_fscore_support

from bioscan_lib.classify import metrics

# Four classes; class 3 has no sample. The label ranks first in sample 0, second in sample 1, last (fourth) in sample 2.
SCORES = np.array([[0.5, 0.3, 0.1, 0.1], [0.6, 0.3, 0.05, 0.05], [0.3, 0.25, 0.05, 0.4]])
LABELS = np.array([0, 1, 2])


def test_micro_topk_counts_samples_whose_label_is_among_the_k_best() -> None:
    assert metrics.micro_topk(SCORES, LABELS, 1) == pytest.approx(1 / 3)
    assert metrics.micro_topk(SCORES, LABELS, 2) == pytest.approx(2 / 3)
    assert metrics.micro_topk(SCORES, LABELS, 3) == pytest.approx(2 / 3)
    assert metrics.micro_topk(SCORES, LABELS, 4) == pytest.approx(1.0)


def test_per_class_topk_is_nan_for_a_class_without_samples() -> None:
    per_class = metrics.per_class_topk(SCORES, LABELS, 1)
    np.testing.assert_array_equal(per_class[:3], [1.0, 0.0, 0.0])
    assert np.isnan(per_class[3])


def test_macro_topk_divides_by_every_class_as_the_paper_or_by_present_ones() -> None:
    assert metrics.macro_topk(SCORES, LABELS, 1) == pytest.approx(1 / 4)
    assert metrics.macro_topk(SCORES, LABELS, 1, present_only=True) == pytest.approx(1 / 3)
    assert metrics.macro_topk(SCORES, LABELS, 3) == pytest.approx(2 / 4)
    assert metrics.macro_topk(SCORES, LABELS, 3, present_only=True) == pytest.approx(2 / 3)


def test_f1_of_top1_predictions() -> None:
    # predictions 0, 0, 3: class 0 has precision 1/2 and recall 1 (F1 2/3); classes 1, 2 and 3 have F1 0.
    micro, macro = metrics.f1_micro_macro(LABELS, SCORES.argmax(axis=1))
    assert micro == pytest.approx(1 / 3)
    assert macro == pytest.approx((2 / 3) / 4)


def test_average_k_threshold_from_validation_then_accuracy_on_test() -> None:
    validation = np.array([[0.7, 0.2, 0.1], [0.5, 0.4, 0.1]])
    # k = 1 and 2 samples: two probabilities must pass; halfway between the 2nd (0.5) and 3rd (0.4) largest.
    threshold = metrics.average_k_threshold(validation, 1)
    assert threshold == pytest.approx(0.45)
    test = np.array([[0.6, 0.3, 0.1], [0.3, 0.3, 0.4]])
    assert metrics.average_k_accuracy(test, np.array([0, 2]), threshold) == pytest.approx(0.5)
    with pytest.raises(ValueError, match="average-k"):
        metrics.average_k_threshold(validation, 3)


def test_average_k_counts_a_probability_equal_to_the_threshold_as_a_hit() -> None:
    probabilities = np.array([[0.5, 0.5], [0.25, 0.75]])
    assert metrics.average_k_accuracy(probabilities, np.array([0, 0]), 0.5) == pytest.approx(0.5)


def test_published_average_k_rule_uses_the_first_and_last_validation_samples() -> None:
    validation = np.array([[0.1, 0.7, 0.2], [0.6, 0.3, 0.1], [0.3, 0.3, 0.4]])
    # k-th largest of the first sample (0.7, 0.2) and of the last (0.4, 0.3); the middle sample plays no part.
    assert metrics.published_average_k_threshold(validation, 1) == pytest.approx(0.55)
    assert metrics.published_average_k_threshold(validation, 2) == pytest.approx(0.25)
    reordered = metrics.published_average_k_threshold(validation[[1, 0, 2]], 1)
    assert reordered == pytest.approx(0.5), "the published rule depends on the validation order"
    logits, labels = np.log(validation), np.array([1, 0, 2])  # softmax gives the probabilities back
    result = metrics.classification_metrics(logits, labels, logits, labels, (1,), "published")
    assert result["average_k1_threshold"] == pytest.approx(0.55)
    assert result["average_k1"] == pytest.approx(2 / 3)  # 0.7 and 0.6 pass 0.55; 0.4 does not
    with pytest.raises(ValueError, match="average-k rule"):
        metrics.classification_metrics(logits, labels, logits, labels, (1,), "mean")


def test_confusion_matrix_has_a_row_and_column_for_every_class() -> None:
    matrix = metrics.confusion(LABELS, SCORES.argmax(axis=1), 4)
    np.testing.assert_array_equal(matrix, [[1, 0, 0, 0], [1, 0, 0, 0], [0, 0, 0, 1], [0, 0, 0, 0]])


# a made-up test of three classes (rows true, columns predicted); C has no sample
MADE_UP = np.array([[6, 3, 1], [2, 8, 0], [0, 0, 0]])


def test_row_shares_sum_to_one_per_class_with_samples() -> None:
    shares = metrics.row_shares(MADE_UP)
    np.testing.assert_allclose(shares[:2].sum(axis=1), [1, 1])
    np.testing.assert_allclose(shares[0], [0.6, 0.3, 0.1])
    assert np.isnan(shares[2]).all(), "a class without samples has no shares"


def test_precision_recall_and_f1_per_class_agree_with_scikit_learn() -> None:
    labels = np.repeat([0, 0, 0, 1, 1, 1], [6, 3, 1, 2, 8, 0])
    predictions = np.repeat([0, 1, 2, 0, 1, 2], [6, 3, 1, 2, 8, 0])
    scores = metrics.precision_recall_f1(metrics.confusion(labels, predictions, 3))
    expected = precision_recall_fscore_support(labels, predictions, labels=[0, 1, 2], zero_division=np.nan)
    for column, values in zip(["precision", "recall", "f1"], expected[:3]):
        np.testing.assert_allclose(scores[column].to_numpy()[:2], values[:2], err_msg=column)
    assert scores.loc[2, "precision"] == 0 and np.isnan(scores.loc[2, "recall"]) and scores.loc[2, "f1"] == 0
    assert np.nanmean(scores["f1"]) == pytest.approx(metrics.f1_micro_macro(labels, predictions)[1])


def test_top_confusions_are_the_largest_off_diagonal_cells_sorted() -> None:
    table = metrics.top_confusions(MADE_UP, ["A", "B", "C"], count=2)
    assert table.to_dict("list") == {
        "true": ["A", "B"],
        "predicted": ["B", "A"],
        "samples": [3, 2],
        "share_of_true": [pytest.approx(0.3), pytest.approx(0.2)],
    }
    everything = metrics.top_confusions(MADE_UP, ["A", "B", "C"])
    assert list(zip(everything["true"], everything["predicted"])) == [("A", "B"), ("B", "A"), ("A", "C")]
    assert metrics.top_confusions(np.eye(3, dtype=int), ["A", "B", "C"]).empty, "no error, no confusion"


def test_test_metrics_reports_every_metric_for_the_ks_that_fit() -> None:
    result = metrics.classification_metrics(SCORES, LABELS, SCORES, LABELS, ks=(1, 3, 5, 10))
    assert result["top1"] == pytest.approx(1 / 3)
    assert result["macro_top3"] == pytest.approx(2 / 4)
    assert result["macro_present_top1"] == pytest.approx(1 / 3)
    assert result["classes"] == 4 and result["classes_present"] == 3
    assert "top5" not in result and "average_k1" in result and "average_k3" in result


def test_labels_out_of_range_are_an_error() -> None:
    with pytest.raises(ValueError, match="labels must lie in 0..3"):
        metrics.micro_topk(SCORES, np.array([0, 1, 4]), 1)
