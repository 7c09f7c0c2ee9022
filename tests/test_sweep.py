"""The sweep: the paper's 72 runs as parameter files, selected by filters, printed as scheduler commands."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from bioscan_lib import cli
from bioscan_lib.classify import sweep
from bioscan_lib.config import train_config
from bioscan_lib.core.paths import project_root


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
