"""The papermill runner: notebook selection, parameter filtering, execution and skipping of finished runs."""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pandas as pd
import pytest
import yaml

from bioscan_lib import config
from bioscan_lib.core import paths
from bioscan_lib.core.paths import project_root
from bioscan_lib.core.runs import METRICS_JSON, PARAMS_FILE, runs_folder
from bioscan_lib.dna.outputs import DNA_RESULTS
from bioscan_lib.report import runner
from bioscan_lib.split.outputs import SPLIT_SIZES


@pytest.fixture()
def suite(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A throwaway suite folder with one profile and two numbered notebooks."""
    (tmp_path / "params").mkdir()
    (tmp_path / "notebooks").mkdir()
    (tmp_path / "params" / "tiny.yaml").write_text(
        yaml.safe_dump(
            {"profile": "tiny", "data_root": "data/tiny", "output_dir": "outputs/tiny", "mirror": "hello", "top_k": 1}
        )
    )
    for number, body in (
        ("01", "print(mirror)"),
        ("02", "from pathlib import Path\nPath('../marker.txt').write_text(output_dir)"),
    ):
        notebook = nbformat.v4.new_notebook()
        notebook.metadata["kernelspec"] = {"name": runner.KERNEL_NAME, "display_name": "Python", "language": "python"}
        parameters = nbformat.v4.new_code_cell('mirror = "default"\noutput_dir = "outputs/sample"')
        parameters.metadata["tags"] = ["parameters"]
        notebook.cells = [parameters, nbformat.v4.new_code_cell(body)]
        nbformat.write(notebook, tmp_path / "notebooks" / f"{number}_step.ipynb")
    monkeypatch.setenv(paths.ROOT_ENVIRONMENT_VARIABLE, str(tmp_path))
    return tmp_path


def test_notebooks_are_listed_in_order_and_selected_by_number(suite: Path) -> None:
    assert [p.name for p in runner.notebooks()] == ["01_step.ipynb", "02_step.ipynb"]
    assert [p.name for p in runner.notebooks(["02"])] == ["02_step.ipynb"]
    assert [p.name for p in runner.notebooks(["2", " 1"])] == ["01_step.ipynb", "02_step.ipynb"]
    with pytest.raises(ValueError, match="no notebook matches"):
        runner.notebooks(["09"])


def test_only_declared_parameters_are_passed(suite: Path) -> None:
    profile = config.load_profile("tiny")
    assert runner.notebook_parameters(suite / "notebooks" / "01_step.ipynb", profile) == {
        "mirror": "hello",
        "output_dir": "outputs/tiny",
    }


def test_unknown_profile_names_the_known_ones(suite: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"known profiles: \['tiny'\]"):
        config.load_profile("paper")


def test_run_executes_then_skips_until_forced(suite: Path) -> None:
    out = runner.execute_profile("tiny").out_dir
    executed = nbformat.read(out / "notebooks" / "01_step.ipynb", as_version=4)
    assert executed.cells[-1].outputs[0]["text"] == "hello\n"
    assert (suite / "marker.txt").read_text() == "outputs/tiny"
    first = (out / "notebooks" / "01_step.ipynb").stat().st_mtime_ns
    runner.execute_profile("tiny")
    assert (out / "notebooks" / "01_step.ipynb").stat().st_mtime_ns == first
    runner.execute_profile("tiny", only=["01"], force=True)
    assert (out / "notebooks" / "01_step.ipynb").stat().st_mtime_ns != first


HOLD_THE_LOCK = """
import sys, time
from pathlib import Path
from bioscan_lib.report import runner
with runner.profile_lock(Path(sys.argv[1]), "tiny"):
    time.sleep(600)
"""


def test_one_reproduce_per_profile_and_a_killed_ones_lock_is_taken_over(suite: Path) -> None:
    out = suite / "outputs" / "tiny"
    holder = subprocess.Popen([sys.executable, "-c", HOLD_THE_LOCK, str(out)])
    try:
        deadline = time.monotonic() + 60
        while not (out / runner.LOCK_OWNER_FILE).is_file() and time.monotonic() < deadline:
            time.sleep(0.1)
        with pytest.raises(ValueError, match=rf"profile 'tiny' is being reproduced by process {holder.pid} on "):
            runner.execute_profile("tiny")
        assert not (out / "notebooks").exists(), "the second run wrote nothing"
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    assert (out / runner.LOCK_FILE).exists() and (out / runner.LOCK_OWNER_FILE).exists(), "a killed run's leftovers"
    assert [outcome.status for outcome in runner.execute_profile("tiny").outcomes] == ["executed", "executed"]
    assert not (out / runner.LOCK_OWNER_FILE).exists()


def test_a_rerun_notebook_reruns_the_ones_after_it(suite: Path) -> None:
    out = runner.execute_profile("tiny").out_dir
    second = (out / "notebooks" / "02_step.ipynb").stat().st_mtime_ns
    notebook = suite / "notebooks" / "01_step.ipynb"
    notebook.write_text(notebook.read_text().replace("print(mirror)", "print(mirror * 2)"))
    runner.execute_profile("tiny")
    assert (out / "notebooks" / "02_step.ipynb").stat().st_mtime_ns != second


def test_a_profile_can_skip_a_notebook_unless_it_is_asked_for(suite: Path) -> None:
    profile = suite / "params" / "tiny.yaml"
    profile.write_text(profile.read_text() + "skip_notebooks: ['02']\n")
    out = runner.execute_profile("tiny").out_dir
    assert (out / "notebooks" / "01_step.ipynb").is_file() and not (out / "notebooks" / "02_step.ipynb").exists()
    assert runner.execute_profile("tiny", only=["02"]).outcomes[0].status == "executed"
    assert (out / "notebooks" / "02_step.ipynb").is_file()


def _write_notebook(suite: Path, name: str, body: str) -> Path:
    notebook = nbformat.v4.new_notebook()
    notebook.metadata["kernelspec"] = {"name": runner.KERNEL_NAME, "display_name": "Python", "language": "python"}
    parameters = nbformat.v4.new_code_cell('data_root = "data/sample"')
    parameters.metadata["tags"] = ["parameters"]
    notebook.cells = [parameters, nbformat.v4.new_code_cell(body)]
    path = suite / "notebooks" / f"{name}.ipynb"
    nbformat.write(notebook, path)
    return path


def test_a_failed_notebook_is_kept_apart_named_and_rerun_once_fixed(suite: Path) -> None:
    out = runner.execute_profile("tiny").out_dir / "notebooks"
    good = (out / "01_step.ipynb").read_bytes()
    notebook = suite / "notebooks" / "01_step.ipynb"
    notebook.write_text(notebook.read_text().replace("print(mirror)", "raise KeyError('no such column')"))
    run = runner.execute_profile("tiny")
    assert [(o.notebook, o.status) for o in run.outcomes] == [("01_step", "failed"), ("02_step", "not run")]
    assert run.failed[0].reason == "01_step failed in cell [3]: KeyError: 'no such column'"
    assert (out / "01_step.ipynb").read_bytes() == good, "the last good notebook is kept"
    assert "KeyError" in (out / "01_step.failed.ipynb").read_text()
    assert not (out / ".01_step.done.json").exists()
    notebook.write_text(notebook.read_text().replace("raise KeyError('no such column')", "print(mirror)"))
    assert runner.execute_profile("tiny").outcomes[0].status == "executed"
    assert not (out / "01_step.failed.ipynb").exists()


def test_other_library_code_makes_a_notebook_out_of_date(suite: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    runner.execute_profile("tiny")
    assert {o.status for o in runner.execute_profile("tiny").outcomes} == {"up to date"}
    monkeypatch.setattr(runner, "library_fingerprint", lambda: "another library")
    assert {o.status for o in runner.execute_profile("tiny").outcomes} == {"executed"}


def test_an_earlier_notebook_rerun_alone_makes_the_later_ones_stale(
    suite: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """03 rerun on its own (`--only 03`) changes the split: the next `reproduce` reruns 04 and says why."""
    monkeypatch.setitem(runner.INPUTS, "04_split_statistics", ())  # no metadata TSV needed here
    split_file = runner.READS["04_split_statistics"][0]({"output_dir": str(suite / "outputs" / "tiny")})[0]
    split_file.parent.mkdir(parents=True)
    split_file.write_text("sampleid\tlarge_insect_order\n1\ttrain\n")
    _write_notebook(suite, "04_split_statistics", "print(data_root)")
    only = ["04_split_statistics"]
    assert runner.execute_profile("tiny", only=only).outcomes[0].status == "executed"
    assert runner.execute_profile("tiny", only=only).outcomes[0].status == "up to date"
    split_file.write_text("sampleid\tlarge_insect_order\n1\ttest\n")
    outcome = runner.execute_profile("tiny", only=only).outcomes[0]
    assert (outcome.status, outcome.reason) == ("executed", f"stale: {split_file} changed since its last run")
    assert runner.execute_profile("tiny", only=only).outcomes[0].status == "up to date"


def test_a_run_trained_imported_or_tested_by_a_command_makes_07_and_08_stale(suite: Path) -> None:
    out = suite / "outputs" / "tiny"
    profile = {"output_dir": str(out), "data_root": str(suite / "data"), "run": "r1", "photographs": "new"}
    profile |= {"checkpoints_dir": str(suite / "checkpoints")}
    notebooks = {name: _write_notebook(suite, name, "pass") for name in ("07_test", "08_generalization")}

    def execute(name: str) -> None:
        runner.execute_notebook(notebooks[name], {}, out, lambda: runner.input_digests(notebooks[name], profile))

    def stale(name: str) -> str:
        return runner.stale_reason(notebooks[name], {}, out, profile)

    for name in notebooks:
        execute(name)
    assert {name: stale(name) for name in notebooks} == {"07_test": "", "08_generalization": ""}
    run = runs_folder(str(out)) / "r1"
    run.mkdir(parents=True)
    (run / PARAMS_FILE).write_text("experiment: large_insect_order\n")  # trained or imported by a command
    for name in notebooks:
        assert stale(name) == f"stale: {run / PARAMS_FILE} is new since its last run", name
    execute("07_test")
    (run / METRICS_JSON).write_text('{"top1": 0.5}')  # tested by a command
    assert stale("07_test") == f"stale: {run / METRICS_JSON} is new since its last run"
    execute("07_test")
    (suite / "checkpoints").mkdir()
    (suite / "checkpoints" / "order.tar").write_bytes(b"released")
    assert stale("07_test") == f"stale: {suite / 'checkpoints' / 'order.tar'} is new since its last run"


def test_notebooks_lacking_their_inputs_are_skipped_with_the_reason(suite: Path) -> None:
    _write_notebook(suite, "03_data_split", "print(data_root)")
    run = runner.execute_profile("tiny", only=["03_data_split"])
    assert run.outcomes[0].status == "skipped" and "No metadata TSV" in run.outcomes[0].reason
    assert run.nothing_ran


def test_no_network_and_nothing_downloaded_fails_at_once(suite: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    profile = suite / "params" / "tiny.yaml"
    profile.write_text(profile.read_text().replace("mirror: hello", "files: [cropped_256.zip]"))
    _write_notebook(suite, "01_download", "raise RuntimeError('must not run')")
    monkeypatch.setattr(runner, "host_answers", lambda url: False)
    run = runner.execute_profile("tiny", only=["01_download"])
    assert run.outcomes[0].status == "skipped" and run.nothing_ran
    assert "no network" in run.outcomes[0].reason and "cropped_256.zip" in run.outcomes[0].reason
    assert "bioscan-repro download --root <folder> --extract cropped_256.zip" in run.outcomes[0].reason


def test_with_metadata_only_02_to_04_and_09_run_and_the_rest_say_what_is_missing(
    small_sample: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The cheapest way in: the metadata TSV alone, no photographs, no network."""
    (tmp_path / "data" / "bioscan1m").mkdir(parents=True)
    metadata = next((small_sample / "bioscan1m").glob("*.tsv"))
    shutil.copy(metadata, tmp_path / "data" / "bioscan1m" / metadata.name)
    (tmp_path / "params").mkdir()
    (tmp_path / "notebooks").symlink_to(project_root() / "notebooks")
    profile = {"profile": "metadata", "data_root": "data", "output_dir": "outputs/metadata", "seed": 7}
    profile |= {"medium_size": 100, "small_size": 40, "files": ["cropped_256.zip"], "skip_notebooks": ["05"]}
    (tmp_path / "params" / "metadata.yaml").write_text(yaml.safe_dump(profile))
    monkeypatch.setenv(paths.ROOT_ENVIRONMENT_VARIABLE, str(tmp_path))
    monkeypatch.setattr(runner, "host_answers", lambda url: False)
    run = runner.execute_profile("metadata")
    status = {o.notebook[:2]: (o.status, o.reason) for o in run.outcomes}
    ran = ("02", "03", "04", "09")
    assert {number: status[number][0] for number in ran} == dict.fromkeys(ran, "executed"), status
    assert status["01"][0] == "skipped" and "no network" in status["01"][1]
    assert status["05"] == ("skipped", "skip_notebooks of profile 'metadata'")
    assert status["06"][0] == "skipped" and "cropped_256" in status["06"][1]
    assert status["07"][0] == "skipped" and "no trained run" in status["07"][1]
    assert status["08"][0] == "skipped" and not run.failed
    executed = (run.out_dir / "notebooks" / "02_dataset_statistics.ipynb").read_text()
    assert "image package not found" in executed and "--extract original_256.zip" in executed
    assert SPLIT_SIZES.path(run.out_dir).is_file()
    assert len(pd.read_csv(DNA_RESULTS.path(run.out_dir))) > 6, "the DNA rows and Table 3's, no image rows"


def test_the_paper_profile_trains_only_when_asked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With every input present, `reproduce --profile paper` tests the released models but starts no training."""
    executed: list[str] = []
    monkeypatch.setattr(runner, "missing_inputs", lambda notebook, profile: "")
    monkeypatch.setattr(
        runner, "execute_notebook", lambda notebook, *rest: executed.append(notebook.stem[:2]) or notebook
    )
    overrides = {"output_dir": str(tmp_path / "paper")}
    runner.execute_profile("paper", overrides=overrides)
    assert executed == ["01", "02", "03", "04", "07", "09", "10"]
    executed.clear()
    runner.execute_profile("paper", only=["06"], overrides=overrides)
    assert executed == ["06"]


def test_a_train_setting_overridden_through_the_runner_reaches_notebooks_06_and_07() -> None:
    profile = config.load_profile("sample", {"train_epochs": 2, "train_lr": 0.01})
    for name in ("06_train", "07_test"):
        parameters = runner.notebook_parameters(project_root() / "notebooks" / f"{name}.ipynb", profile)
        assert parameters["training"]["epochs"] == 2 and parameters["training"]["lr"] == 0.01, name
    parameters = runner.notebook_parameters(project_root() / "notebooks" / "06_train.ipynb", profile)
    arguments = [parameters[key] for key in ("profile", "data_root", "output_dir", "seed", "training")]
    configs = config.notebook_profile(*arguments, parameters["train_experiments"]).train_configs()
    assert [(c.epochs, c.lr, c.lr_milestones) for c in configs] == [(2, 0.01, [7, 9])] * 2
    with pytest.raises(ValueError, match="train_epochs is 'two'"):
        config.load_profile("sample", {"train_epochs": "two"})
