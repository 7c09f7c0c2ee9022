"""The tables and figures of the open-world stage (notebook 10, beyond the paper)."""

from bioscan_lib.core.outputs import Figure, Table

CLIBD_PARTITION_COUNTS = Table("clibd_partition_counts", "The CLIBD partition: specimens, species and genera per split")
OPEN_WORLD_SCORES = Table(
    "open_world_scores",
    "Cosine 1-NN of barcode embeddings per encoder, query split and rank: micro and macro accuracy (0-1)",
    share_columns=("micro", "macro"),
)
OPEN_WORLD_PUBLISHED = Table(
    "open_world_published",
    "The later work's published figures, each beside this profile's score on the same search (percent)",
)
OPEN_WORLD_FIGURE = Figure("open_world_accuracy", "1-NN micro accuracy per rank, seen and unseen species, per encoder")
