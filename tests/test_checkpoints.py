"""Released checkpoints: files written exactly as the authors write theirs are imported, tested like trained runs and
agree with an independent evaluation; broken, foreign and malicious files are refused; export then import round-trips."""

from __future__ import annotations

import shutil
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import timm
import torch
import torchvision
from PIL import Image
from split_reference import published_class_index
from tiny_run import TINY
from torch import nn
from torchvision import transforms

from bioscan_lib import cli
from bioscan_lib.classify import checkpoints
from bioscan_lib.classify import test as evaluate
from bioscan_lib.classify.train import train
from bioscan_lib.config import TrainConfig, run_config
from bioscan_lib.core.checkpoint_files import CheckpointError
from bioscan_lib.core.files import file_digests
from bioscan_lib.core.runs import CHECKPOINT_BEST, CHECKPOINT_LAST, RunFolder
from bioscan_lib.split import rules as split

EXPERIMENT = "large_insect_order"
PACKAGE = "bioscan1m/images/original_256"


@pytest.fixture
def released(small_sample: Path, output_with_splits, tmp_path: Path) -> dict:
    """A profile's output folder with splits, the class numbering by the authors' rule, and a folder for files."""
    out = output_with_splits()
    frame = split.read_split(split.split_folder(out))
    numbering = published_class_index(frame, EXPERIMENT)
    base = TrainConfig(
        profile="test", data_root=str(small_sample), output_dir=str(out), package=PACKAGE, workers=0, batch_size=16
    )
    return {"out": out, "frame": frame, "numbering": numbering, "base": base, "files": tmp_path}


def published_resnet50(classes: int) -> nn.Module:
    """ResNet-50 as the authors build it: torchvision's, with its `fc` replaced."""
    model = torchvision.models.resnet50(weights=None)
    model.fc = nn.Linear(2048, classes)
    return model


def save_published(model: nn.Module, path: Path, epoch: int = 4) -> Path:
    """Save as the authors' `utils.save`: epoch, model state dict and SGD optimizer state dict."""
    optimizer = torch.optim.SGD(model.parameters(), lr=0.001, momentum=0.9)
    torch.save({"epoch": epoch, "model": model.state_dict(), "optimizer": optimizer.state_dict()}, path)
    return path


def independent_logits(
    model: nn.Module, released: dict, size: int = 256, crop: int = 224
) -> tuple[list[str], torch.Tensor]:
    """The test split's logits computed the authors' way: PIL, Resize, CenterCrop, ToTensor, no normalisation."""
    transform = transforms.Compose([transforms.Resize(size), transforms.CenterCrop(crop), transforms.ToTensor()])
    frame = released["frame"]
    rows = frame[frame[EXPERIMENT] == "test"]
    root = Path(released["base"].data_root) / PACKAGE
    tensors = []
    for image_file, chunk in zip(rows["image_file"], rows["chunk_number"]):
        with Image.open(root / f"part{chunk}" / image_file) as image:
            tensors.append(transform(image.convert("RGB")))
    model.eval()
    with torch.no_grad():
        return rows["image_file"].astype(str).tolist(), model(torch.stack(tensors))


def spread_classes(model: nn.Module, classifier: nn.Linear, released: dict, size: int = 256, crop: int = 224) -> None:
    """Centre the classifier's logits over the test images, so that random weights answer more than one class."""
    with torch.no_grad():
        classifier.bias.zero_()
        classifier.bias.copy_(-independent_logits(model, released, size, crop)[1].mean(dim=0))


def independent_predictions(model: nn.Module, released: dict, size: int = 256, crop: int = 224) -> pd.DataFrame:
    """The test split labelled the authors' way, with their class numbering."""
    files, logits = independent_logits(model, released, size, crop)
    probabilities = logits.softmax(dim=1)
    names = {index: name for name, index in released["numbering"].items()}
    return pd.DataFrame(
        {
            "image_file": files,
            "predicted": [names[int(i)] for i in probabilities.argmax(dim=1)],
            "probability": probabilities.max(dim=1).values.numpy(),
        }
    )


def suite_predictions(folder: Path) -> pd.DataFrame:
    evaluate.evaluate_run(folder, progress=False)
    return pd.read_csv(folder / evaluate.PREDICTIONS_CSV)


def assert_same_predictions(ours: pd.DataFrame, theirs: pd.DataFrame) -> None:
    assert ours["image_file"].tolist() == theirs["image_file"].tolist()
    assert ours["predicted"].tolist() == theirs["predicted"].tolist()
    np.testing.assert_allclose(ours["probability"], theirs["probability"], atol=1e-4)
    assert ours["predicted"].nunique() > 1, "random weights should not give one answer for all, or this checks little"


