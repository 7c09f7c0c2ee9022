"""Jobs through submitit: resources from the profile then flags, and what a SLURM submission asks for."""

from __future__ import annotations

from pathlib import Path

import pytest

from bioscan_lib.config import read_profile
from bioscan_lib.core import cluster


def test_flags_override_the_profile_and_unknown_settings_are_named() -> None:
    resources = cluster.resources_from(read_profile("paper").cluster, {"gpus_per_node": 4, "partition": None})
    assert resources.gpus_per_node == resources.tasks_per_node == 4  # one training process per GPU
    assert resources.timeout_min == read_profile("paper").cluster["timeout_min"]
    assert cluster.Resources().tasks_per_node == 1
    with pytest.raises(ValueError, match="'gpus' is unknown"):
        cluster.resources_from({"gpus": 2})


def test_a_slurm_job_asks_for_the_resources_and_is_requeued_on_pre_emption(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(ValueError, match="no `srun`"):
        cluster.make_executor("slurm", tmp_path, cluster.Resources(), "job")
    (tmp_path / "srun").write_text("#!/bin/sh\n")  # a login node's srun, enough for submitit to write the script
    (tmp_path / "srun").chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}:{Path('/usr/bin')}")
    resources = cluster.Resources(nodes=2, gpus_per_node=4, cpus_per_task=10, mem_gb=200, partition="gpu")
    executor = cluster.make_executor("slurm", tmp_path / "logs", resources, "bioscan-sweep")
    script = executor._executor._make_submission_file_text("python -m job", "1")
    for line in (
        "--nodes=2",
        "--gpus-per-node=4",
        "--ntasks-per-node=4",
        "--cpus-per-task=10",
        "--mem=200GB",
        "--partition=gpu",
        "--time=1440",
        "--signal=USR2@90",
        "--job-name=bioscan-sweep",
    ):
        assert f"#SBATCH {line}\n" in script, line
    assert f"#SBATCH --output={tmp_path / 'logs'}/" in script  # logs beside the runs
