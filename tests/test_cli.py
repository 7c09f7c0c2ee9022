"""The `bioscan-repro` command line: stats and sample end to end, and clear errors with exit status 2."""

from __future__ import annotations

import dataclasses
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bioscan_lib import cli
from bioscan_lib.classify.model_names import timm_architectures
from bioscan_lib.config import LOSSES
from bioscan_lib.core.outputs import FIGURES_FOLDER
from bioscan_lib.core.runs import RunFolder
from bioscan_lib.data.bioscan1m import EXPERIMENTS, METADATA_NAME, PACKAGE_FORMS
from bioscan_lib.dataset.outputs import CLASS_DISTRIBUTION, DATASET_STATISTICS
from bioscan_lib.download import HOST_TIMEOUT_SECONDS
from bioscan_lib.split.files import SPLIT_FILE_NAME, class_list_path


def _error_before_torch(*arguments: str) -> str:
    """The one-line error of a command run in a fresh interpreter, which exits with status 2 without loading torch."""
    probe = f"import sys\nfrom bioscan_lib import cli\ncode = cli.main({list(arguments)!r})\nprint(sorted({{'torch', 'timm'}} & set(sys.modules)))\nsys.exit(code)"
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert result.returncode == 2, result.stderr
    assert result.stdout.strip() == "[]", f"imported {result.stdout.strip()} before refusing {arguments}"
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


def test_every_stage_registers_its_subcommand() -> None:
    commands = cli.build_parser()._subparsers._group_actions[0].choices
    assert {"reproduce", "prepare", "sample", "statistics", "dna", "open-world"} <= set(commands)


def test_stats_writes_tables_and_figures(small_sample: Path, tmp_path: Path) -> None:
    assert cli.main(["statistics", "--metadata", str(small_sample / "bioscan1m"), "--output", str(tmp_path)]) == 0
    assert DATASET_STATISTICS.path(tmp_path).with_suffix(".md").read_text().startswith("| rank")
    assert (tmp_path / FIGURES_FOLDER / f"{CLASS_DISTRIBUTION.name()}.png").stat().st_size > 10_000


