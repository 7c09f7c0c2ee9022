"""09 DNA barcodes (beyond the paper): the six experiments classified from the barcode, beside the photographs."""
