"""The tables and figures of the DNA stage (notebook 09, beyond the paper)."""

from bioscan_lib.core.outputs import Figure, Table

DNA_PROBLEM_COUNTS = Table(
    "dna_problem_counts",
    "Barcodes the stated cleaning changes or cannot use, per problem",
    empty_reason="No barcode needs more than upper-casing, trailing-N stripping and the cut at 660 bases.",
)
DNA_PROBLEM_ROWS = Table(
    "dna_problem_rows",
    "The first barcodes of each problem (read shown to 60 bases)",
    empty_reason="No barcode needs more than upper-casing, trailing-N stripping and the cut at 660 bases.",
)
DNA_MISSING_BARCODES = Table("dna_missing_barcodes", "Specimens without a barcode, per experiment and split")
DNA_RESULTS = Table(
    "dna_results", "Beyond the paper: DNA barcode classifiers beside the image runs and Table 3 (percent)"
)
DNA_AGREEMENT = Table("dna_agreement_{}", "Test specimens right or wrong by DNA and by image: {}")
DNA_GALLERY = Figure("dna_gallery_{}", "Test specimens the barcode places and the photograph does not: {}")
DNA_PER_CLASS = Figure("dna_per_class_{}", "Per-class test top-1, DNA against the image run: {}")
