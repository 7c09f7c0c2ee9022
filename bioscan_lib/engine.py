"""The training engine, for any input type: runtime and devices, the epoch loop, prediction, bf16, DDP, SGD with
step decay, checkpoint save and resume, the divergence stop and the per-epoch summary of a run folder."""

from __future__ import annotations

import dataclasses
import itertools
import math
import os
import random
import time
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
import torch.distributed as dist
import torch.nn.functional as F
from matplotlib.figure import Figure
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.optim.swa_utils import update_bn
from torch.utils.data import DataLoader, Dataset, Sampler
from torch.utils.data.distributed import DistributedSampler
from tqdm.auto import tqdm

from bioscan_lib.config import LOSSES, EngineConfig, run_config
from bioscan_lib.core.checkpoint_files import CheckpointError, load_checkpoint_file
from bioscan_lib.core.files import atomic_path
from bioscan_lib.core.outputs import save_figure
from bioscan_lib.core.runs import CHECKPOINT_BEST, CHECKPOINT_LAST, SUMMARY_FILE, RunFolder

RUNTIME_KEYS = {"workers", "threads", "device", "epochs", "profile", "data_root", "output_dir"}
DIVERGENCE_FACTOR = 100.0  # a training loss this many times the first epoch's counts as diverged


class TrainingDiverged(ValueError):
    """The loss became NaN, infinite or far above its start: the run stops without saving the epoch."""


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (every device)."""

    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def focal_loss(logits, targets, gamma: float = 2.0):
    """Multi-class focal loss, mean of -(1 - p_t)^gamma log p_t (Lin et al. 2017; gamma 0 is cross-entropy)."""

    log_pt = -F.cross_entropy(logits.float(), targets, reduction="none")
    return (-((1 - log_pt.exp()) ** gamma) * log_pt).mean()


def loss_function(name: str, focal_gamma: float = 2.0):
    """The loss of a run: `ce` or `focal`."""

    if name == "focal":
        return lambda logits, targets: focal_loss(logits, targets, focal_gamma)
    if name == "ce":
        return lambda logits, targets: F.cross_entropy(logits.float(), targets)
    raise ValueError(f"Unknown loss {name!r}; choose one of {', '.join(LOSSES)}.")


@dataclass
class Runtime:
    """Where and how a process trains: its rank, the device, precision and the inputs' memory format."""

    rank: int
    world_size: int
    device: Any
    amp: bool
    channels_last: bool

    @property
    def main(self) -> bool:
        return self.rank == 0

    def autocast(self):

        return torch.autocast(self.device.type, dtype=torch.bfloat16) if self.amp else nullcontext()

    def place(self, model: nn.Module) -> nn.Module:
        """The model on this process's device, channels-last when the runtime says so."""
        model = model.to(self.device)
        return model.to(memory_format=torch.channels_last) if self.channels_last else model


def start_runtime(config: EngineConfig, channels_last: bool | None = False) -> Runtime:
    """Join the torchrun process group if launched by torchrun (NCCL on GPU, gloo on CPU); pick the device.

    `channels_last` None means on GPU only (for images). On the CPU, torch is switched to deterministic algorithms for
    the rest of the process."""

    world_size, rank = int(os.environ.get("WORLD_SIZE", 1)), int(os.environ.get("RANK", 0))
    local_rank = int(os.environ.get("LOCAL_RANK", 0))
    if config.threads:
        torch.set_num_threads(config.threads)
    if config.device.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"--device {config.device}: no CUDA GPU is visible to torch; use --device cpu or auto.")
    use_cuda = config.device.startswith("cuda") or (config.device == "auto" and torch.cuda.is_available())
    if use_cuda:
        device = torch.device(config.device if ":" in config.device else f"cuda:{local_rank}")
        torch.cuda.set_device(device)
    else:
        device = torch.device("cpu")
        torch.use_deterministic_algorithms(True)
    if world_size > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if use_cuda else "gloo")
    on_gpu = device.type == "cuda"
    return Runtime(
        rank,
        world_size,
        device,
        on_gpu if config.amp is None else config.amp,
        on_gpu if channels_last is None else channels_last,
    )


