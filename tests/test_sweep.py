"""The sweep: the paper's 72 runs as parameter files, selected by filters, printed as scheduler commands."""

from __future__ import annotations

import json
import signal
import time
import types
from pathlib import Path

import psutil
import pytest
import yaml
from tiny_run import TINY

from bioscan_lib import cli, engine
from bioscan_lib.classify import sweep, test
from bioscan_lib.config import read_profile, train_config
from bioscan_lib.core.cluster import Resources
from bioscan_lib.core.paths import project_root
from bioscan_lib.core.runs import CHECKPOINT_LAST, INFO_FILE


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("sweep")
    sweep.write_sweep(folder, "paper")
    return folder


def test_seventy_two_distinct_runs_with_the_published_defaults(written: Path) -> None:
    files = sorted(written.glob("*.yaml"))
    assert len(files) == 72
    settings = [yaml.safe_load(path.read_text()) for path in files]
    assert all(set(s) == set(sweep.RUN_KEYS) for s in settings)  # the recipe is written once: the profile's
    configs = [train_config(params_file=path) for path in files]
    assert {config.run_name for config in configs} == {path.stem for path in files}
    assert {s["loss"] for s in settings} == {"ce", "focal"} and {s["seed"] for s in settings} == set(sweep.SEEDS)
    first = configs[0]
    assert (first.lr, first.lr_milestones, first.epochs, first.batch_size, first.crop_size) == (
        1e-3,
        [20, 25],
        100,
        32,
        224,
    )
    assert first.output_dir == "outputs/paper" and first.pretrained


def test_filters_select_by_parameter_size_and_task(written: Path) -> None:
    chosen = sweep.select(written, ["size=small", "task=insect_order", "loss=ce", "seed=1,2"])
    assert len(chosen) == 2 * 2  # two backbones x two seeds
    assert all("small_insect_order" in path.name and "_ce_" in path.name for path in chosen)
    with pytest.raises(ValueError, match="not a training parameter"):
        sweep.select(written, ["colour=red"])
    with pytest.raises(ValueError, match="KEY=VALUE"):
        sweep.select(written, ["small"])


def test_filters_take_the_readme_names_and_refuse_values_no_run_has(written: Path) -> None:
    assert sweep.select(written, ["model=resnet50", "task=order"]) == sweep.select(
        written, ["model=resnet50.tv_in1k", "task=insect_order"]
    )
    assert len(sweep.select(written, ["task=family", "size=small,medium"])) == 2 * 2 * 2 * 3
    with pytest.raises(ValueError, match="huge matches no run of the sweep; size is one of large, medium, small"):
        sweep.select(written, ["size=huge"])
    with pytest.raises(ValueError, match="resnet18 matches no run.*resnet50, resnet50.tv_in1k, vit_base_patch16_224"):
        sweep.select(written, ["model=resnet18"])
    with pytest.raises(ValueError, match="'seed=1,7': 7 matches no run"):
        sweep.select(written, ["seed=1,7"])


def test_commands_train_under_torchrun_then_test(written: Path) -> None:
    path = sweep.select(
        written, ["size=large", "task=diptera_family", "model=vit_base_patch16_224", "loss=focal", "seed=3"]
    )[0]
    line = sweep.command(path, processes=4)
    assert line.startswith("torchrun --standalone --nproc_per_node 4 -m bioscan_lib train --params ")
    assert line.endswith(
        "bioscan-repro test --run outputs/paper/runs/large_diptera_family_vit_base_patch16_224_focal_s3 --quiet"
    )
    assert sweep.command(path).startswith("bioscan-repro train --params ")


def test_the_committed_sweep_files_are_what_the_command_writes(written: Path) -> None:
    committed = project_root() / sweep.SWEEP_FOLDER
    assert sorted(p.name for p in committed.glob("*.yaml")) == sorted(p.name for p in written.glob("*.yaml"))
    assert all((committed / p.name).read_text() == p.read_text() for p in written.glob("*.yaml"))


