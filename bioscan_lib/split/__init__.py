"""03-04 split: the six experiments' splits by the published rules, and their statistics."""

SIZES = {"medium": 200_000, "small": 50_000}  # samples of the Medium and Small experiments (the paper's budgets)
