"""Interactive views for JupyterLab (ipywidgets), each carrying a static picture of its default view; the stages'
views (`dataset.views`, `preprocess.views`, `classify.views`) are built on `linked`.

In JupyterLab the widget renders and responds; where no widget manager runs (papermill, nbval, nbconvert,
GitHub) the static PNG of the default selection shows instead, and the plain-text form is a fixed line.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Callable, Mapping
from typing import Any

import ipywidgets as widgets
import matplotlib.pyplot as plt
from matplotlib.figure import Figure


def figure_png(figure: Figure) -> str:
    """A figure as base64 PNG (the figure is closed)."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=90, bbox_inches="tight", metadata={"Software": None})
    plt.close(figure)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


class InteractiveView:
    """A widget shown with a static fallback: the PNG of its default view and a fixed text line."""

    def __init__(self, widget: widgets.Widget, fallback_png: str, title: str):
        self.widget, self.fallback_png, self.title = widget, fallback_png, title

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        bundle = dict(self.widget._repr_mimebundle_(include=include, exclude=exclude) or {})
        bundle["image/png"] = self.fallback_png
        bundle["text/plain"] = f"{self.title} (interactive in JupyterLab; static view of the default selection)"
        return bundle


def linked(
    controls: list[widgets.Widget],
    draw: Callable[[], Figure],
    title: str,
    refills: Mapping[widgets.Widget, Callable[[], None]] | None = None,
) -> InteractiveView:
    """Controls above a picture that is redrawn once whenever a control changes.

    A control's refill (e.g. a rank's list of taxa) runs before the redraw, and the controls it changes redraw nothing
    themselves. The picture is set as the output widget's state, not displayed, so headless runs record nothing extra.
    """
    output = widgets.Output()
    refills = refills or {}
    refilling = 0

    def redraw() -> str:
        png = figure_png(draw())
        output.outputs = (
            {"output_type": "display_data", "metadata": {}, "data": {"image/png": png, "text/plain": title}},
        )
        return png

    def changed(control: widgets.Widget) -> Callable[[Any], None]:
        def refill_and_redraw(_: Any) -> None:
            nonlocal refilling
            refilling += 1
            try:
                if control in refills:
                    refills[control]()
            finally:
                refilling -= 1
            if not refilling:
                redraw()

        return refill_and_redraw

    for control in controls:
        control.observe(changed(control), names="value")
    return InteractiveView(widgets.VBox([widgets.HBox(controls), output]), redraw(), title)