def test_warnings_are_one_line_each_naming_the_command(
    small_sample: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """The paper's budgets on a 240-record sample warn; each warning is one line, no Python source line."""
    metadata = next((small_sample / "bioscan1m").glob("*.tsv"))
    assert cli.main(["split", "--metadata", str(metadata), "--output", str(tmp_path / "split.tsv")]) == 0
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert lines and all(line.startswith("bioscan-repro split: warning: ") for line in lines), lines


def test_train_help_gives_each_default_from_the_default_profile(capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit):
        cli.main(["train", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "(default test_resnet from profile sample; the paper's vit_base_patch16_224)" in text
    assert "(default 10 from profile sample; the paper's 100)" in text
    assert "(default 0.9, the paper's)" in text


def test_milestones_past_the_last_epoch_are_refused_when_given_and_warned_of_from_the_profile(
    capsys: pytest.CaptureFixture,
) -> None:
    assert cli.main(["train", "--epochs", "2", "--lr-milestones", "1", "3"]) == 2
    error = capsys.readouterr().err
    assert error.startswith("bioscan-repro train: learning-rate milestones [3] lie past the last epoch (2)")
    config = cli.TrainConfig(epochs=2, lr_milestones=[7, 9])
    with pytest.warns(UserWarning, match=r"milestones \[7, 9\] lie past the last epoch \(2\).*from the profile"):
        cli._check_milestones(config, given=False)


def test_full_scale_metadata_option_is_documented() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "bioscan_lib", "sample", "--help"], capture_output=True, text=True, check=True
    )
    assert "--full-scale-metadata" in result.stdout


def test_version_and_option_help_state_each_default_once(capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as exit_code:
        cli.main(["--version"])
    assert exit_code.value.code == 0 and capsys.readouterr().out.startswith("bioscan-repro ")
    text = cli.build_parser()._subparsers._group_actions[0].choices["train"].format_help()
    assert "(default: on GPU only) (default" not in " ".join(text.split())


def test_bad_metadata_exits_2_with_a_message(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    (tmp_path / "BIOSCAN_Insect_Dataset_metadata.tsv").write_text("processid\tsampleid\nA\tB\n")
    assert cli.main(["statistics", "--metadata", str(tmp_path), "--output", str(tmp_path / "out")]) == 2
    message = capsys.readouterr().err
    assert "bioscan-repro statistics:" in message and "missing column(s) name" in message


def test_every_command_taking_a_profile_defaults_to_the_sample(monkeypatch: pytest.MonkeyPatch) -> None:
    commands = cli.build_parser()._subparsers._group_actions[0].choices
    for name, parser in commands.items():
        option = next((a for a in parser._actions if "--profile" in a.option_strings), None)
        if option is None or name == "train":
            continue
        assert option.default in (cli.DEFAULT_PROFILE, None), name
        # split and statistics default to no profile, so that a real TSV never gets the sample's budgets
        assert "as for every command" in option.help or "default: none; --metadata and --output" in option.help, name
    assert "default sample, as for every command" in " ".join(commands["train"].format_help().split())
    seen = {}
    monkeypatch.setattr(
        "bioscan_lib.config.train_config",
        lambda profile, params, overrides: seen.update(p=profile) or cli.TrainConfig(),
    )
    monkeypatch.setattr("bioscan_lib.config.check_training_inputs", lambda config: None)
    monkeypatch.setattr("bioscan_lib.classify.train.train", lambda config, progress: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        cli.main(["train", "--experiment", "large_insect_order"])
    assert seen["p"] == "sample"
    with pytest.raises(ZeroDivisionError):
        cli.main(["train", "--params", "params/sweep/x.yaml"])
    assert seen["p"] is None, "a parameter file names its own profile"


def test_sweep_write_needs_its_profile_named(capsys: pytest.CaptureFixture) -> None:
    assert cli.main(["sweep", "--write", "--folder", "unused"]) == 2
    assert "sweep --write needs --profile" in capsys.readouterr().err


def test_a_wrong_experiment_is_refused_before_torch_naming_the_experiments() -> None:
    message = _error_before_torch("train", "--experiment", "large_insect_orders")
    assert message.startswith(
        "bioscan-repro train: Unknown experiment 'large_insect_orders'; did you mean large_insect_order?"
    )
    assert all(experiment in message for experiment in EXPERIMENTS)


def test_a_wrong_loss_is_refused_before_torch_naming_the_losses() -> None:
    assert _error_before_torch("train", "--loss", "bce").endswith(f"choose one of {', '.join(LOSSES)}.")


def test_a_wrong_model_is_refused_before_torch_naming_the_nearest_timm_models() -> None:
    assert {"resnet50", "test_resnet", "vit_base_patch16_224"} <= timm_architectures()
    message = _error_before_torch("train", "--model", "resnet5O")
    assert message.startswith("bioscan-repro train: Unknown timm model 'resnet5O'; did you mean resnet50")


def _run_folder(runs: Path, name: str) -> Path:
    """A run folder holding only its parameters, enough for the checks made before torch loads."""
    folder = runs / name
    folder.mkdir(parents=True)
    RunFolder(folder).write_record(dataclasses.asdict(cli.TrainConfig(output_dir=str(runs.parent))), {"classes": ["a"]})
    return folder


def test_a_mistyped_run_folder_is_refused_before_torch_naming_the_runs_beside_it(tmp_path: Path) -> None:
    run = _run_folder(tmp_path / "runs", "large_insect_order_resnet50_ce_s1")
    mistyped = str(run.parent / "large_insect_order_resnet50_ce_s2")
    predict = ["predict", "--run", mistyped, "--input", str(tmp_path), "--output", str(tmp_path / "labels.csv")]
    for command in (["test", "--run", mistyped], predict):
        message = _error_before_torch(*command)
        assert f"{mistyped}: no such run folder; the runs in {run.parent} include {run.name};" in message


def test_predict_refuses_what_it_cannot_read_before_torch_naming_what_it_takes(tmp_path: Path) -> None:
    run = str(_run_folder(tmp_path / "runs", "large_insect_order_resnet50_ce_s1"))
    (tmp_path / "notes.txt").write_text("not a photograph")
    (tmp_path / "photo.jpg").write_bytes(b"\xff\xd8")
    output = ["--output", str(tmp_path / "labels.csv")]
    missing = _error_before_torch("predict", "--run", run, "--input", "one.jpg", *output)
    assert missing == "bioscan-repro predict: one.jpg: no such photograph, folder or file of photographs"
    other = _error_before_torch("predict", "--run", run, "--input", str(tmp_path / "notes.txt"), *output)
    assert other.endswith(
        "notes.txt: not a photograph (.jpg, .jpeg, .png), nor a folder, ZIP or HDF5 file of photographs"
    )
    mixed = _error_before_torch("predict", "--run", run, "--input", str(tmp_path / "photo.jpg"), str(tmp_path), *output)
    assert mixed.endswith(
        f"{tmp_path}: not a photograph (.jpg, .jpeg, .png); give photographs alone, or one folder, ZIP or HDF5 file of them"
    )


def test_a_mistyped_package_is_refused_before_torch_naming_what_it_may_be_and_the_nearest_folder(
    tmp_path: Path,
) -> None:
    (tmp_path / "photos").mkdir()
    for command in ("crop", "resize"):
        message = _error_before_torch(command, "--input", str(tmp_path / "fotos"), "--output", str(tmp_path / "out"))
        assert message == (
            f"bioscan-repro {command}: {tmp_path / 'fotos'}: no such folder or file (did you mean {tmp_path / 'photos'}?); "
            f"give {PACKAGE_FORMS}"
        )
        assert "download" not in message


def test_download_says_at_once_in_one_line_when_no_host_answers(tmp_path: Path) -> None:
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    address = f"127.0.0.1:{closed.getsockname()[1]}"
    closed.close()
    command = ["download", "--root", str(tmp_path), "--mirror", f"http://{address}", METADATA_NAME]
    result = subprocess.run([sys.executable, "-m", "bioscan_lib", *command], capture_output=True, text=True)
    assert result.returncode == 1 and result.stderr.splitlines() == [
        f"bioscan-repro download: no host answers ({address}: no connection within {HOST_TIMEOUT_SECONDS:g} s); "
        "connect to the network, or give --mirror URL or folder"
    ]


def _seconds(*arguments: str) -> float:
    """The shortest of three runs of a command in a fresh interpreter, in seconds."""
    times = []
    for _ in range(3):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-m", "bioscan_lib", *arguments], capture_output=True, check=False)
        times.append(time.perf_counter() - started)
    return min(times)


def test_an_argument_mistake_answers_about_as_fast_as_help() -> None:
    """Loading torch takes seconds; a refused --loss answers within three times what --help takes."""
    assert _seconds("train", "--loss", "bce") < 3 * _seconds("--help")


def test_a_run_without_its_split_or_package_is_refused_before_torch(tmp_path: Path) -> None:
    split = _error_before_torch("train", "--output-dir", str(tmp_path))
    assert split.startswith(f"bioscan-repro train: No split TSV {tmp_path / 'split' / SPLIT_FILE_NAME}; make it")
    (tmp_path / "split").mkdir()
    (tmp_path / "split" / SPLIT_FILE_NAME).write_text("only its presence is checked before torch")
    classes = _error_before_torch("train", "--output-dir", str(tmp_path), "--experiment", "small_insect_order")
    assert f"No class list {class_list_path(tmp_path / 'split', 'small_insect_order')}; make the split" in classes
    class_list_path(tmp_path / "split", "small_insect_order").write_text("the same")
    arguments = ["--output-dir", str(tmp_path), "--experiment", "small_insect_order", "--data-root", str(tmp_path)]
    package = _error_before_torch("train", *arguments, "--package", "cropped_256")
    assert package.endswith(
        f"{tmp_path / 'cropped_256'}: image package not found; download it with `bioscan-repro download --root "
        f"<data_root> --extract cropped_256.zip` (or notebook 01), or give the path of {PACKAGE_FORMS}"
    )


def test_test_refuses_a_wrong_device_and_predict_a_top_k_below_1_before_torch(tmp_path: Path) -> None:
    run = str(_run_folder(tmp_path / "runs", "large_insect_order_resnet50_ce_s1"))
    device = _error_before_torch("test", "--run", run, "--device", "gpu")
    assert device == "bioscan-repro test: --device 'gpu': choose auto, cpu, cuda or cuda:N"
    command = [sys.executable, "-m", "bioscan_lib", "predict", "--run", run, "--input", str(tmp_path), "--top-k", "0"]
    result = subprocess.run([*command, "--output", str(tmp_path / "labels.csv")], capture_output=True, text=True)
    assert result.returncode == 2 and "argument --top-k: '0': give a whole number of 1 or more" in result.stderr


def test_checkpoint_commands_refuse_a_mistyped_file_or_run_before_torch(tmp_path: Path) -> None:
    missing = tmp_path / "large_insect_order_resnet50_CE_s1_weights_best_acc.tar"
    imported = _error_before_torch("import-checkpoint", str(missing))
    assert imported == f"bioscan-repro import-checkpoint: {missing}: released classification checkpoint not found"
    run = _run_folder(tmp_path / "runs", "large_insect_order_resnet50_ce_s1")
    exported = _error_before_torch("export-checkpoint", f"{run}x", "--output", str(tmp_path / "out.tar"))
    assert exported.startswith(f"bioscan-repro export-checkpoint: {run}x: no such run folder; the runs in")


def test_open_world_scores_the_profiles_encoders_and_writes_its_tables(
    small_sample: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    from bioscan_lib import config
    from bioscan_lib.open_world.outputs import CLIBD_PARTITION_COUNTS, OPEN_WORLD_PUBLISHED

    values = {"profile": "test", "data_root": str(small_sample), "output_dir": str(tmp_path), "seed": 7}
    monkeypatch.setattr(config, "read_profile", lambda name: config.profile_from(values, "test"))
    assert cli.main(["open-world", "--profile", "test"]) == 0
    assert CLIBD_PARTITION_COUNTS.path(tmp_path).is_file() and OPEN_WORLD_PUBLISHED.path(tmp_path).is_file()
    assert "BLAST" in capsys.readouterr().out
