"""The timm architectures by name, read from timm's source without importing it (nor torch), so that a mistyped
`--model` is refused at once."""

from __future__ import annotations

import difflib
import importlib.util
import re
from functools import cache
from pathlib import Path

REGISTERED = re.compile(r"^@register_model\s*\ndef (\w+)\(", re.MULTILINE)  # timm's registry decorator
DEPRECATED = re.compile(r"register_model_deprecations\(\s*__name__,\s*\{(.*?)\}", re.DOTALL)  # old names, still taken
QUOTED_KEY = re.compile(r"""['"]([\w.-]+)['"]\s*:""")
HUB_PREFIXES = ("hf-hub:", "hf_hub:", "local-dir:")  # names timm resolves elsewhere than in its registry


@cache
def timm_architectures() -> frozenset[str]:
    """Every architecture timm registers, and its deprecated names; empty where timm is absent or laid out otherwise."""
    spec = importlib.util.find_spec("timm")
    if spec is None or spec.origin is None:
        return frozenset()
    names: set[str] = set()
    for path in (Path(spec.origin).parent / "models").glob("*.py"):
        text = path.read_text(encoding="utf-8")
        names.update(REGISTERED.findall(text))
        for block in DEPRECATED.findall(text):
            names.update(QUOTED_KEY.findall(block))
    return frozenset(names)


def unknown_model_error(name: str) -> ValueError:
    """The error for a model name timm does not know, naming the nearest architectures."""
    architecture = name.split(".", 1)[0]
    nearest = difflib.get_close_matches(architecture, sorted(timm_architectures()), n=3)
    hint = f"did you mean {', '.join(nearest)}? " if nearest else ""
    return ValueError(f"Unknown timm model {name!r}; {hint}timm.list_models() lists every name.")


def check_model_name(name: str) -> str:
    """`name` if timm registers its architecture (a `.tag` after it names weights, which timm checks), else an error;
    a hub name, or any name where timm's registry cannot be read, passes to timm."""
    known = timm_architectures()
    if not known or name.startswith(HUB_PREFIXES) or name.split(".", 1)[0] in known:
        return name
    raise unknown_model_error(name)
