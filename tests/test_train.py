"""Training: losses, parameters, run folders, exact resume, torchrun on two CPU processes, learning above the majority baseline."""

from __future__ import annotations

import dataclasses
import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import torch
import yaml
from tiny_run import TINY

from bioscan_lib import engine
from bioscan_lib.classify import train
from bioscan_lib.config import TrainConfig
from bioscan_lib.core import runs
from bioscan_lib.split import rules as split


@pytest.fixture(scope="module")
def output_dir(output_with_splits) -> Path:
    """An output folder holding the small sample's splits."""
    return output_with_splits()


def linked_output(output_dir: Path, name: str) -> Path:
    """A second output folder sharing the splits of `output_dir`."""
    out = output_dir / name
    split_dir = split.split_folder(out)
    split_dir.mkdir(parents=True)
    for file in split.split_folder(output_dir).iterdir():
        (split_dir / file.name).symlink_to(file)
    return out


def tiny_config(small_sample: Path, output_dir: Path, **changes) -> TrainConfig:
    return TrainConfig(
        **{**TINY, "data_root": str(small_sample), "output_dir": str(output_dir), "epochs": 2, **changes}
    )


def test_a_run_writes_its_folder_and_a_resumed_run_ends_identical(small_sample: Path, output_dir: Path) -> None:
    whole = train.train(tiny_config(small_sample, output_dir), progress=False)
    assert whole.name == "large_insect_order_test_resnet_ce_s3"
    for name in ("params.yaml", "run_info.json", "summary.csv", "last.pt", "best.pt", "figures/learning_curves.png"):
        assert (whole / name).is_file(), name
    summary = engine.read_summary(whole)
    assert summary["epoch"].tolist() == [1, 2]
    assert summary["lr"].tolist() == pytest.approx([0.05, 0.005])
    assert {"train_loss", "train_top1", "train_top3", "val_loss", "val_top1", "val_top3", "seconds"} <= set(
        summary.columns
    )
    assert yaml.safe_load((whole / "params.yaml").read_text())["lr_milestones"] == [1]
    assert json.loads((whole / "run_info.json").read_text())["classes"][0] == "Diptera"

    interrupted = tiny_config(small_sample, linked_output(output_dir, "second"), epochs=1)
    train.train(interrupted, progress=False)  # stopped after one epoch ...
    resumed = train.train(dataclasses.replace(interrupted, epochs=2), progress=False)  # ... and resumed
    first = torch.load(whole / "last.pt", weights_only=True)
    second = torch.load(resumed / "last.pt", weights_only=True)
    assert second["epoch"] == 2
    assert all(torch.equal(first["model"][key], second["model"][key]) for key in first["model"])
    columns = [c for c in summary.columns if c != "seconds"]
    pd.testing.assert_frame_equal(engine.read_summary(resumed)[columns], summary[columns])

    with pytest.raises(ValueError, match="trained with other parameters \\(lr\\)"):
        train.train(dataclasses.replace(interrupted, lr=0.1), progress=False)


def test_torchrun_trains_on_two_cpu_processes_with_gloo(small_sample: Path, output_dir: Path) -> None:
    out = linked_output(output_dir, "ddp")
    arguments = [
        f"--{key.replace('_', '-')}={value}"
        for key, value in TINY.items()
        if key not in ("pretrained", "lr_milestones", "topk", "profile")
    ]
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node",
        "2",
        "-m",
        "bioscan_lib",
        "train",
        "--quiet",
        "--no-pretrained",
        "--epochs",
        "1",
        "--topk",
        "1",
        "3",
        "--data-root",
        str(small_sample),
        "--output-dir",
        str(out),
        *arguments,
    ]
    environment = {**os.environ, "OMP_NUM_THREADS": "1"}
    finished = subprocess.run(command, capture_output=True, text=True, timeout=300, env=environment)
    assert finished.returncode == 0, finished.stderr[-3000:]
    folder = out / "runs" / "large_insect_order_test_resnet_ce_s3"
    assert json.loads((folder / "run_info.json").read_text())["world_size"] == 2
    summary = engine.read_summary(folder)
    assert len(summary) == 1 and 0.0 < summary.loc[0, "val_top1"] <= 1.0
    assert finished.stdout.count("run folder:") == 1  # only rank 0 reports


