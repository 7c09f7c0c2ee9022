"""Training an image classifier as the paper: a timm model over an image package, bound to the training engine."""

from __future__ import annotations

from pathlib import Path

import timm

from bioscan_lib import engine
from bioscan_lib.classify.data import build_datasets, class_names
from bioscan_lib.classify.models import create_model
from bioscan_lib.config import TrainConfig


def train(config: TrainConfig, progress: bool = True) -> Path:
    """Train (or resume) one run into its folder; return the folder. Works alone or under torchrun."""

    runtime = engine.start_runtime(config, config.channels_last)
    engine.check_resumable(config)
    engine.seed_everything(config.seed)
    datasets = build_datasets(config, ("train", "validation"))
    classes = class_names(config)
    model = runtime.place(create_model(config.model, len(classes), config.pretrained, config.weights))
    return engine.fit(config, model, datasets, classes, runtime, {"timm": timm.__version__}, progress)