def topk_correct(logits, labels, ks: list[int]):
    """Number of samples whose label is among the k highest logits, for each k (a tensor)."""

    top = logits.topk(min(max(ks), logits.shape[1]), dim=1).indices == labels[:, None]
    return torch.stack([top[:, :k].any(dim=1).sum() for k in ks])


def _batch_to(runtime: Runtime, inputs, labels):

    memory_format = torch.channels_last if runtime.channels_last else torch.contiguous_format
    return (
        inputs.to(runtime.device, non_blocking=True, memory_format=memory_format),
        labels.to(runtime.device, non_blocking=True),
    )


def _reduce(runtime: Runtime, totals):

    if runtime.world_size > 1:
        dist.all_reduce(totals)
    return totals


def run_epoch(
    model,
    loader,
    runtime: Runtime,
    criterion,
    ks: list[int],
    optimizer=None,
    description: str = "",
    progress: bool = True,
) -> dict[str, float]:
    """One pass (training when `optimizer` is given): mean loss and top-k accuracies over every process's samples."""

    training = optimizer is not None
    model.train(training)
    totals = torch.zeros(2 + len(ks), dtype=torch.float64, device=runtime.device)
    with torch.set_grad_enabled(training):
        for inputs, labels in tqdm(loader, desc=description, leave=False, disable=not (progress and runtime.main)):
            inputs, labels = _batch_to(runtime, inputs, labels)
            with runtime.autocast():
                logits = model(inputs)
            loss = criterion(logits, labels)
            if training:
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
            totals[0] += loss.detach().double() * len(labels)
            totals[1] += len(labels)
            totals[2:] += topk_correct(logits.detach(), labels, ks)
    totals = _reduce(runtime, totals).cpu().numpy()
    count = max(totals[1], 1.0)
    return {"loss": float(totals[0] / count), **{f"top{k}": float(totals[2 + i] / count) for i, k in enumerate(ks)}}


def recompute_batch_norm(model, loader, batches: int, runtime: Runtime) -> None:
    """Precise batch norm: statistics averaged over `batches` training batches at fixed weights (none if 0).

    The running averages mix statistics of weights from many steps back; on small data at a high learning rate
    they can lag the weights enough to make validation collapse while training accuracy climbs."""

    if batches > 0:
        update_bn(itertools.islice(loader, batches), model, runtime.device)


def predict(
    model, loader, runtime: Runtime, progress: bool = True, description: str = "predict"
) -> tuple[np.ndarray, np.ndarray]:
    """Logits (float32) and labels of every sample of a loader, in order."""

    model.eval()
    outputs, targets = [], []
    with torch.no_grad():
        for inputs, labels in tqdm(loader, desc=description, leave=False, disable=not progress):
            inputs, _ = _batch_to(runtime, inputs, labels)
            with runtime.autocast():
                outputs.append(model(inputs).float().cpu())
            targets.append(labels)
    if not outputs:
        return np.zeros((0, 0), dtype=np.float32), np.zeros(0, dtype=np.int64)
    return torch.cat(outputs).numpy(), torch.cat(targets).numpy()


class ShardSampler(Sampler[int]):
    """Indices rank, rank + world, rank + 2 world, ... in order: each sample evaluated once across processes."""

    def __init__(self, length: int, rank: int = 0, world_size: int = 1):
        self.indices = range(rank, length, world_size)

    def __iter__(self):
        return iter(self.indices)

    def __len__(self) -> int:
        return len(self.indices)


def make_loader(
    dataset: Dataset,
    batch_size: int,
    workers: int,
    sampler: Sampler | None = None,
    generator: torch.Generator | None = None,
    shuffle: bool = False,
    drop_last: bool = False,
) -> DataLoader:
    """A DataLoader with pinned memory on GPU machines; workers start afresh each epoch, seeded from `generator`."""
    return DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=shuffle if sampler is None else False,
        sampler=sampler,
        num_workers=workers,
        generator=generator,
        drop_last=drop_last,
        pin_memory=torch.cuda.is_available(),
    )


