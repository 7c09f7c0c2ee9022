"""Plotting helpers shared by the stages (a stage's own figures live in its package)."""

from __future__ import annotations

import matplotlib.pyplot as plt
from matplotlib.figure import Figure

BASE_COLOURS = {"A": "red", "T": "blue", "C": "green", "G": "gold", "N": "lightgrey", "-": "white"}


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
