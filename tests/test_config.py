"""Configuration: profiles validated against typed settings, derived names, training parameters in layers, and
every notebook's parameter defaults equal to the sample profile."""

from __future__ import annotations

import ast
from pathlib import Path

import papermill
import pytest

from bioscan_lib import config
from bioscan_lib.core.paths import project_root

SAMPLE = {"profile": "x", "data_root": "data/x", "output_dir": "outputs/x"}


def test_both_profiles_are_valid_and_the_sample_derives_the_run_notebook_08_labels_with() -> None:
    assert config.read_profile("paper").generalization_run() == "large_insect_order_vit_base_patch16_224_ce_s2_released"
    sample = config.read_profile("sample")
    assert sample.generalization_run() == "large_insect_order_test_resnet_ce_s2023"
    assert config.load_profile("sample")["run"] == sample.generalization_run()
    assert [c.run_name for c in sample.train_configs()] == [
        "large_insect_order_test_resnet_ce_s2023",
        "large_diptera_family_test_resnet_ce_s2023",
    ]


def test_the_paper_profile_trains_with_the_published_recipe_written_once() -> None:
    paper = config.read_profile("paper").train_configs()[0]
    recipe = config.TrainConfig()
    assert (paper.model, paper.lr, paper.lr_milestones, paper.epochs, paper.batch_size, paper.precise_bn_batches) == (
        recipe.model,
        recipe.lr,
        recipe.lr_milestones,
        recipe.epochs,
        recipe.batch_size,
        0,
    )
    assert (recipe.model, recipe.lr, recipe.lr_milestones, recipe.epochs) == (
        "vit_base_patch16_224",
        1e-3,
        [20, 25],
        100,
    )


def test_an_unknown_key_names_the_nearest_valid_one() -> None:
    with pytest.raises(ValueError, match=r"unknown key 'train_epoch'; did you mean 'train_epochs'\?"):
        config.profile_from({**SAMPLE, "train_epoch": 3})
    with pytest.raises(ValueError, match=r"unknown key 'gallery_cont'; did you mean 'gallery_count'\?"):
        config.profile_from({**SAMPLE, "gallery_cont": 3})
    with pytest.raises(ValueError, match=r"unknown key 'learning_rate'"):
        config.config_from({"learning_rate": 0.1})
    with pytest.raises(ValueError, match="missing key"):
        config.profile_from({"profile": "x"})


def test_a_value_of_the_wrong_type_is_named() -> None:
    with pytest.raises(ValueError, match="train_lr is 'fast'"):
        config.profile_from({**SAMPLE, "train_lr": "fast"})
    with pytest.raises(ValueError, match="top_k is True"):
        config.profile_from({**SAMPLE, "top_k": True})
    assert config.profile_from({**SAMPLE, "train_lr": 1}).training == {"lr": 1}  # an int is a valid float
    with pytest.raises(ValueError, match=r"train_lr_milestones is \['a'\], which is not of type list\[int\]"):
        config.profile_from({**SAMPLE, "train_lr_milestones": ["a"]})
    with pytest.raises(ValueError, match=r"lr_milestones is \[1, 'a'\]"):
        config.config_from({"lr_milestones": [1, "a"]})


def test_training_parameters_come_from_defaults_profile_file_and_overrides_in_that_order(tmp_path: Path) -> None:
    params = tmp_path / "run.yaml"
    params.write_text("loss: focal\nseed: 9\n")
    chosen = config.train_config(params_file=params, overrides={"seed": 11, "lr": None})
    assert (chosen.loss, chosen.seed, chosen.lr) == ("focal", 11, 1e-3)
    params.write_text("profile: sample\nexperiment: large_diptera_family\n")
    from_profile = config.train_config(params_file=params)
    assert (from_profile.model, from_profile.lr, from_profile.experiment) == (
        "test_resnet",
        0.05,
        "large_diptera_family",
    )
    with pytest.raises(ValueError, match="Unknown loss"):
        config.TrainConfig(loss="hinge")


@pytest.mark.parametrize(
    "notebook", sorted((project_root() / "notebooks").glob("[0-9][0-9]_*.ipynb")), ids=lambda p: p.stem
)
def test_notebook_parameter_defaults_equal_the_sample_profile(notebook: Path) -> None:
    profile = config.load_profile("sample")
    declared = papermill.inspect_notebook(str(notebook))
    assert declared, f"{notebook.name} has no cell tagged parameters"
    for name, parameter in declared.items():
        default = ast.literal_eval(parameter["default"])
        if name in profile:
            assert default == profile[name], (
                f"{notebook.name}: {name} = {default!r}, params/sample.yaml: {profile[name]!r}"
            )
        else:
            assert name not in config.PROFILE_FIELDS | config.TRAIN_KEYS_IN_PROFILE, f"{name} missing from sample.yaml"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("profile: x\ndata_root: [unclosed\n", r"x\.yaml: line 3, column 1: not valid YAML"),
        ("- profile\n- paper\n", r"x\.yaml: holds a list, not `key: value` lines"),
        ("", r"x\.yaml: missing key\(s\) \['profile', 'data_root', 'output_dir'\]"),
    ],
)
def test_a_broken_profile_file_is_one_line_naming_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str, message: str
) -> None:
    (tmp_path / "params").mkdir()
    (tmp_path / "notebooks").mkdir()
    (tmp_path / "params" / "x.yaml").write_text(text)
    monkeypatch.setenv("BIOSCAN_REPRO_ROOT", str(tmp_path))
    with pytest.raises(ValueError, match=message) as raised:
        config.load_profile("x")
    assert "\n" not in str(raised.value)


def test_a_profile_names_a_known_release(tmp_path: Path) -> None:
    values = {**config.read_yaml_mapping(config.profile_file("sample")), "release": "bioscan9m"}
    with pytest.raises(ValueError, match="release is 'bioscan9m'; the releases are bioscan1m"):
        config.profile_from(values, "params/test.yaml")
