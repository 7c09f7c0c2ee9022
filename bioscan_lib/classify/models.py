"""Classifiers: any timm model by name, with ImageNet weights from the hub, from a local file, or none."""

from __future__ import annotations

import os
from pathlib import Path

import timm
import torch
from safetensors.torch import load_file
from torch import nn

from bioscan_lib.classify.model_names import check_model_name, unknown_model_error
from bioscan_lib.core.checkpoint_files import load_checkpoint_file

STATE_DICT_KEYS = ("state_dict", "model", "model_state_dict")


def read_state_dict(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """Tensors of a weights file: safetensors, or a torch file loaded with weights_only (a `model`/`state_dict` entry is unwrapped)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"weights file {path} not found")
    if path.suffix == ".safetensors":
        state = load_file(path)
    else:
        state = load_checkpoint_file(path, "weights file")
        for key in STATE_DICT_KEYS:
            if isinstance(state, dict) and isinstance(state.get(key), dict):
                state = state[key]
                break
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ValueError(f"{path}: not a state dict of tensors; give a .safetensors file or a torch state dict")
    return {key.removeprefix("module."): value for key, value in state.items()}


def classifier_names(model: nn.Module) -> list[str]:
    """The module names of a timm model's classifier (e.g. `head`, `fc`), from its pretrained config."""
    classifier = getattr(model, "pretrained_cfg", {}).get("classifier", "")
    return [name for name in ([classifier] if isinstance(classifier, str) else classifier) if name]


def load_backbone_weights(model: nn.Module, path: str | os.PathLike) -> list[str]:
    """Load a weights file into `model`, leaving out the classifier whose shape differs; return the keys left out."""
    state = read_state_dict(path)
    own = model.state_dict()
    shape_mismatch = [key for key, value in state.items() if key in own and own[key].shape != value.shape]
    prefixes = tuple(f"{name}." for name in classifier_names(model))
    bad = [key for key in shape_mismatch if not prefixes or not key.startswith(prefixes)]
    if bad:
        raise ValueError(
            f"{path}: {len(bad)} tensors do not fit {type(model).__name__}, e.g. {bad[:3]}; "
            "is it the weights of another architecture?"
        )
    for key in shape_mismatch:
        state.pop(key)
    result = model.load_state_dict(state, strict=False)
    missing = [key for key in result.missing_keys if key not in shape_mismatch]
    if missing or result.unexpected_keys:
        raise ValueError(
            f"{path}: weights do not match the model: missing {missing[:3]}, unexpected "
            f"{result.unexpected_keys[:3]}; is it the weights of another architecture?"
        )
    return shape_mismatch


def create_model(
    name: str, num_classes: int, pretrained: bool = False, weights: str | os.PathLike | None = None
) -> nn.Module:
    """A timm model with a `num_classes` head: ImageNet weights from the hub (`pretrained`), from `weights`, or random."""
    check_model_name(name)
    try:
        model = timm.create_model(name, pretrained=pretrained and weights is None, num_classes=num_classes)
    except RuntimeError as error:
        if "Unknown model" in str(error):
            raise unknown_model_error(name) from error
        raise
    except OSError as error:
        raise FileNotFoundError(
            f"Could not fetch the pretrained weights of {name} from the hub ({error}); offline, "
            "pass a local file with --weights PATH, or train from scratch with --no-pretrained."
        ) from error
    if weights is not None:
        load_backbone_weights(model, weights)
    return model
