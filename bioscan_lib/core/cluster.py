"""Jobs on a SLURM cluster or on this machine through submitit: one job (or array element) per task, the resources
from the profile's `cluster` keys or flags, requeued with the same arguments when pre-empted or out of time."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import submitit

CLUSTERS = ("slurm", "local")
LOG_FOLDER = "submitit"  # beside the runs (or the parts): submitit's pickles and each job's stdout/stderr


@dataclass(frozen=True)
class Resources:
    """What each job asks for; by default one task (one training process) per GPU."""

    nodes: int = 1
    gpus_per_node: int = 0
    cpus_per_task: int = 8
    mem_gb: int = 64
    timeout_min: int = 24 * 60
    partition: str | None = None
    array_parallelism: int = 256
    processes_per_node: int | None = None  # training processes per node; default one per GPU (or one)

    @property
    def tasks_per_node(self) -> int:
        return self.processes_per_node or max(1, self.gpus_per_node)


RESOURCE_FIELDS = {item.name for item in dataclasses.fields(Resources)}


def resources_from(*settings: dict[str, Any] | None) -> Resources:
    """Resources from mappings applied in turn (the profile's `cluster`, then flags); None values are left out."""
    chosen: dict[str, Any] = {}
    for mapping in settings:
        for key, value in (mapping or {}).items():
            if key not in RESOURCE_FIELDS:
                raise ValueError(
                    f"cluster setting {key!r} is unknown; the settings are {', '.join(sorted(RESOURCE_FIELDS))}"
                )
            if value is not None:
                chosen[key] = value
    return Resources(**chosen)


def make_executor(cluster: str, folder: str | os.PathLike, resources: Resources, name: str) -> submitit.Executor:
    """A submitit executor for `slurm` or `local` (jobs in subprocesses here) writing its logs into `folder`."""
    if cluster not in CLUSTERS:
        raise ValueError(f"--submit {cluster!r}: choose one of {', '.join(CLUSTERS)}")
    try:
        executor = submitit.AutoExecutor(folder=folder, cluster=cluster)
    except RuntimeError as error:  # submitit's check for srun
        raise ValueError(
            f"--submit slurm: no `srun` on this machine ({error}); submit from a SLURM login node"
        ) from None
    executor.update_parameters(
        name=name,
        nodes=resources.nodes,
        tasks_per_node=resources.tasks_per_node,
        gpus_per_node=resources.gpus_per_node,
        cpus_per_task=resources.cpus_per_task,
        mem_gb=resources.mem_gb,
        timeout_min=resources.timeout_min,
        slurm_array_parallelism=resources.array_parallelism,
        **({"slurm_partition": resources.partition} if resources.partition else {}),
    )
    return executor


def submit_all(executor: submitit.Executor, function: Callable, arguments: Sequence[tuple]) -> list[submitit.Job]:
    """Submit `function(*arguments[i])` for every i, as one SLURM job array (separate processes locally)."""
    with executor.batch():
        jobs = [executor.submit(function, *item) for item in arguments]
    return jobs


def export_distributed_environment() -> None:
    """Under a submitit job of several tasks, set torchrun's variables (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR,
    MASTER_PORT) for torch.distributed's env:// start; each task keeps every GPU visible and uses cuda:LOCAL_RANK."""
    if submitit.JobEnvironment().num_tasks > 1:
        submitit.helpers.TorchDistributedEnvironment().export(set_cuda_visible_devices=False)


def is_main_task() -> bool:
    """Whether this is the job's first task (or not a submitit job at all)."""
    return int(os.environ.get("RANK", 0)) == 0
