"""The data layer: what a BIOSCAN release is (one module of facts per release) and how its metadata and images are read."""

from importlib import import_module
from types import ModuleType

RELEASES = ("bioscan1m",)  # a second release (BIOSCAN-5M) is a second module beside bioscan1m.py, named here
DEFAULT_RELEASE = "bioscan1m"


def release(name: str = DEFAULT_RELEASE) -> ModuleType:
    """The facts module of the release `name`, as a profile's `release` key names it."""
    if name not in RELEASES:
        raise ValueError(f"Unknown release {name!r}; the releases are {', '.join(RELEASES)}. Fix the profile's `release`.")
    return import_module(f"{__name__}.{name}")