def test_cli_prints_one_command_per_selected_run(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["sweep", "--filter", "size=medium", "model=resnet50.tv_in1k", "seed=2"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 4 and all(
        line.startswith("bioscan-repro train --params params/sweep/medium_") for line in lines
    )


def tiny_sweep(folder: Path, small_sample: Path, output_dir: Path, seeds: tuple[int, ...], epochs: int) -> Path:
    """Parameter files of tiny runs (one per seed) in the shape of the sweep's, for the local executor."""
    for seed in seeds:
        settings = {key: value for key, value in TINY.items() if key != "profile"}
        settings.update(data_root=str(small_sample), output_dir=str(output_dir), epochs=epochs, seed=seed, threads=1)
        (folder / f"tiny_s{seed}.yaml").write_text(yaml.safe_dump(settings))
    return folder


def test_runs_submitted_to_the_local_executor_finish_resume_when_pre_empted_train_on_two_tasks_and_are_collected(
    small_sample: Path, output_with_splits, tmp_path: Path
) -> None:
    out = output_with_splits()
    paths = sweep.select(tiny_sweep(tmp_path, small_sample, out, (1, 2), epochs=3))
    jobs = sweep.submit_sweep(paths[:1], "local", Resources(cpus_per_task=1, timeout_min=5))
    jobs += sweep.submit_sweep(paths[1:], "local", Resources(cpus_per_task=1, timeout_min=5, processes_per_node=2))
    first_run = out / "runs" / "large_insect_order_test_resnet_ce_s1"
    deadline = time.monotonic() + 120
    while not (first_run / CHECKPOINT_LAST).is_file() and time.monotonic() < deadline:
        time.sleep(0.2)
    first_epoch = engine.read_summary(first_run).iloc[0]
    for task in psutil.Process(jobs[0]._process.pid).children():  # the job's controller runs it as a subprocess
        task.send_signal(signal.SIGUSR2)  # what SLURM sends before pre-empting a job or at its time limit
    assert [job.results()[0].name for job in jobs] == [f"large_insect_order_test_resnet_ce_s{seed}" for seed in (1, 2)]
    assert "Calling checkpoint method" in jobs[0].stdout() and "Requeued job" in jobs[0].stdout()  # ran again ...
    assert engine.read_summary(first_run).iloc[0].equals(first_epoch)  # ... resuming after epoch 1, not retraining it
    folders = test.evaluate_runs(out / "runs", progress=False)  # nothing left to test: each job tested its run
    table = test.results_table(folders)
    assert table["seed"].tolist() == [1, 2] and table["top1"].between(0, 100).all()
    assert [len(engine.read_summary(folder)) for folder in folders] == [3, 3]
    assert json.loads((folders[1] / INFO_FILE).read_text())["world_size"] == 2  # two tasks, torch.distributed
    assert len(list((out / "submitit").glob("*_log.out"))) == 3


def test_cli_submits_the_selected_runs_with_the_profile_resources_and_flags(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    submitted = {}

    def submit(paths: list[Path], cluster: str, resources: Resources) -> list:
        submitted.update(paths=paths, cluster=cluster, resources=resources)
        return [types.SimpleNamespace(job_id=f"7_{k}") for k in range(len(paths))]

    monkeypatch.setattr(sweep, "submit_sweep", submit)
    arguments = ["sweep", "--filter", "size=small", "loss=ce", "seed=1", "--submit", "slurm", "--gpus-per-node", "4"]
    assert cli.main([*arguments, "--partition", "gpu"]) == 0
    assert submitted["cluster"] == "slurm" and len(submitted["paths"]) == 4
    assert (submitted["resources"].gpus_per_node, submitted["resources"].partition) == (4, "gpu")
    assert submitted["resources"].mem_gb == read_profile("paper").cluster["mem_gb"]
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "small_diptera_family_resnet50.tv_in1k_ce_s1: job 7_0" and "submitit" in lines[-1]