def run_parameters(config: EngineConfig) -> dict[str, Any]:
    """The parameters that decide a run's weights (not where or how fast it runs), kept in its checkpoints."""
    return {k: v for k, v in dataclasses.asdict(config).items() if k not in RUNTIME_KEYS}


def check_resumable(config: EngineConfig) -> None:
    """Refuse a run folder holding epochs trained with other parameters; one without a saved epoch is started over."""
    folder = config.run_folder
    if not RunFolder(folder).is_run():
        return
    before = dataclasses.asdict(run_config(RunFolder(folder), type(config)))
    if before.get("imported_from"):
        raise ValueError(
            f"{folder} holds a run imported from {before['imported_from']}, not trained by the suite; train into "
            "another folder (change the seed) or delete it."
        )
    if not (folder / CHECKPOINT_LAST).is_file():
        return
    changed = sorted(k for k, v in run_parameters(config).items() if before.get(k) != v)
    if changed:
        raise ValueError(
            f"{folder} was trained with other parameters ({', '.join(changed)}); "
            "delete the folder to start again, or change the seed to make a new run."
        )


def _save_checkpoint(path: Path, **content) -> None:

    try:
        with atomic_path(path) as temporary:
            torch.save(content, temporary)
    except (OSError, RuntimeError) as error:  # torch reports a failed write as RuntimeError
        raise OSError(
            getattr(error, "errno", None) or 0,
            f"could not write {path.name} ({str(error).splitlines()[0][:160]}); free some space or fix the folder's "
            "permissions, then run again: the run resumes from its last saved epoch",
            str(path),
        ) from error


def fit(
    config: EngineConfig,
    model: nn.Module,
    datasets: dict[str, Dataset],
    classes: list[str],
    runtime: Runtime,
    versions: dict[str, str],
    progress: bool = True,
) -> Path:
    """Train (or resume) a placed model on `datasets["train"]`, validating each epoch, into the run folder; return it.

    `versions` names the binding's libraries, recorded in run_info.json beside torch's."""

    folder = config.run_folder
    if len(datasets["train"]) < config.batch_size * runtime.world_size:
        raise ValueError(
            f"{config.experiment} has {len(datasets['train'])} training samples, fewer than one batch of "
            f"{config.batch_size} per process; lower batch_size."
        )
    ks = [k for k in config.topk if k <= len(classes)]
    optimizer, scheduler = _optimisation(config, model)
    start_epoch, best_top1, rows = _resume(folder, model, optimizer, scheduler, run_parameters(config))
    network = DistributedDataParallel(model) if runtime.world_size > 1 else model
    generator = torch.Generator()
    sampler = (
        DistributedSampler(
            datasets["train"], runtime.world_size, runtime.rank, shuffle=True, seed=config.seed, drop_last=True
        )
        if runtime.world_size > 1
        else None
    )
    train_loader = make_loader(
        datasets["train"], config.batch_size, config.workers, sampler, generator, shuffle=True, drop_last=True
    )
    validation_loader = make_loader(
        datasets["validation"],
        config.batch_size,
        config.workers,
        ShardSampler(len(datasets["validation"]), runtime.rank, runtime.world_size),
    )
    if runtime.main:
        _write_run_files(folder, config, classes, datasets, runtime, versions)
    criterion = loss_function(config.loss, config.focal_gamma)
    epochs = tqdm(
        range(start_epoch, config.epochs),
        desc=config.run_name,
        initial=start_epoch,
        total=config.epochs,
        disable=not (progress and runtime.main),
    )
    for epoch in epochs:
        epoch_seed = config.seed * 1_000_003 + epoch * 101 + runtime.rank
        torch.manual_seed(epoch_seed)
        generator.manual_seed(epoch_seed)
        if sampler is not None:
            sampler.set_epoch(epoch)
        started = time.perf_counter()
        lr = optimizer.param_groups[0]["lr"]
        trained = run_epoch(network, train_loader, runtime, criterion, ks, optimizer, f"train {epoch + 1}", progress)
        recompute_batch_norm(model, train_loader, config.precise_bn_batches, runtime)
        validated = run_epoch(
            network, validation_loader, runtime, criterion, ks, None, f"validate {epoch + 1}", progress
        )
        scheduler.step()
        rows.append(
            {
                "epoch": epoch + 1,
                "lr": lr,
                **{f"train_{k}": v for k, v in trained.items()},
                **{f"val_{k}": v for k, v in validated.items()},
                "seconds": time.perf_counter() - started,
            }
        )
        _check_losses(rows, folder, config)
        epochs.set_postfix(val_top1=f"{validated['top1']:.3f}")
        improved, best_top1 = validated["top1"] > best_top1, max(best_top1, validated["top1"])
        if runtime.main:
            _save_epoch(folder, model, optimizer, scheduler, rows, best_top1, improved, run_parameters(config))
    if runtime.main:
        _save_learning_curves(folder)
    if runtime.world_size > 1:
        torch.distributed.barrier()
    return folder


