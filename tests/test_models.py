"""Models: timm by name, local weights files (safetensors or torch state dicts) with a new classifier."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from bioscan_lib.classify import models


def test_unknown_model_names_are_a_clear_error() -> None:
    with pytest.raises(ValueError, match="Unknown timm model 'no_such_net'"):
        models.create_model("no_such_net", 4)


def test_model_has_the_requested_number_of_classes() -> None:
    model = models.create_model("test_resnet", 7)
    assert model(torch.rand(2, 3, 32, 32)).shape == (2, 7)


@pytest.mark.parametrize("suffix", [".safetensors", ".pt"])
def test_local_weights_load_into_the_backbone_and_leave_the_classifier(tmp_path: Path, suffix: str) -> None:
    torch.manual_seed(0)
    source = models.create_model("test_resnet", 10)
    path = tmp_path / f"weights{suffix}"
    if suffix == ".safetensors":
        save_file(source.state_dict(), path)
    else:  # a training checkpoint as DistributedDataParallel saves it
        torch.save({"model": {f"module.{k}": v for k, v in source.state_dict().items()}, "epoch": 3}, path)
    model = models.create_model("test_resnet", 4, weights=path)
    assert torch.equal(model.conv1[0].weight, source.conv1[0].weight)
    assert model.fc.weight.shape == (4, source.fc.weight.shape[1])
    assert not torch.equal(model.fc.weight, source.fc.weight[:4])


def test_weights_of_another_architecture_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "vit.safetensors"
    save_file(models.create_model("test_vit", 4).state_dict(), path)
    with pytest.raises(ValueError, match="another architecture"):
        models.create_model("test_resnet", 4, weights=path)
    with pytest.raises(FileNotFoundError, match="weights file"):
        models.create_model("test_resnet", 4, weights=tmp_path / "absent.pt")
