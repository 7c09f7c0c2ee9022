"""The papermill runner: notebook selection, parameter filtering, execution and skipping of finished runs."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
import yaml

from bioscan_lib import config
from bioscan_lib.core import paths
from bioscan_lib.report import runner


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
    out = runner.execute_profile("tiny")
    executed = nbformat.read(out / "notebooks" / "01_step.ipynb", as_version=4)
    assert executed.cells[-1].outputs[0]["text"] == "hello\n"
    assert (suite / "marker.txt").read_text() == "outputs/tiny"
    first = (out / "notebooks" / "01_step.ipynb").stat().st_mtime_ns
    runner.execute_profile("tiny")
    assert (out / "notebooks" / "01_step.ipynb").stat().st_mtime_ns == first
    runner.execute_profile("tiny", only=["01"], force=True)
    assert (out / "notebooks" / "01_step.ipynb").stat().st_mtime_ns != first


def test_a_rerun_notebook_reruns_the_ones_after_it(suite: Path) -> None:
    out = runner.execute_profile("tiny")
    second = (out / "notebooks" / "02_step.ipynb").stat().st_mtime_ns
    notebook = suite / "notebooks" / "01_step.ipynb"
    notebook.write_text(notebook.read_text().replace("print(mirror)", "print(mirror * 2)"))
    runner.execute_profile("tiny")
    assert (out / "notebooks" / "02_step.ipynb").stat().st_mtime_ns != second


def test_a_profile_can_skip_a_notebook_unless_it_is_asked_for(suite: Path) -> None:
    profile = suite / "params" / "tiny.yaml"
    profile.write_text(profile.read_text() + "skip_notebooks: ['02']\n")
    out = runner.execute_profile("tiny")
    assert (out / "notebooks" / "01_step.ipynb").is_file() and not (out / "notebooks" / "02_step.ipynb").exists()
    runner.execute_profile("tiny", only=["02"])
    assert (out / "notebooks" / "02_step.ipynb").is_file()