def _optimisation(config: EngineConfig, model: nn.Module) -> tuple:
    """The SGD optimiser and the step schedule of a run."""

    optimizer = torch.optim.SGD(
        model.parameters(),
        lr=config.lr,
        momentum=config.momentum,
        nesterov=config.nesterov,
        weight_decay=config.weight_decay,
    )
    return optimizer, torch.optim.lr_scheduler.MultiStepLR(optimizer, config.lr_milestones, config.lr_gamma)


def _check_losses(rows: list[dict], folder: Path, config: EngineConfig) -> None:
    """Stop a run whose latest epoch's loss is NaN, infinite, or DIVERGENCE_FACTOR times its first epoch's."""
    last, first = rows[-1], rows[0]["train_loss"]
    losses = (last["train_loss"], last["val_loss"])
    if all(math.isfinite(loss) for loss in losses) and last["train_loss"] <= DIVERGENCE_FACTOR * max(first, 1e-3):
        return
    raise TrainingDiverged(
        f"{config.run_name}: the loss diverged in epoch {last['epoch']} (train {losses[0]:.4g}, validation "
        f"{losses[1]:.4g}); nothing of that epoch was saved. Lower --lr (now {config.lr:g}) and train again: "
        f"delete {folder} to start over."
    )


def _resume(folder: Path, model, optimizer, scheduler, parameters: dict[str, Any]) -> tuple[int, float, list[dict]]:
    """Load `last.pt` if there is one: the epochs done, the best validation top-1 and the summary rows so far."""

    path = folder / CHECKPOINT_LAST
    if not path.is_file():
        return 0, -1.0, []
    restart = f"delete {path} to train this run again from its first epoch (or delete {folder})"
    try:
        state = load_checkpoint_file(path, "last checkpoint of a run")
        if state.get("parameters", parameters) != parameters:
            changed = sorted(k for k, v in parameters.items() if state["parameters"].get(k) != v)
            raise ValueError(f"it was saved by a run with other parameters ({', '.join(changed)})")
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        done = int(state["epoch"])
    except CheckpointError as error:
        raise ValueError(f"{error} Or {restart}.") from error
    except (AttributeError, KeyError, RuntimeError, TypeError, ValueError) as error:
        reason = str(error).splitlines()[0][:200] if str(error) else type(error).__name__
        raise ValueError(f"{path}: cannot resume from it ({reason}); {restart}.") from error
    rows = pd.read_csv(folder / SUMMARY_FILE).query("epoch <= @done").to_dict("records")
    return done, float(state["best_top1"]), rows


