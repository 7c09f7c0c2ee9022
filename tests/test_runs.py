"""Run folders: their file names, names that stay inside `runs/`, and a tampered folder refused in one line."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml
from tiny_run import TINY

from bioscan_lib import cli
from bioscan_lib.classify import train
from bioscan_lib.config import TrainConfig
from bioscan_lib.core.runs import (
    INFO_FILE,
    METRICS_JSON,
    PARAMS_FILE,
    RunFolder,
    RunFolderError,
    checked_name,
    inside_a_run,
    run_path,
)


@pytest.fixture(scope="module")
def trained_run(small_sample: Path, output_with_splits) -> Path:
    """A one-epoch tiny order classifier, copied by each test before it is tampered with."""
    out = output_with_splits()
    return train.train(
        TrainConfig(**{**TINY, "epochs": 1, "data_root": str(small_sample), "output_dir": str(out)}), progress=False
    )


def _params(edit: Callable[[dict], object]) -> Callable[[Path], None]:
    def tamper(folder: Path) -> None:
        params = yaml.safe_load((folder / PARAMS_FILE).read_text())
        edited = edit(params)
        (folder / PARAMS_FILE).write_text("" if edited is None else yaml.safe_dump(edited))

    return tamper


def _classes(edit: Callable[[list[str]], list[str]]) -> Callable[[Path], None]:
    def tamper(folder: Path) -> None:
        info = json.loads((folder / INFO_FILE).read_text())
        (folder / INFO_FILE).write_text(json.dumps({**info, "classes": edit(info["classes"])}))

    return tamper


TAMPERED = {
    "params emptied": (_params(lambda params: None), "params.yaml: is empty"),
    "a number turned into a string": (
        _params(lambda params: {**params, "epochs": "1"}),
        "epochs is '1', which is not of type int",
    ),
    "milestones hold a string": (
        _params(lambda params: {**params, "lr_milestones": ["a"]}),
        "lr_milestones is ['a'], which is not of type list[int]",
    ),
    "the model changed": (_params(lambda params: {**params, "model": "resnet18"}), "do not fit"),
    "the class list shortened": (_classes(lambda classes: classes[:-1]), "classes differ from the split's"),
    "the class list reversed": (_classes(lambda classes: classes[::-1]), "class 0 is"),
    "run_info.json missing": (lambda folder: (folder / INFO_FILE).unlink(), "run_info.json not found"),
    "run_info.json not JSON": (lambda folder: (folder / INFO_FILE).write_text("{"), "run_info.json: unreadable"),
}


@pytest.mark.parametrize("case", list(TAMPERED))
def test_a_tampered_run_folder_is_refused_in_one_line(case: str, trained_run: Path, tmp_path: Path, capsys) -> None:
    tamper, expected = TAMPERED[case]
    folder = tmp_path / "runs" / trained_run.name
    shutil.copytree(trained_run, folder)
    tamper(folder)
    assert cli.main(["test", "--run", str(folder), "--quiet", "--workers", "0"]) == 2
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1 and expected in error, error
    assert "Traceback" not in error and str(folder) in error
    assert not (folder / METRICS_JSON).exists(), "nothing is tested from a broken run"


def test_the_whole_run_is_tested(trained_run: Path, tmp_path: Path, capsys) -> None:
    folder = tmp_path / "runs" / trained_run.name
    shutil.copytree(trained_run, folder)
    assert cli.main(["test", "--run", str(folder), "--quiet", "--workers", "0"]) == 0
    assert (folder / METRICS_JSON).is_file()


def test_run_names_stay_inside_runs(tmp_path: Path) -> None:
    assert run_path(tmp_path, "a_s1") == tmp_path.resolve() / "runs" / "a_s1"
    for name in ("", ".", "..", "../elsewhere", "a/b", "a\\b", " a"):
        with pytest.raises(ValueError, match="one folder name"):
            checked_name(name)


def test_a_file_inside_a_run_is_recognised(trained_run: Path, tmp_path: Path) -> None:
    assert inside_a_run(trained_run / "last.pt") == trained_run.resolve()
    assert inside_a_run(tmp_path / "exported.pt") is None


def test_a_folder_that_is_no_run_says_so(tmp_path: Path) -> None:
    folder = RunFolder(tmp_path)
    assert not folder.is_run()
    with pytest.raises(RunFolderError, match="not a whole run folder"):
        folder.params
    (tmp_path / PARAMS_FILE).write_text("- a\n- list\n")
    with pytest.raises(RunFolderError, match="is a list"):
        RunFolder(tmp_path).params
