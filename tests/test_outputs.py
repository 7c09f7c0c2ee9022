"""Tables and figures written under an output folder: figures as PNG and SVG, the same bytes on every save."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from bioscan_lib.core.outputs import FIGURES_FOLDER, Figure  # noqa: E402

EXAMPLE = Figure("example_{}", "Example: {}")


def _figure():
    figure, axes = plt.subplots()
    axes.imshow(np.arange(12).reshape(3, 4))  # an image and clipped artists: the SVG's ids come from hashes
    axes.plot([0, 3], [0, 2], label="line")
    axes.legend()
    axes.set_title("example")
    return figure


def test_a_figure_is_saved_as_png_and_svg_with_the_same_bytes_on_every_save(tmp_path: Path) -> None:
    first, second = tmp_path / "first", tmp_path / "second"
    png = EXAMPLE.save(_figure(), first, "run_a")
    EXAMPLE.save(_figure(), second, "run_a")
    assert png == first / FIGURES_FOLDER / "example_run_a.png"
    names = sorted(path.name for path in (first / FIGURES_FOLDER).iterdir())
    assert names == ["example_run_a.png", "example_run_a.svg"], "both formats, no temporary file left"
    for name in names:
        assert (first / FIGURES_FOLDER / name).read_bytes() == (second / FIGURES_FOLDER / name).read_bytes(), name
    svg = (first / FIGURES_FOLDER / "example_run_a.svg").read_text(encoding="utf-8")
    assert svg.lstrip().startswith("<?xml") and "<dc:date>" not in svg and "Matplotlib v" not in svg
