"""The paper's 72 runs (3 sizes x 2 tasks x 2 backbones x 2 losses x 3 seeds) as parameter files, listed, filtered and run."""
from __future__ import annotations

import argparse
import dataclasses
import itertools
import os
import shlex
from pathlib import Path

import yaml

from .files import write_text_atomic
from .paths import project_root, resolve_path
from .split import experiment_size, experiment_task

SIZES = ("large", "medium", "small")
TASKS = ("insect_order", "diptera_family")
BACKBONES = ("resnet50.tv_in1k", "vit_base_patch16_224")   # torchvision's ResNet-50 weights, as the paper
LOSSES = ("ce", "focal")
SEEDS = (1, 2, 3)
SWEEP_FOLDER = "params/sweep"


def sweep_configs(profile: str = "paper") -> list:
    """The 72 runs' TrainConfigs: the profile's settings with each experiment, backbone, loss and seed."""
    from .train import train_config

    return [train_config(profile, overrides={"experiment": f"{size}_{task}", "model": model, "loss": loss, "seed": seed})
            for size, task, model, loss, seed in itertools.product(SIZES, TASKS, BACKBONES, LOSSES, SEEDS)]


def write_sweep(folder: str | os.PathLike = SWEEP_FOLDER, profile: str = "paper") -> list[Path]:
    """Write one YAML per run (named after the run) into `folder`; return the paths."""
    from .train import run_name

    folder = resolve_path(folder)
    paths = []
    for config in sweep_configs(profile):
        path = folder / f"{run_name(config)}.yaml"
        write_text_atomic(path, yaml.safe_dump(dataclasses.asdict(config), sort_keys=False))
        paths.append(path)
    return paths


def _matches(settings: dict, condition: str) -> bool:
    key, separator, wanted = condition.partition("=")
    if not separator:
        raise ValueError(f"filter {condition!r} is not KEY=VALUE (e.g. loss=ce, size=small, seed=1,2)")
    derived = {"size": experiment_size(settings["experiment"]), "task": experiment_task(settings["experiment"])}
    value = derived.get(key, settings.get(key))
    if key not in derived and key not in settings:
        raise ValueError(f"filter key {key!r} is not a training parameter, size or task")
    return str(value) in wanted.split(",")


def select(folder: str | os.PathLike = SWEEP_FOLDER, filters: list[str] | None = None) -> list[Path]:
    """The sweep's parameter files matching every KEY=VALUE[,VALUE...] filter (keys: any parameter, size, task)."""
    folder = resolve_path(folder)
    paths = sorted(folder.glob("*.yaml"))
    if not paths:
        raise FileNotFoundError(f"No parameter files in {folder}; write them with `bioscan-repro sweep --write`.")
    return [path for path in paths if all(_matches(yaml.safe_load(path.read_text("utf-8")), f) for f in filters or [])]


def command(path: Path, processes: int = 1) -> str:
    """The shell command that trains then tests one run (under torchrun with several processes)."""
    from .train import config_from, run_folder

    relative = path.relative_to(project_root()) if path.is_relative_to(project_root()) else path
    launcher = (f"torchrun --standalone --nproc_per_node {processes} -m bioscan_lib" if processes > 1 else "bioscan-repro")
    folder = run_folder(config_from(yaml.safe_load(path.read_text("utf-8"))))
    folder = folder.relative_to(project_root()) if folder.is_relative_to(project_root()) else folder
    return (f"{launcher} train --params {shlex.quote(str(relative))} --quiet && "
            f"bioscan-repro test --run {shlex.quote(str(folder))} --quiet")


def run_sweep(paths: list[Path]) -> None:
    """Train and test the runs one after another in this process (finished epochs are skipped on resume)."""
    from .evaluate import evaluate_run
    from .train import train, train_config

    for path in paths:
        evaluate_run(train(train_config(params_file=path)))


def _run(arguments: argparse.Namespace) -> int:
    if arguments.write:
        paths = write_sweep(arguments.folder, arguments.profile)
        print(f"wrote {len(paths)} parameter files into {arguments.folder}")
        return 0
    paths = select(arguments.folder, arguments.filter)
    if arguments.execute:
        run_sweep(paths)
    else:
        print("\n".join(command(path, arguments.nproc) for path in paths))
    return 0


def add_cli(subparsers: argparse._SubParsersAction) -> None:
    """`bioscan-repro sweep`: write the 72 parameter files, print the commands of a subset, or run it."""
    parser = subparsers.add_parser("sweep", help="the paper's 72 runs: write, list (as commands) or run a subset",
                                   description="Without --write or --run, print one shell command per selected run "
                                               "(train then test), e.g. to hand to a scheduler.")
    parser.add_argument("--write", action="store_true", help="write one YAML per run into --folder")
    parser.add_argument("--run", dest="execute", action="store_true", help="train and test the selected runs here")
    parser.add_argument("--filter", nargs="*", default=[], metavar="KEY=VALUE",
                        help="select runs, e.g. size=small loss=ce seed=1,2 model=vit_base_patch16_224")
    parser.add_argument("--profile", default="paper", help="profile whose settings the files take (default paper)")
    parser.add_argument("--folder", default=SWEEP_FOLDER, help=f"where the files are (default {SWEEP_FOLDER})")
    parser.add_argument("--nproc", type=int, default=1, help="processes per run in the printed commands (torchrun)")
    parser.set_defaults(run=_run)