def _save_epoch(
    folder: Path,
    model,
    optimizer,
    scheduler,
    rows: list[dict],
    best_top1: float,
    improved: bool,
    parameters: dict[str, Any],
) -> None:
    """best.pt if the epoch improved, then the summary, then last.pt (a resume drops summary rows past last.pt)."""
    epoch = rows[-1]["epoch"]
    if improved:
        _save_checkpoint(folder / CHECKPOINT_BEST, model=model.state_dict(), epoch=epoch, val_top1=best_top1)
    with atomic_path(folder / SUMMARY_FILE) as temporary:
        pd.DataFrame(rows).to_csv(temporary, index=False)
    _save_checkpoint(
        folder / CHECKPOINT_LAST,
        model=model.state_dict(),
        optimizer=optimizer.state_dict(),
        scheduler=scheduler.state_dict(),
        epoch=epoch,
        best_top1=best_top1,
        parameters=parameters,
    )


def _write_run_files(
    folder: Path,
    config: EngineConfig,
    classes: list[str],
    datasets: dict,
    runtime: Runtime,
    versions: dict[str, str],
) -> None:

    info = {
        "run": config.run_name,
        "classes": classes,
        "world_size": runtime.world_size,
        "device": runtime.device.type,
        "amp_bf16": runtime.amp,
        "channels_last": runtime.channels_last,
        "samples": {split: len(dataset) for split, dataset in datasets.items()},
        "versions": {"torch": torch.__version__, **versions},
    }
    RunFolder(folder).write_record(dataclasses.asdict(config), info)


def read_summary(folder: str | os.PathLike) -> pd.DataFrame:
    """A run's per-epoch table."""
    path = Path(folder) / SUMMARY_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found; train the run first (`bioscan-repro train` or notebook 06).")
    return pd.read_csv(path)


def best_epoch(summary: pd.DataFrame) -> int:
    """The epoch of best validation top-1, the first of equals: the one `fit` keeps as best.pt."""
    return int(summary.loc[summary["val_top1"].idxmax(), "epoch"])


def learning_rate_drops(summary: pd.DataFrame) -> pd.DataFrame:
    """The epochs that start at a lower learning rate than the one before, with that rate (columns epoch, lr)."""
    return summary.loc[summary["lr"] < summary["lr"].shift(), ["epoch", "lr"]].reset_index(drop=True)


def learning_curves(summary: pd.DataFrame, title: str) -> Figure:
    """Loss and top-1 accuracy per epoch, training and validation, from a run's summary table, with the learning-rate
    drops (between two epochs) and the best epoch marked."""
    figure, (loss_axes, accuracy_axes) = plt.subplots(1, 2, figsize=(9, 3.8), layout="constrained")
    best = summary.loc[summary["epoch"] == best_epoch(summary)]
    marked = f"best epoch: {best_epoch(summary)} (validation top-1)"
    drops = learning_rate_drops(summary)
    rates = "learning rate " + " → ".join(f"{lr:.2g}" for lr in [summary["lr"].iloc[0], *drops["lr"]])
    for axes, column, scale in ((loss_axes, "loss", 1), (accuracy_axes, "top1", 100)):
        for split, style in (("train", "-"), ("val", "--")):
            axes.plot(summary["epoch"], scale * summary[f"{split}_{column}"], style, marker="o", label=split)
        axes.plot(best["epoch"], scale * best[f"val_{column}"], "*", color="black", markersize=14, label=marked)
        for number, epoch in enumerate(drops["epoch"]):
            axes.axvline(epoch - 0.5, color="grey", linestyle=":", label=rates if number == 0 else None)
        axes.grid(alpha=0.3)
    loss_axes.set(xlabel="epoch", ylabel="loss", title="loss")
    accuracy_axes.set(xlabel="epoch", ylabel="top-1 accuracy (%)", title="top-1 accuracy")
    handles, labels = accuracy_axes.get_legend_handles_labels()
    figure.legend(handles, labels, loc="outside lower center", ncols=len(labels), fontsize=8, frameon=False)
    figure.suptitle(title)
    return figure


def _save_learning_curves(folder: Path) -> None:

    figure = learning_curves(read_summary(folder), folder.name)
    save_figure(figure, folder, "learning_curves")
    plt.close(figure)
