"""Released checkpoints: the authors' `<experiment>_<model>_<loss>_s<seed>_weights_best_acc.tar` files imported as
run folders that testing, generalization and the report use like trained runs, and runs exported in that format."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import torch
from torch import nn

from bioscan_lib.classify.data import class_names
from bioscan_lib.classify.models import classifier_names, create_model
from bioscan_lib.config import LOSSES, PUBLISHED_TRANSFORM, TRANSFORM_FIELDS, TrainConfig, run_config
from bioscan_lib.core.checkpoint_files import RELEASED_CHECKPOINT, CheckpointError, check_finite, load_checkpoint_file
from bioscan_lib.core.files import atomic_path, file_digests
from bioscan_lib.core.runs import (
    CHECKPOINT_BEST,
    CHECKPOINT_FILES,
    CHECKPOINT_LAST,
    INFO_FILE,
    RunFolder,
    checked_name,
    inside_a_run,
)
from bioscan_lib.data.bioscan1m import EXPERIMENTS

PUBLISHED_SUFFIX = "_weights_best_acc.tar"
PUBLISHED_LOSS_NAMES = {"ce": "CE", "focal": "Focal"}
TRANSFORM_KEY = "transform"  # the suite's extra key in an exported file: the run's test transform
_NAME = re.compile(
    rf"^(?P<experiment>{'|'.join(EXPERIMENTS)})_(?P<model>.+)_(?P<loss>{'|'.join(LOSSES)})_s?(?P<seed>\d+)$",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class CheckpointName:
    """What a released checkpoint is: its experiment, timm model name, loss (`ce`/`focal`) and seed."""

    experiment: str
    model: str
    loss: str
    seed: int

    @property
    def published_file_name(self) -> str:
        """The name the authors publish it under, e.g. `large_insect_order_vit_base_patch16_224_CE_s2_weights_best_acc.tar`."""
        return f"{self.experiment}_{self.model}_{PUBLISHED_LOSS_NAMES[self.loss]}_s{self.seed}{PUBLISHED_SUFFIX}"


def parse_checkpoint_name(path: str | os.PathLike) -> CheckpointName:
    """Experiment, model, loss and seed from a released name, or from the folder of the training script's layout
    `<experiment>_<model>_<loss>_<seed>/<experiment>_weights_best_acc.tar`."""
    path = Path(path)
    stem = path.name.removesuffix(PUBLISHED_SUFFIX)
    if stem in EXPERIMENTS:
        stem = path.parent.name
    match = _NAME.match(stem)
    if not match:
        raise CheckpointError(
            f"{path}: cannot tell experiment, model, loss and seed from the name (expected "
            f"<experiment>_<model>_<CE|Focal>_s<seed>{PUBLISHED_SUFFIX}); state them with --experiment, --model, "
            "--loss and --seed."
        )
    return CheckpointName(match["experiment"].lower(), match["model"], match["loss"].lower(), int(match["seed"]))


def read_published_checkpoint(path: str | os.PathLike) -> tuple[dict[str, torch.Tensor], int, dict]:
    """The state dict (every weight finite), epoch (0-based, as published) and test transform of an
    `{'epoch', 'model', 'optimizer'}` file, loaded with `weights_only` so that no code in it can run.

    The transform is the published one unless the file was exported by the suite with its run's."""
    path = Path(path)
    content = load_checkpoint_file(path, RELEASED_CHECKPOINT)
    model = content.get("model") if isinstance(content, dict) else None
    if not isinstance(model, dict) or not model or not all(isinstance(v, torch.Tensor) for v in model.values()):
        found = sorted(map(str, content))[:5] if isinstance(content, dict) else type(content).__name__
        raise CheckpointError(
            f"{path}: expected the published format, a dict with 'epoch', 'model' (a state dict) and 'optimizer'; "
            f"found {found}. Give a *{PUBLISHED_SUFFIX} classification checkpoint."
        )
    check_finite(model, path)
    state = {key.removeprefix("module."): value for key, value in model.items()}
    return state, int(content.get("epoch", -1)), _transform(content.get(TRANSFORM_KEY), path)


