"""Released checkpoints: files written exactly as the authors write theirs are imported, tested like trained runs and
agree with an independent evaluation; broken, foreign and malicious files are refused; export then import round-trips."""

from __future__ import annotations

import shutil
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
from bioscan_lib.config import TrainConfig
from bioscan_lib.core.files import file_digests
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
    params = evaluate.read_run_config(folder)
    assert params.imported_from == path.name and params.model == "resnet50" and params.seed == 2
    assert evaluate.read_test_metrics(folder)["best_epoch"] == 5  # published epochs count from 0


def test_a_vit_written_the_timm_way_tests_as_the_authors_would(released: dict) -> None:
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
                "paper",
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
    folder = released["out"] / "runs" / "large_insect_order_vit_tiny_patch16_224_ce_s1"
    config = evaluate.read_run_config(folder)
    assert (config.image_size, config.crop_size, config.normalize) == (256, 224, False)  # the paper profile's recipe
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
    assert set(content) == {"epoch", "model", "optimizer"} and content["epoch"] == 0
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
