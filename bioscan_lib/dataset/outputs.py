"""The tables and figures of the dataset statistics (notebook 02 and the `statistics` command)."""

from bioscan_lib.core.outputs import Figure, Table

STATISTICS_VS_PUBLISHED = Table("statistics_vs_published", "Taxonomy statistics beside the paper's")
DATASET_STATISTICS = Table("dataset_statistics", "Categories and labelled samples per rank")
ORDER_COUNTS = Table("order_counts", "Records per order beside the paper's")
DIPTERA_FAMILY_COUNTS = Table("diptera_family_counts", "The 40 largest Diptera families beside the paper's")
BARCODE_LENGTH_SUMMARY = Table("barcode_length_summary", "DNA barcode length")
BIN_SIZE_DISTRIBUTION = Table("bin_size_distribution", "Specimens per BIN")
NAMES_UNDER_TWO_PARENTS = Table(
    "names_under_two_parents",
    "Warning: names under two parents (a family in two orders, a genus in two families, a species in two genera)",
    empty_reason="No name sits under two parents: every family has one order, every genus one family, every species "
    "one genus.",
)

CLASS_DISTRIBUTION = Figure(
    "class_distribution", "Class distribution: the 16 orders and the 40 largest Diptera families"
)
ORDER_GALLERY = Figure("order_gallery", "One specimen per order")
BARCODE_LENGTH_HISTOGRAM = Figure("barcode_length_histogram", "DNA barcode lengths")
BARCODE_BLOCKS = Figure("barcode_blocks", "One DNA barcode, base by base")
BIN_SIZES = Figure("bin_sizes", "Specimens per BIN")
