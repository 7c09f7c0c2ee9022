"""03-04 split: the six experiments' splits by the published rules, and their statistics."""
