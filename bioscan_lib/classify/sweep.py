"""The paper's 72 runs (3 sizes x 2 tasks x 2 backbones x 2 losses x 3 seeds) as parameter files, listed, filtered,
run here or submitted as jobs through submitit."""

from __future__ import annotations

import dataclasses
import itertools
import os
import shlex
from pathlib import Path

import submitit
import yaml

from bioscan_lib.classify import SWEEP_FOLDER
from bioscan_lib.classify.test import evaluate_run
from bioscan_lib.classify.train import train
from bioscan_lib.config import LOSSES, TrainConfig, train_config
from bioscan_lib.core.cluster import (
    LOG_FOLDER,
    Resources,
    export_distributed_environment,
    is_main_task,
    make_executor,
    submit_all,
)
from bioscan_lib.core.files import write_text_atomic
from bioscan_lib.core.paths import project_root, resolve_path
from bioscan_lib.data.bioscan1m import SIZES, TASKS, experiment_size, experiment_task

BACKBONES = ("resnet50.tv_in1k", "vit_base_patch16_224")  # torchvision's ResNet-50 weights, as the paper
SEEDS = (1, 2, 3)
RUN_KEYS = ("profile", "experiment", "model", "loss", "seed")  # what a sweep file sets; the recipe is the profile's


def sweep_runs(profile: str = "paper") -> list[dict]:
    """The 72 runs: the profile with each experiment, backbone, loss and seed."""
    return [
        {"profile": profile, "experiment": f"{size}_{task}", "model": model, "loss": loss, "seed": seed}
        for size, task, model, loss, seed in itertools.product(SIZES, TASKS, BACKBONES, LOSSES, SEEDS)
    ]


def sweep_configs(profile: str = "paper") -> list[TrainConfig]:
    """The 72 runs' TrainConfigs: the profile's settings with each experiment, backbone, loss and seed."""
    return [train_config(profile, overrides=run) for run in sweep_runs(profile)]


def write_sweep(folder: str | os.PathLike = SWEEP_FOLDER, profile: str = "paper") -> list[Path]:
    """Write one YAML per run (named after the run) into `folder`; return the paths."""
    folder = resolve_path(folder)
    paths = []
    for run, config in zip(sweep_runs(profile), sweep_configs(profile)):
        path = folder / f"{config.run_name}.yaml"
        write_text_atomic(path, yaml.safe_dump(run, sort_keys=False))
        paths.append(path)
    return paths


def _condition(condition: str) -> tuple[str, list[str]]:
    """The key and the wanted values of a KEY=VALUE[,VALUE...] filter."""
    key, separator, wanted = condition.partition("=")
    if not separator:
        raise ValueError(f"filter {condition!r} is not KEY=VALUE (e.g. loss=ce, size=small, seed=1,2)")
    return key, wanted.split(",")


def _names(key: str, value: object) -> set[str]:
    """A run's value and the short names the README writes for it: `resnet50` for `resnet50.tv_in1k`, `order` for
    `insect_order`."""
    text = str(value)
    if key == "model":
        return {text, text.split(".")[0]}
    return {text, text.rsplit("_", 1)[-1]} if key == "task" else {text}


def _filter_values(settings: dict) -> dict[str, set[str]]:
    """Every name a filter may match in a run: each training parameter, its size and its task."""
    derived = {"size": experiment_size(settings["experiment"]), "task": experiment_task(settings["experiment"])}
    return {key: _names(key, value) for key, value in {**settings, **derived}.items()}


def _keep(runs: dict[Path, dict[str, set[str]]], condition: str) -> dict[Path, dict[str, set[str]]]:
    """The runs matching one filter; a key or a value that no run has is an error listing what there is."""
    key, wanted = _condition(condition)
    if runs and key not in next(iter(runs.values())):
        raise ValueError(f"filter key {key!r} is not a training parameter, size or task")
    known = set().union(*(values[key] for values in runs.values()))
    unknown = [value for value in wanted if value not in known]
    if unknown:
        raise ValueError(
            f"filter {condition!r}: {', '.join(unknown)} matches no run of the sweep; {key} is one of "
            f"{', '.join(sorted(known))}"
        )
    return {path: values for path, values in runs.items() if values[key] & set(wanted)}


def select(folder: str | os.PathLike = SWEEP_FOLDER, filters: list[str] | None = None) -> list[Path]:
    """The sweep's parameter files matching every KEY=VALUE[,VALUE...] filter (keys: any parameter, size, task)."""
    folder = resolve_path(folder)
    paths = sorted(folder.glob("*.yaml"))
    if not paths:
        raise FileNotFoundError(f"No parameter files in {folder}; write them with `bioscan-repro sweep --write`.")
    runs = {path: _filter_values(_settings(path)) for path in paths}
    for condition in filters or []:
        runs = _keep(runs, condition)
    return list(runs)


def _settings(path: Path) -> dict:
    """Every training parameter of a sweep file (its profile's, then its own)."""
    return dataclasses.asdict(train_config(params_file=path))


def command(path: Path, processes: int = 1) -> str:
    """The shell command that trains then tests one run (under torchrun with several processes)."""
    relative = path.relative_to(project_root()) if path.is_relative_to(project_root()) else path
    launcher = (
        f"torchrun --standalone --nproc_per_node {processes} -m bioscan_lib" if processes > 1 else "bioscan-repro"
    )
    folder = train_config(params_file=path).run_folder
    folder = folder.relative_to(project_root()) if folder.is_relative_to(project_root()) else folder
    return (
        f"{launcher} train --params {shlex.quote(str(relative))} --quiet && "
        f"bioscan-repro test --run {shlex.quote(str(folder))} --quiet"
    )


def execute_sweep(paths: list[Path]) -> None:
    """Train and test the runs one after another in this process (finished epochs are skipped on resume)."""
    for path in paths:
        evaluate_run(train(train_config(params_file=path)))


class SweepJob(submitit.helpers.Checkpointable):
    """One run as a submitit job: train (resuming from `last.pt`), then the first task tests it. Pre-empted or out of
    time, submitit calls `checkpoint`, which requeues the same job with the same parameter file."""

    def __call__(self, params_file: str) -> Path:
        export_distributed_environment()
        folder = train(train_config(params_file=params_file), progress=False)
        if is_main_task():
            evaluate_run(folder, progress=False)
        return folder


def log_folder(paths: list[Path]) -> Path:
    """`<output_dir>/submitit/`, beside the runs' folder, shared by the selected runs."""
    output_dirs = {resolve_path(train_config(params_file=path).output_dir) for path in paths}
    if len(output_dirs) != 1:
        raise ValueError(
            f"the selected runs write into {len(output_dirs)} output folders; submit one profile at a time"
        )
    return output_dirs.pop() / LOG_FOLDER


def submit_sweep(paths: list[Path], cluster: str, resources: Resources) -> list[submitit.Job]:
    """Submit one job per run (a SLURM job array), logs in `<output_dir>/submitit/`."""
    if not paths:
        raise ValueError("no run selected; loosen --filter")
    executor = make_executor(cluster, log_folder(paths), resources, "bioscan-sweep")
    return submit_all(executor, SweepJob(), [(str(path),) for path in paths])