def test_precise_batch_norm_leaves_the_training_trajectory_unchanged(small_sample: Path, output_dir: Path) -> None:
    plain = train.train(tiny_config(small_sample, linked_output(output_dir, "plain"), epochs=1), progress=False)
    precise = train.train(
        tiny_config(small_sample, linked_output(output_dir, "precise"), epochs=1, precise_bn_batches=3), progress=False
    )
    first = torch.load(plain / "last.pt", weights_only=True)["model"]
    second = torch.load(precise / "last.pt", weights_only=True)["model"]
    weights = [key for key in first if "running" not in key and "num_batches" not in key]
    assert all(torch.equal(first[key], second[key]) for key in weights)
    assert not all(torch.equal(first[key], second[key]) for key in first if "running_mean" in key)


def _tiny_argv(small_sample: Path, out: Path, *extra: str) -> list[str]:
    options = [
        f"--{k.replace('_', '-')}={v}"
        for k, v in TINY.items()
        if k not in ("pretrained", "lr_milestones", "topk", "profile")
    ]
    lists = ["--lr-milestones", *map(str, TINY["lr_milestones"]), "--topk", *map(str, TINY["topk"])]
    return ["train", "--quiet", "--no-pretrained", "--epochs", "1", "--data-root", str(small_sample), "--output-dir",
            str(out), *options, *lists, *extra]  # fmt: skip


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--topk", "0"], "--topk [0]: every k must be 1 or more"),
        (["--lr", "nan"], "--lr nan: not a finite number"),
        (["--lr", "-0.1"], "--lr -0.1: the learning rate must be above 0"),
        (["--momentum", "1.5"], "--momentum 1.5: must be at least 0 and below 1"),
        (["--device", "gpu"], "--device 'gpu': choose auto, cpu, cuda or cuda:N"),
        (["--device", "cuda"], "--device cuda: no CUDA GPU is visible"),
    ],
)
def test_bad_parameters_are_refused_in_one_line_before_any_work(
    small_sample: Path, output_dir: Path, tmp_path: Path, capsys, monkeypatch, extra: list[str], message: str
) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    from bioscan_lib import cli

    out = linked_output(output_dir, tmp_path.name)  # with its split, so that only the parameter is wrong
    assert cli.main(_tiny_argv(small_sample, out, *extra)) == 2
    error = capsys.readouterr().err.strip()
    assert message in error and len(error.splitlines()) == 1
    assert not (out / "runs").exists()


def test_a_nan_loss_stops_the_run_without_a_checkpoint_and_a_corrected_rerun_works(
    small_sample: Path, output_dir: Path, monkeypatch
) -> None:
    config = tiny_config(small_sample, linked_output(output_dir, "nan"), epochs=1)
    proper = engine.loss_function
    monkeypatch.setattr(engine, "loss_function", lambda *args: lambda logits, y: proper(*args)(logits, y) * math.nan)
    with pytest.raises(engine.TrainingDiverged, match="loss diverged in epoch 1 \\(train nan.*Lower --lr"):
        train.train(config, progress=False)
    assert not (config.run_folder / "best.pt").exists() and not (config.run_folder / "last.pt").exists()
    monkeypatch.setattr(engine, "loss_function", proper)
    assert engine.read_summary(train.train(config, progress=False))["epoch"].tolist() == [1]


def test_a_diverging_loss_stops_the_run(small_sample: Path, output_dir: Path) -> None:
    rows = [{"epoch": 1, "train_loss": 2.0, "val_loss": 2.1}, {"epoch": 2, "train_loss": 900.0, "val_loss": 1e4}]
    with pytest.raises(engine.TrainingDiverged, match="epoch 2 \\(train 900"):
        engine._check_losses(rows, output_dir, tiny_config(small_sample, output_dir))
    engine._check_losses(rows[:1], output_dir, tiny_config(small_sample, output_dir))


