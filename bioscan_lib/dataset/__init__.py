"""02 dataset statistics: the metadata reader and the statistics of every rank, barcode and BIN."""