def _transform(stored: object, path: Path) -> dict:
    """The test transform an exported file states, checked; the published one when it states none."""
    if stored is None:
        return dict(PUBLISHED_TRANSFORM)
    if not isinstance(stored, dict) or set(stored) != set(TRANSFORM_FIELDS):
        raise CheckpointError(f"{path}: its '{TRANSFORM_KEY}' entry is not {list(TRANSFORM_FIELDS)}; export it again.")
    return dict(stored)


def load_published_state(model: nn.Module, state: dict[str, torch.Tensor], path: Path, model_name: str) -> None:
    """Load a released state dict into `model` exactly: every key and shape must match, the classifier first."""
    own = model.state_dict()
    for key in (f"{name}.weight" for name in classifier_names(model)):
        if key in state and key in own and state[key].shape[0] != own[key].shape[0]:
            raise CheckpointError(
                f"{path}: its classifier has {state[key].shape[0]} classes but the experiment has {own[key].shape[0]}; "
                "is it a checkpoint of another experiment? Name the right one with --experiment."
            )
    missing, unexpected = sorted(set(own) - set(state)), sorted(set(state) - set(own))
    wrong_shape = sorted(k for k in set(own) & set(state) if own[k].shape != state[k].shape)
    if missing or unexpected or wrong_shape:
        example = (missing or unexpected or wrong_shape)[:3]
        raise CheckpointError(
            f"{path}: not the weights of {model_name} ({len(missing)} missing, {len(unexpected)} unexpected, "
            f"{len(wrong_shape)} of another shape, e.g. {example}); is it a checkpoint of another model? "
            "Name the right one with --model."
        )
    model.load_state_dict(state)


def stated_name(path: str | os.PathLike, stated: dict[str, str | int | None]) -> CheckpointName:
    """What a file is: the experiment, model, loss and seed stated, each one left `None` read from its name."""
    parsed = parse_checkpoint_name(path) if None in stated.values() else None
    return CheckpointName(**{key: getattr(parsed, key) if value is None else value for key, value in stated.items()})


def import_checkpoint(
    path: str | os.PathLike,
    base: TrainConfig,
    name: CheckpointName | None = None,
    run_name: str | None = None,
    replace: bool = False,
    transform: dict | None = None,
) -> Path:
    """Turn a released checkpoint into the run folder `<output_dir>/runs/<run name>` of `base`'s profile; return it.

    The folder holds `best.pt`, the parameters (marked `imported_from`) and the class list. It tests at the file's
    transform (the published resize 256, crop 224, unless the file states the run's), or at `transform`'s stated
    fields. An import of the same file is left as it is; one of another file is replaced only with `replace`, and
    put back if the new one fails; a trained run is never overwritten."""
    path = Path(path)
    name = name or parse_checkpoint_name(path)
    run_base = dataclasses.replace(base, **dataclasses.asdict(name))
    folder = run_base.run_folder.with_name(checked_name(run_name)) if run_name else run_base.run_folder
    sha256 = file_digests(path)[0] if path.is_file() else ""
    if _already_imported(RunFolder(folder), sha256, replace):
        return folder
    with _replacing(folder):
        state, epoch, stored = read_published_checkpoint(path)
        config = dataclasses.replace(
            run_base, pretrained=False, weights=None, imported_from=path.name, **{**stored, **(transform or {})}
        )
        classes = class_names(config)
        model = create_model(config.model, len(classes))
        load_published_state(model, state, path, config.model)
        info = {
            "run": folder.name,
            "classes": classes,
            "imported": {"file": path.name, "sha256": sha256, "epoch": epoch},
        }
        RunFolder(folder).write_record(dataclasses.asdict(config), info)
        with atomic_path(folder / CHECKPOINT_BEST) as temporary:
            torch.save({"model": model.state_dict(), "epoch": epoch + 1, "val_top1": float("nan")}, temporary)
    return folder


def _already_imported(run: RunFolder, sha256: str, replace: bool) -> bool:
    """Whether `run` holds this very import; a trained run there is an error, and so is an import of another file
    unless it may be replaced; a folder that is no run is never touched."""
    if not run.is_run():
        if run.path.exists() and any(run.path.iterdir()):
            raise CheckpointError(f"{run.path} exists and holds no run; import under another --run-name.")
        return False
    if run.params.get("imported_from") is None:
        raise CheckpointError(
            f"{run.path} holds a run trained by the suite; import under another name (--run-name "
            f"{run.name}_released) or move the trained run."
        )
    info = run.info if run.file(INFO_FILE).is_file() else {}
    if info.get("imported", {}).get("sha256") == sha256 and run.file(CHECKPOINT_BEST).is_file():
        return True
    if not replace:
        raise CheckpointError(
            f"{run.path} holds an import of another file; import with --replace, or delete the folder."
        )
    return False