def test_a_corrupt_or_foreign_last_checkpoint_says_how_to_restart(small_sample: Path, output_dir: Path) -> None:
    config = tiny_config(small_sample, linked_output(output_dir, "broken"), epochs=1)
    folder = train.train(config, progress=False)
    other = train.train(
        dataclasses.replace(config, output_dir=str(linked_output(output_dir, "other")), lr=0.01), progress=False
    )
    longer = dataclasses.replace(config, epochs=2)
    intact = (folder / "last.pt").read_bytes()
    (folder / "last.pt").write_bytes(intact[: len(intact) // 2])
    with pytest.raises(ValueError, match="last.pt: not a readable torch file.*Or delete .*last.pt to train this run"):
        train.train(longer, progress=False)
    (folder / "last.pt").write_bytes((other / "last.pt").read_bytes())
    with pytest.raises(ValueError, match="last.pt: cannot resume from it .*other parameters \\(lr\\).*delete"):
        train.train(longer, progress=False)
    (folder / "last.pt").unlink()
    assert engine.read_summary(train.train(longer, progress=False))["epoch"].tolist() == [1, 2]


def test_a_full_disk_while_saving_gives_one_line(small_sample: Path, tmp_path: Path, output_dir, capsys, monkeypatch):
    def full_disk(*args, **kwargs):
        raise RuntimeError("[enforce fail at inline_container.cc:664] . PytorchStreamWriter failed writing file")

    monkeypatch.setattr(torch, "save", full_disk)
    from bioscan_lib import cli

    assert cli.main(_tiny_argv(small_sample, linked_output(output_dir, "full"))) == 1
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1 and "could not write best.pt" in error and "resumes from its last" in error


def test_ctrl_c_stops_training_within_seconds_and_the_run_resumes(small_sample: Path, output_dir: Path) -> None:
    out = linked_output(output_dir, "interrupted")
    command = [sys.executable, "-m", "bioscan_lib", *_tiny_argv(small_sample, out, "--epochs", "3")]
    child = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    last = out / "runs" / "large_insect_order_test_resnet_ce_s3" / "last.pt"
    deadline = time.monotonic() + 240
    while not last.exists() and child.poll() is None and time.monotonic() < deadline:
        time.sleep(0.1)
    interrupted = time.monotonic()
    child.send_signal(signal.SIGINT)
    _, stderr = child.communicate(timeout=60)
    assert time.monotonic() - interrupted < 5
    assert child.returncode == 130 and stderr.strip().splitlines()[-1].endswith("run the same command again to resume")
    assert subprocess.run(command, capture_output=True, timeout=300).returncode == 0  # the same command resumes
    assert engine.read_summary(last.parent)["epoch"].tolist() == [1, 2, 3]


def test_a_read_only_run_folder_gives_one_line(small_sample: Path, output_dir: Path, capsys, monkeypatch) -> None:
    def read_only(path, text):
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(runs, "write_text_atomic", read_only)
    from bioscan_lib import cli

    assert cli.main(_tiny_argv(small_sample, linked_output(output_dir, "read_only"))) == 1
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1 and error.endswith("params.yaml: Permission denied")


def test_the_training_plan_counts_runs_epochs_and_images_before_training(output_with_splits) -> None:
    out = output_with_splits()
    frame = split.read_split(split.split_folder(out))
    configs = [
        TrainConfig(experiment=e, output_dir=str(out), epochs=3) for e in ("large_insect_order", "small_insect_order")
    ]
    images = [int((frame[config.experiment] == "train").sum()) for config in configs]
    plan = train.training_plan(configs)
    assert plan.startswith(f"2 runs, {3 * sum(images):,} image passes in all: ")
    assert f"{configs[1].run_name} (3 epochs on {images[1]:,} images)" in plan and images[1] < images[0]
    assert train.training_plan([]) == "no run to train (train_experiments is empty)"
