"""The tables and figures of training (notebook 06), testing (07) and generalization (08)."""

from bioscan_lib.core.outputs import Figure, Table

TRAINING = Table("training_{}", "Learning curve: {}")  # one per run
LEARNING_CURVES = Figure("learning_curves_{}", "Learning curves: {}")

TEST_RESULTS_PAPER_LAYOUT = Table(
    "test_results_paper_layout", "Table 3: test results beside the paper's (percent; diff = reproduced - published)"
)
TEST_RESULTS = Table("test_results", "Every metric of every tested run (percent)")
TEST_RESULTS_SEEDS = Table(
    "test_results_seeds",
    "Mean and standard deviation over seeds (percent)",
    empty_reason="No configuration has runs with several seeds; the paper's 72-run sweep fills this table.",
)
PER_CLASS = Table(
    "per_class_{}",
    "Per-class accuracy (top-1 is the recall), precision and F1 (percent): {}",
    share_columns=("top1", "top5", "precision", "f1"),
)
PER_CLASS_ACCURACY = Figure("per_class_accuracy_{}", "Per-class test accuracy: {}")
PER_CLASS_SCORES = Figure("per_class_scores_{}", "Per-class precision, recall and F1: {}")
CONFUSION_MATRIX = Figure("confusion_matrix_{}", "Confusion matrix: {}")
CONFUSION_MATRIX_ROW_SHARES = Figure(
    "confusion_matrix_row_shares_{}", "Confusion matrix, each row in percent of its true class: {}"
)
TOP_CONFUSIONS = Table(
    "top_confusions_{}",
    "Most frequent confusions, true → predicted (share: of the true class's test samples): {}",
    empty_reason="No test sample was misclassified: there is no confusion to list.",
    share_columns=("share_of_true",),
)

GENERALIZATION_PREDICTIONS = Table(
    "generalization_predictions", "Labels, confidence and uncertainty flag per photograph"
)
GENERALIZATION_SCORES = Table("generalization_scores", "Scored against the held-out labels (percent)")
GENERALIZATION_CONDITIONS = Table(
    "generalization_conditions", "Accuracy under each change of imaging condition (percent)"
)
GENERALIZATION_RELIABILITY = Figure(
    "generalization_reliability",
    "Reliability of the confidence: accuracy per confidence bin, photographs in each, the uncertainty threshold",
)
GENERALIZATION_GALLERY = Figure(
    "generalization_gallery", "New photographs labelled (tick: right, cross: wrong with the truth, ?: flagged)"
)