def test_a_resnet50_written_the_torchvision_way_tests_as_the_authors_would(released: dict) -> None:
    torch.manual_seed(0)
    model = published_resnet50(len(released["numbering"]))
    spread_classes(model, model.fc, released)
    path = save_published(model, released["files"] / "large_insect_order_resnet50_CE_s2_weights_best_acc.tar")
    folder = checkpoints.import_checkpoint(path, released["base"])
    assert folder == released["out"] / "runs" / "large_insect_order_resnet50_ce_s2"
    assert_same_predictions(suite_predictions(folder), independent_predictions(model, released))
    params = run_config(RunFolder(folder))
    assert params.imported_from == path.name and params.model == "resnet50" and params.seed == 2
    assert evaluate.read_test_metrics(folder)["best_epoch"] == 5  # published epochs count from 0


def test_a_vit_imported_under_the_sample_profile_tests_at_the_published_transform(released: dict) -> None:
    torch.manual_seed(1)
    model = timm.create_model("vit_tiny_patch16_224", pretrained=False, num_classes=len(released["numbering"]))
    nn.init.normal_(model.head.weight, std=0.5)  # timm zero-initialises the head; give the classes distinct scores
    spread_classes(model, model.head, released)
    folder_name = released["files"] / "large_insect_order_vit_tiny_patch16_224_CE_1"
    folder_name.mkdir()
    path = save_published(
        model, folder_name / "large_insect_order_weights_best_acc.tar"
    )  # the training script's layout
    assert (
        cli.main(
            [
                "import-checkpoint",
                str(path),
                "--profile",
                "sample",  # whose own runs train at 72 / 64: a released file still tests at 256 / 224
                "--output-dir",
                str(released["out"]),
                "--data-root",
                released["base"].data_root,
                "--package",
                PACKAGE,
            ]
        )
        == 0
    )
    folder = released["out"] / "runs" / "large_insect_order_vit_tiny_patch16_224_ce_s1_released"  # as notebook 07
    config = run_config(RunFolder(folder))
    assert (config.image_size, config.crop_size, config.normalize) == (256, 224, False)  # the published transform
    evaluate.evaluate_run(folder, progress=False, workers=0)
    independent = independent_predictions(model, released)
    assert_same_predictions(pd.read_csv(folder / evaluate.PREDICTIONS_CSV), independent)


def test_names_in_both_published_layouts_are_understood() -> None:
    released_name = checkpoints.parse_checkpoint_name(
        "large_insect_order_vit_base_patch16_224_CE_s2_weights_best_acc.tar"
    )
    assert released_name == checkpoints.CheckpointName("large_insect_order", "vit_base_patch16_224", "ce", 2)
    assert released_name.published_file_name == "large_insect_order_vit_base_patch16_224_CE_s2_weights_best_acc.tar"
    script = checkpoints.parse_checkpoint_name(
        Path("small_diptera_family_resnet50_Focal_3") / "small_diptera_family_weights_best_acc.tar"
    )
    assert script == checkpoints.CheckpointName("small_diptera_family", "resnet50", "focal", 3)
    with pytest.raises(checkpoints.CheckpointError, match="state them with --experiment"):
        checkpoints.parse_checkpoint_name("my_model.tar")


