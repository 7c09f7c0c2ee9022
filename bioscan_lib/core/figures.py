"""Plotting helpers shared by the stages (a stage's own figures live in its package)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.colors import to_rgb
from matplotlib.figure import Figure

DARK_TEXT, LIGHT_TEXT = "black", "white"
# black and white text contrast equally with a background of this relative luminance (WCAG 2: (L + 0.05) ratios)
EQUAL_CONTRAST_LUMINANCE = (0.05 * 1.05) ** 0.5 - 0.05


def relative_luminance(colour) -> float:
    """The relative luminance (0 black to 1 white) of a matplotlib colour, as WCAG 2 defines it from sRGB."""
    channels = np.asarray(to_rgb(colour))
    linear = np.where(channels <= 0.04045, channels / 12.92, ((channels + 0.055) / 1.055) ** 2.4)
    return float(linear @ (0.2126, 0.7152, 0.0722))


def text_colour_on(background) -> str:
    """Black or white, whichever contrasts more with the background colour of the text."""
    return DARK_TEXT if relative_luminance(background) > EQUAL_CONTRAST_LUMINANCE else LIGHT_TEXT


def write_in_cell(axes, row: int, column: int, text: str, background, fontsize: float = 6) -> None:
    """Write `text` centred in a cell of an image of a matrix, black or white as the cell's colour asks."""
    axes.text(column, row, text, ha="center", va="center", fontsize=fontsize, color=text_colour_on(background))


def image_grid(images: list, titles: list[str], columns: int = 6, size: float = 2.2) -> Figure:
    """A grid of photographs with a title under each (e.g. one specimen per order)."""
    rows = -(-len(images) // columns)
    figure, axes = plt.subplots(rows, columns, figsize=(columns * size, rows * size * 0.85), squeeze=False)
    for axis in axes.flat:
        axis.set_axis_off()
    for axis, image, title in zip(axes.flat, images, titles):
        axis.imshow(image)
        axis.set_title(title, fontsize=9)
    figure.tight_layout()
    return figure
