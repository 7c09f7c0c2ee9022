"""Training an image classifier as the paper: a timm model over an image package, bound to the training engine."""

from __future__ import annotations

from pathlib import Path

import timm

from bioscan_lib import engine
from bioscan_lib.classify.data import build_datasets, class_names
from bioscan_lib.classify.models import create_model
from bioscan_lib.config import TrainConfig
from bioscan_lib.core.paths import resolve_path
from bioscan_lib.split.rules import read_split, split_folder


def train(config: TrainConfig, progress: bool = True) -> Path:
    """Train (or resume) one run into its folder; return the folder. Works alone or under torchrun."""

    runtime = engine.start_runtime(config, config.channels_last)
    engine.check_resumable(config)
    engine.seed_everything(config.seed)
    datasets = build_datasets(config, ("train", "validation"))
    classes = class_names(config)
    model = runtime.place(create_model(config.model, len(classes), config.pretrained, config.weights))
    return engine.fit(config, model, datasets, classes, runtime, {"timm": timm.__version__}, progress)


def training_plan(configs: list[TrainConfig]) -> str:
    """What training `configs` will do, in one line: runs, epochs and training images (said before it starts)."""
    if not configs:
        return "no run to train (train_experiments is empty)"
    frame = read_split(split_folder(resolve_path(configs[0].output_dir)))
    images = [int((frame[config.experiment] == "train").sum()) for config in configs]
    passes = sum(config.epochs * count for config, count in zip(configs, images))
    runs = ", ".join(f"{c.run_name} ({c.epochs} epochs on {n:,} images)" for c, n in zip(configs, images))
    return f"{len(configs)} run{'s' * (len(configs) > 1)}, {passes:,} image passes in all: {runs}"
