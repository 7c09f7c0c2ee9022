"""The tables and figures of the open-world stage (notebook 10, beyond the paper)."""

from bioscan_lib.core.outputs import Figure, Table

CLIBD_PARTITION_COUNTS = Table("clibd_partition_counts", "The CLIBD partition: specimens, species and genera per split")
OPEN_WORLD_SCORES = Table(
    "open_world_scores",
    "Cosine 1-NN of each encoder's embeddings (barcodes, photographs) per query split and rank: micro and macro (0-1)",
    share_columns=("micro", "macro"),
)
OPEN_WORLD_PUBLISHED = Table(
    "open_world_published",
    "The later work's published figures, each beside this profile's score on the same search (percent)",
)
OPEN_WORLD_FIGURE = Figure("open_world_accuracy", "1-NN micro accuracy per rank, seen and unseen species, per encoder")
BIN_SPECIES_SUMMARY = Table(
    "bin_species_summary", "BINs and named species: BINs of one species or several, species in one BIN or several"
)
BARCODE_GAP_SUMMARY = Table(
    "barcode_gap_summary",
    "The barcode gap over every BIN, beside BOLD's 2.2 % (shares and distances 0-1)",
    share_columns=("positive_gap", "within_under_threshold", "nearest_over_threshold"),
)
BARCODE_GAP = Table(
    "barcode_gap", "Per BIN: the largest distance within it, its nearest other BIN, the distance and gap"
)
BIN_RETRIEVAL = Table(
    "bin_retrieval", "The BIN as a 1-NN target: test barcodes whose BIN occurs in training, by k-mer profile (0-1)"
)
BARCODE_GAP_FIGURE = Figure(
    "barcode_gap_scatter", "The barcode gap: the largest distance within each BIN against the distance to its nearest"
)
