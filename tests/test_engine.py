"""The training engine alone: losses, batch norm, and a run of an input that is not an image."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import pandas as pd
import pytest
import torch
from torch.utils.data import TensorDataset

from bioscan_lib import engine
from bioscan_lib.config import EngineConfig, TrainConfig, run_config
from bioscan_lib.core.runs import CHECKPOINT_BEST, CHECKPOINT_LAST, RunFolder

CLASSES = ["Coleoptera", "Diptera", "Hymenoptera"]


def vectors(count: int, seed: int) -> TensorDataset:
    """Three well-separated Gaussian clusters of 8-dimensional vectors, standing in for barcode features."""
    generator = torch.Generator().manual_seed(seed)
    labels = torch.arange(count) % len(CLASSES)
    centres = 3.0 * torch.eye(len(CLASSES), 8)
    return TensorDataset(centres[labels] + torch.randn(count, 8, generator=generator), labels)


def vector_run(tmp_path: Path, **changes) -> tuple[Path, torch.nn.Module]:
    """Fit a small MLP on vectors through the engine, as a binding other than the image classifier would."""
    settings = dict(model="mlp", output_dir=str(tmp_path), epochs=4, batch_size=16, lr=0.05, lr_milestones=[3],
                    topk=[1, 2], workers=0, device="cpu", pretrained=False)  # fmt: skip
    config = EngineConfig(**{**settings, **changes})
    runtime = engine.start_runtime(config)
    engine.check_resumable(config)
    engine.seed_everything(config.seed)
    model = runtime.place(torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.ReLU(), torch.nn.Linear(16, 3)))
    datasets = {"train": vectors(192, 0), "validation": vectors(96, 1)}
    return engine.fit(config, model, datasets, CLASSES, runtime, {}, progress=False), model


def test_focal_loss_down_weights_easy_samples_and_is_cross_entropy_at_gamma_0() -> None:
    logits, targets = torch.tensor([[0.0, 0.0], [3.0, 0.0]]), torch.tensor([0, 0])
    ce = torch.nn.functional.cross_entropy(logits, targets)
    assert torch.isclose(engine.focal_loss(logits, targets, 0.0), ce)
    p_easy = 1 / (1 + math.exp(-3))
    expected = (0.25 * math.log(2) + (1 - p_easy) ** 2 * -math.log(p_easy)) / 2
    assert engine.focal_loss(logits, targets, 2.0).item() == pytest.approx(expected, rel=1e-5)


def test_precise_batch_norm_takes_the_mean_statistics_of_the_given_batches_only() -> None:
    model = torch.nn.Sequential(torch.nn.BatchNorm2d(3)).eval()
    batches = [(torch.full((4, 3, 2, 2), float(value)), torch.zeros(4)) for value in (1.0, 3.0, 100.0)]
    runtime = engine.Runtime(0, 1, torch.device("cpu"), amp=False, channels_last=False)
    engine.recompute_batch_norm(model, iter(batches), 2, runtime)
    assert model[0].running_mean.tolist() == pytest.approx([2.0] * 3)  # (1 + 3) / 2; the third batch unused
    assert model[0].momentum == 0.1 and not model.training
    before = model[0].running_mean.clone()
    engine.recompute_batch_norm(model, iter(batches), 0, runtime)  # 0: the running averages stay
    assert torch.equal(model[0].running_mean, before)


def test_the_engine_carries_no_image_setting() -> None:
    image_only = {f.name for f in dataclasses.fields(TrainConfig)} - {f.name for f in dataclasses.fields(EngineConfig)}
    assert image_only == {"package", "image_size", "crop_size", "normalize", "channels_last"}


def test_a_vector_classifier_trains_resumes_and_is_read_back_through_the_engine(tmp_path: Path) -> None:
    folder, model = vector_run(tmp_path / "whole")
    summary = engine.read_summary(folder)
    assert summary["epoch"].tolist() == [1, 2, 3, 4] and summary["lr"].tolist() == pytest.approx([0.05] * 3 + [0.005])
    assert summary["val_top1"].iloc[-1] > 0.9  # three balanced classes: the majority class is 1/3
    assert (folder / CHECKPOINT_BEST).is_file() and (folder / CHECKPOINT_LAST).is_file()
    assert engine.best_epoch(summary) == RunFolder(folder).best_checkpoint()["epoch"]
    assert run_config(RunFolder(folder), EngineConfig).model == "mlp" and RunFolder(folder).info["classes"] == CLASSES
    assert not RunFolder(folder).info["channels_last"]

    vector_run(tmp_path / "resumed", epochs=2)
    resumed, resumed_model = vector_run(tmp_path / "resumed")
    columns = [c for c in summary.columns if c != "seconds"]
    pd.testing.assert_frame_equal(engine.read_summary(resumed)[columns], summary[columns])
    for name, weight in model.state_dict().items():
        assert torch.equal(weight, resumed_model.state_dict()[name]), name


def test_a_vector_run_refuses_to_resume_with_other_parameters(tmp_path: Path) -> None:
    vector_run(tmp_path, epochs=1)
    with pytest.raises(ValueError, match="trained with other parameters \\(lr\\)"):
        vector_run(tmp_path, epochs=1, lr=0.1)
    assert math.isfinite(
        engine.read_summary(EngineConfig(model="mlp", output_dir=str(tmp_path)).run_folder)["train_loss"][0]
    )