@contextlib.contextmanager
def _replacing(folder: Path) -> Iterator[None]:
    """Move an earlier import in `folder` aside while the block writes the new one; put it back if the block fails."""
    aside = folder.with_name(f".{folder.name}.replaced.{os.getpid()}")
    if folder.exists():
        folder.rename(aside)
    try:
        yield
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        if aside.exists():
            aside.rename(folder)
        raise
    shutil.rmtree(aside, ignore_errors=True)


def import_checkpoints(
    folder: str | os.PathLike, base: TrainConfig, suffix: str = "", replace: bool = False
) -> list[Path]:
    """Import every `*_weights_best_acc.tar` under `folder` (both published layouts); run folders get `suffix`."""
    runs = []
    for path in sorted(Path(folder).rglob(f"*{PUBLISHED_SUFFIX}")):
        name = parse_checkpoint_name(path)
        runs.append(import_checkpoint(path, base, name, released_run_name(base, name, suffix), replace))
    return runs


def released_run_name(base: TrainConfig, name: CheckpointName, suffix: str) -> str:
    """The run folder name of an imported file: `<experiment>_<model>_<loss>_s<seed><suffix>`, from every route."""
    return checked_name(f"{dataclasses.replace(base, **dataclasses.asdict(name)).run_name}{suffix}", "import suffix")


def imported_runs_table(folders: list[Path]) -> pd.DataFrame:
    """One row per imported run: its folder, source file, the file's SHA-256 and the published (0-based) epoch."""
    rows = []
    for folder in folders:
        source = RunFolder(folder).info["imported"]
        rows.append({"run": folder.name, "file": source["file"], "sha256": source["sha256"], "epoch": source["epoch"]})
    return pd.DataFrame(rows, columns=["run", "file", "sha256", "epoch"])


def export_checkpoint(run: str | os.PathLike, output: str | os.PathLike, force: bool = False) -> Path:
    """Write a run's best weights in the published format, `{'epoch' (0-based), 'model', 'optimizer'}`, with the
    run's test transform under an extra key the authors' loader ignores.

    The optimizer state is last.pt's when it was saved at the best epoch, else empty: testing needs only the model.
    A file inside a run folder, or named like a run's checkpoints, is written only with `force`."""
    folder, output = RunFolder(run), Path(output)
    if output.is_dir():
        raise ValueError(f"{output} is a folder; give the file to write, e.g. {output / 'run'}{PUBLISHED_SUFFIX}")
    owner = inside_a_run(output)
    if not force and (owner is not None or output.name in CHECKPOINT_FILES):
        instead = folder.path.parent.parent / "exported" / run_checkpoint_name(folder.path).published_file_name
        raise ValueError(
            f"{output}: refused: it would overwrite {'a file of the run folder ' + str(owner) if owner else 'a run checkpoint'}"
            f"; write it elsewhere, e.g. --output {instead} (or pass --force)."
        )
    best = folder.best_checkpoint()
    optimizer = {}
    if folder.file(CHECKPOINT_LAST).is_file():
        last = load_checkpoint_file(folder.file(CHECKPOINT_LAST), "last checkpoint of a run")
        optimizer = last["optimizer"] if int(last["epoch"]) == int(best["epoch"]) else {}
    config = run_config(folder)
    transform = {key: getattr(config, key) for key in TRANSFORM_FIELDS}
    output.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(output) as temporary, temporary.open("wb") as stream:  # a stream: same weights, same bytes
        content = {"epoch": int(best["epoch"]) - 1, "model": best["model"], "optimizer": optimizer}
        torch.save({**content, TRANSFORM_KEY: transform}, stream)
    return output


def run_checkpoint_name(run: str | os.PathLike) -> CheckpointName:
    """The experiment, model, loss and seed of a run folder (from its parameters)."""
    config = run_config(RunFolder(run))
    return CheckpointName(config.experiment, config.model, config.loss, config.seed)
