"""Beyond the paper, notebook 10: species no classifier saw, placed by barcode retrieval on the CLIBD partition."""
