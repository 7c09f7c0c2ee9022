"""The tables and figures of the split (notebook 03) and its statistics (notebook 04)."""

from bioscan_lib.core.outputs import Figure, Table

SPLIT_SIZES_VS_PUBLISHED = Table("split_sizes_vs_published", "Split sizes beside the paper's")
SPLIT_SIZES = Table("split_sizes", "Split sizes")
SPLIT_COMPARISON = Table("split_comparison", "The published split against the split rule, per class")
SPLIT_SIZES_REGENERATED = Table("split_sizes_regenerated", "Split sizes of the regenerated split")

SPLIT_LEFT_OUT = Table("split_left_out", "Classes left out of an experiment, and why")
SPLIT_EMPTIED_BY_TRIM = Table(
    "split_emptied_by_trim",
    "Classes the Medium and Small draw empties",
    empty_reason="No class is emptied by the Medium and Small draw at this profile's sizes.",
)
SPLIT_COUNTS = Table("split_counts_{}", "Per-class split counts: {}")  # one per experiment
SPLIT_DISTRIBUTION = Figure("split_distribution_{}", "Split distribution: {}")