class RunsCode:
    """An object whose unpickling would create a file: what a crafted checkpoint would do."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (exec, (f"open({str(self.marker)!r}, 'w').close()",))


def test_broken_foreign_and_malicious_files_are_refused_with_the_file_named(released: dict) -> None:
    files, base, classes = released["files"], released["base"], len(released["numbering"])
    tiny = timm.create_model("test_resnet", pretrained=False, num_classes=classes)
    good = save_published(tiny, files / "large_insect_order_test_resnet_CE_s1_weights_best_acc.tar")

    wrong_classes = save_published(
        timm.create_model("test_resnet", pretrained=False, num_classes=classes + 3),
        files / "large_insect_order_test_resnet_CE_s2_weights_best_acc.tar",
    )
    with pytest.raises(checkpoints.CheckpointError, match=f"{classes + 3} classes but the experiment has {classes}"):
        checkpoints.import_checkpoint(wrong_classes, base)

    truncated = files / "large_insect_order_test_resnet_CE_s3_weights_best_acc.tar"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(
        checkpoints.CheckpointError, match="truncated or corrupt: download the released classification checkpoint again"
    ):
        checkpoints.import_checkpoint(truncated, base)

    other_model = files / "large_insect_order_resnet50_CE_s4_weights_best_acc.tar"
    shutil.copy(good, other_model)
    with pytest.raises(checkpoints.CheckpointError, match="not the weights of resnet50.*another model"):
        checkpoints.import_checkpoint(other_model, base)

    marker = files / "code_ran"
    malicious = files / "large_insect_order_test_resnet_CE_s5_weights_best_acc.tar"
    torch.save({"epoch": 0, "model": tiny.state_dict(), "optimizer": RunsCode(marker)}, malicious)
    with pytest.raises(
        checkpoints.CheckpointError, match=r"refused.*GLOBAL exec was not an allowed global.*do not trust this file"
    ):
        checkpoints.import_checkpoint(malicious, base)
    assert not marker.exists()

    not_a_checkpoint = files / "large_insect_order_test_resnet_CE_s6_weights_best_acc.tar"
    torch.save({"state_dict": tiny.state_dict()}, not_a_checkpoint)
    with pytest.raises(checkpoints.CheckpointError, match="expected the published format"):
        checkpoints.import_checkpoint(not_a_checkpoint, base)
    assert cli.main(["import-checkpoint", str(truncated), "--output-dir", str(released["out"])]) == 2
    assert not list(released["out"].glob("runs/*/best.pt")), "a refused file leaves no run behind"


def test_export_then_import_gives_identical_predictions_and_never_overwrites_a_trained_run(released: dict) -> None:
    config = TrainConfig(**{**TINY, "epochs": 1}, data_root=released["base"].data_root, output_dir=str(released["out"]))
    trained = train(config, progress=False)
    exported = released["files"] / checkpoints.run_checkpoint_name(trained).published_file_name
    assert cli.main(["export-checkpoint", str(trained), "--output", str(exported)]) == 0
    content = torch.load(exported, weights_only=True)
    assert set(content) == {"epoch", "model", "optimizer", checkpoints.TRANSFORM_KEY} and content["epoch"] == 0
    assert content[checkpoints.TRANSFORM_KEY] == {"image_size": 40, "crop_size": 32, "normalize": False}
    with pytest.raises(checkpoints.CheckpointError, match="holds a run trained by the suite"):
        checkpoints.import_checkpoint(exported, config)
    imported = checkpoints.import_checkpoint(exported, config, run_name=f"{trained.name}_released")
    assert checkpoints.import_checkpoint(exported, config, run_name=imported.name) == imported  # already there
    changed = torch.load(exported, weights_only=True)
    changed["model"]["fc.bias"] += 1.0
    another = released["files"] / "another" / exported.name
    another.parent.mkdir()
    torch.save(changed, another)
    with pytest.raises(checkpoints.CheckpointError, match="holds an import of another file; import with --replace"):
        checkpoints.import_checkpoint(another, config, run_name=imported.name)
    checkpoints.import_checkpoint(another, config, run_name=imported.name, replace=True)
    assert checkpoints.imported_runs_table([imported]).loc[0, "sha256"] == file_digests(another)[0]
    checkpoints.import_checkpoint(exported, config, run_name=imported.name, replace=True)
    ours, back = suite_predictions(trained), suite_predictions(imported)
    pd.testing.assert_frame_equal(ours, back)
    results = evaluate.results_table([trained, imported])
    assert results["origin"].tolist() == ["trained", f"released checkpoint {exported.name}"]
    seed_nine = exported.with_name(exported.name.replace("_s3_", "_s9_"))
    shutil.copy(exported, seed_nine)
    checkpoints.import_checkpoint(seed_nine, config)
    with pytest.raises(ValueError, match="imported from .*not trained by the suite"):
        train(TrainConfig(**{**config.__dict__, "seed": 9}), progress=False)


def test_a_stated_value_wins_over_the_file_name_and_the_rest_come_from_it() -> None:
    path = "large_insect_order_resnet50_CE_s2_weights_best_acc.tar"
    name = checkpoints.stated_name(path, {"experiment": None, "model": None, "loss": "focal", "seed": None})
    assert (name.experiment, name.loss, name.seed) == ("large_insect_order", "focal", 2)
    with pytest.raises(checkpoints.CheckpointError, match="unnamed.tar: cannot tell"):
        checkpoints.stated_name("unnamed.tar", {"experiment": None, "model": "m", "loss": "ce", "seed": 1})


def test_a_stated_transform_wins_over_the_files(released: dict) -> None:
    model = timm.create_model("test_resnet", pretrained=False, num_classes=len(released["numbering"]))
    path = save_published(model, released["files"] / "large_insect_order_test_resnet_CE_s7_weights_best_acc.tar")
    folder = checkpoints.import_checkpoint(path, released["base"], transform={"image_size": 128, "crop_size": 112})
    config = run_config(RunFolder(folder))
    assert (config.image_size, config.crop_size, config.normalize) == (128, 112, False)


def test_export_never_writes_into_a_run_folder_unless_forced(released: dict, tmp_path: Path) -> None:
    config = TrainConfig(**{**TINY, "epochs": 1}, data_root=released["base"].data_root, output_dir=str(released["out"]))
    trained = train(config, progress=False)
    kept = {name: (trained / name).read_bytes() for name in (CHECKPOINT_LAST, CHECKPOINT_BEST)}
    for target in (trained / CHECKPOINT_LAST, trained / CHECKPOINT_BEST, trained / "copy.tar", tmp_path / "best.pt"):
        with pytest.raises(ValueError, match=r"refused: it would overwrite .*write it elsewhere, e\.g\. --output"):
            checkpoints.export_checkpoint(trained, target)
    assert {name: (trained / name).read_bytes() for name in kept} == kept
    assert cli.main(["export-checkpoint", str(trained), "--output", str(tmp_path / "best.pt"), "--force"]) == 0
    assert cli.main(["export-checkpoint", str(trained), "--output", str(trained / CHECKPOINT_LAST)]) == 2
    assert (trained / CHECKPOINT_LAST).read_bytes() == kept[CHECKPOINT_LAST]


def test_non_finite_weights_are_refused_naming_the_first_bad_key(released: dict) -> None:
    model = timm.create_model("test_resnet", pretrained=False, num_classes=len(released["numbering"]))
    state = model.state_dict()
    first_float = next(key for key, value in state.items() if value.is_floating_point())
    state[first_float].view(-1)[0] = float("nan")
    path = released["files"] / "large_insect_order_test_resnet_CE_s8_weights_best_acc.tar"
    torch.save({"epoch": 0, "model": state, "optimizer": {}}, path)
    with pytest.raises(CheckpointError, match=rf"{path.name}: {first_float} holds NaN or infinite weights"):
        checkpoints.import_checkpoint(path, released["base"])
    assert not (released["out"] / "runs" / "large_insect_order_test_resnet_ce_s8").exists()


def test_a_zip_bomb_is_refused_before_it_is_unpacked(released: dict) -> None:
    path = released["files"] / "large_insect_order_test_resnet_CE_s9_weights_best_acc.tar"
    torch.save({"epoch": 0, "model": {"fc.weight": torch.zeros(1 << 25)}, "optimizer": {}}, path)  # 128 MiB stored
    packed = path.with_suffix(".packed")
    with zipfile.ZipFile(path) as source, zipfile.ZipFile(packed, "w", zipfile.ZIP_DEFLATED) as bomb:
        for member in source.infolist():
            bomb.writestr(member.filename, source.read(member))
    packed.replace(path)
    assert path.stat().st_size < 1 << 20
    with pytest.raises(CheckpointError, match=r"refused: its records unpack to 134,21\d,\d{3} bytes"):
        checkpoints.import_checkpoint(path, released["base"])


def test_a_run_name_that_leaves_runs_is_refused(released: dict) -> None:
    model = timm.create_model("test_resnet", pretrained=False, num_classes=len(released["numbering"]))
    path = save_published(model, released["files"] / "large_insect_order_test_resnet_CE_s1_weights_best_acc.tar")
    for name in ("..", ".", "../elsewhere", "/tmp/x"):
        with pytest.raises(ValueError, match="must be one folder name"):
            checkpoints.import_checkpoint(path, released["base"], run_name=name)
    arguments = ["import-checkpoint", str(path), "--output-dir", str(released["out"]), "--run-name", ".."]
    assert cli.main(arguments) == 2
    assert not (released["out"] / "params.yaml").exists() and (released["out"] / "split").is_dir()


def test_a_failed_replacement_leaves_the_earlier_import_byte_for_byte(released: dict) -> None:
    model = timm.create_model("test_resnet", pretrained=False, num_classes=len(released["numbering"]))
    path = save_published(model, released["files"] / "large_insect_order_test_resnet_CE_s1_weights_best_acc.tar")
    folder = checkpoints.import_checkpoint(path, released["base"], run_name="kept")
    before = {item.name: item.read_bytes() for item in folder.iterdir()}
    state = model.state_dict()
    state["fc.bias"][0] = float("inf")
    broken = released["files"] / "broken" / path.name
    broken.parent.mkdir()
    torch.save({"epoch": 0, "model": state, "optimizer": {}}, broken)
    with pytest.raises(CheckpointError, match="fc.bias holds NaN or infinite"):
        checkpoints.import_checkpoint(broken, released["base"], run_name="kept", replace=True)
    assert {item.name: item.read_bytes() for item in folder.iterdir()} == before
    assert sorted(item.name for item in folder.parent.iterdir() if item.name.startswith(".")) == []
    (folder.parent / "not_a_run").mkdir()
    (folder.parent / "not_a_run" / "notes.txt").write_text("mine")
    with pytest.raises(CheckpointError, match="holds no run"):
        checkpoints.import_checkpoint(path, released["base"], run_name="not_a_run", replace=True)
    assert (folder.parent / "not_a_run" / "notes.txt").read_text() == "mine"
