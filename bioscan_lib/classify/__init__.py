"""06-08 classify: data, models, training, testing, the paper's metrics, the sweep, prediction."""

SWEEP_FOLDER = "params/sweep"  # the paper's 72 runs, one parameter file each
