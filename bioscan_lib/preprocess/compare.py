"""Rebuilt packages beside the published ones, as a user with the real release checks them: image counts, pixel
differences of the resized originals, and the agreement of crop boxes (the published box found by matching)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from bioscan_lib.data import images
from bioscan_lib.preprocess.crop import Box, box_iou, displayed_size, enlarge_box, match_crop_box

BOX_COLUMNS = ["left", "top", "right", "bottom"]


def evenly_spaced(frame: pd.DataFrame, count: int) -> pd.DataFrame:
    """`count` rows spread evenly over `frame` (all of them when it has fewer), in order."""
    if count >= len(frame):
        return frame
    return frame.iloc[np.unique(np.linspace(0, len(frame) - 1, count).round().astype(int))]


def package_counts(records: pd.DataFrame, published: dict[str, Path], rebuilt: dict[str, Path]) -> pd.DataFrame:
    """Per package: images the metadata names, how many the published and the rebuilt package hold, and both."""
    files, chunks = records["image_file"].astype(str).tolist(), records["chunk_number"].astype(int).tolist()

    def held(path: Path) -> np.ndarray:
        return images.held_images(path, files, chunks) if Path(path).exists() else np.zeros(len(files), dtype=bool)

    rows = []
    for name in published:
        ours, theirs = held(rebuilt[name]), held(published[name])
        rows.append(
            {
                "package": name,
                "in_metadata": len(records),
                "published": int(theirs.sum()),
                "rebuilt": int(ours.sum()),
                "in_both": int((theirs & ours).sum()),
            }
        )
    return pd.DataFrame(rows)


def _pixels(reader, image_file: str, chunk_number: int) -> np.ndarray:
    return np.asarray(images.decode_image(reader.read(image_file, chunk_number)), dtype=np.int16)


def resized_differences(
    records: pd.DataFrame, published: str | os.PathLike, rebuilt: str | os.PathLike, progress: bool = True
) -> pd.DataFrame:
    """Per image: both sizes and, where they agree, the mean and largest absolute difference of the pixel values."""
    first, second = images.open_package(published), images.open_package(rebuilt)
    rows = []
    try:
        pairs = list(zip(records["image_file"].astype(str), records["chunk_number"].astype(int)))
        for image_file, chunk in tqdm(pairs, desc="comparing pixels", disable=not progress):
            ours, theirs = _pixels(second, image_file, chunk), _pixels(first, image_file, chunk)
            same = ours.shape == theirs.shape
            difference = np.abs(ours - theirs) if same else None
            rows.append(
                {
                    "image_file": image_file,
                    "published_size": f"{theirs.shape[1]}x{theirs.shape[0]}",
                    "rebuilt_size": f"{ours.shape[1]}x{ours.shape[0]}",
                    "mean_abs_difference": float(difference.mean()) if same else np.nan,
                    "max_abs_difference": int(difference.max()) if same else np.nan,
                }
            )
    finally:
        first.close()
        second.close()
    return pd.DataFrame(rows)


def published_crop_boxes(
    records: pd.DataFrame,
    original_256: str | os.PathLike,
    cropped_256: str | os.PathLike,
    original_full: str | os.PathLike,
    progress: bool = True,
) -> pd.DataFrame:
    """The box of each published crop in its full-size photograph: the crop matched inside `original_256`, scaled up
    by the full-size photograph's size; `match` is the matching score (1: a perfect match)."""
    readers = [images.open_package(path) for path in (original_256, cropped_256, original_full)]
    rows = []
    try:
        pairs = list(zip(records["image_file"].astype(str), records["chunk_number"].astype(int)))
        for image_file, chunk in tqdm(pairs, desc="finding the published boxes", disable=not progress):
            small, crop, full = (reader.read(image_file, chunk) for reader in readers)
            original = np.asarray(images.decode_image(small))
            box, score = match_crop_box(original, np.asarray(images.decode_image(crop)))
            scale = displayed_size(full)[1] / original.shape[0]
            rows.append({"image_file": image_file, **dict(zip(BOX_COLUMNS, box.scaled(scale))), "match": score})
    finally:
        for reader in readers:
            reader.close()
    return pd.DataFrame(rows, columns=["image_file", *BOX_COLUMNS, "match"])


def box_agreement(published: pd.DataFrame, rebuilt: pd.DataFrame) -> pd.DataFrame:
    """Per image in both tables: the IoU of the rebuilt crop box with the published one."""
    both = published.merge(rebuilt, on="image_file", suffixes=("_published", "_rebuilt"))
    ious = [
        box_iou(Box(*first), Box(*second))
        for first, second in zip(
            both[[f"{c}_published" for c in BOX_COLUMNS]].itertuples(index=False),
            both[[f"{c}_rebuilt" for c in BOX_COLUMNS]].itertuples(index=False),
        )
    ]
    return pd.DataFrame({"image_file": both["image_file"], "iou": ious})


def enlarged_true_boxes(truth_csv: str | os.PathLike) -> pd.DataFrame:
    """The sample generator's true specimen boxes enlarged as published: the boxes of its published crops."""
    truth = pd.read_csv(truth_csv)
    boxes = [enlarge_box(Box(*row)) for row in truth[BOX_COLUMNS].itertuples(index=False)]
    return pd.DataFrame([dict(zip(BOX_COLUMNS, box)) for box in boxes]).assign(image_file=truth["image_file"])


def comparison_summary(counts: pd.DataFrame, differences: pd.DataFrame, agreement: pd.DataFrame) -> pd.DataFrame:
    """The figures of the three checks in one table of measures and values."""
    same_size = differences["published_size"] == differences["rebuilt_size"]
    rows = [
        *(
            (f"{r.package}: images published / rebuilt / in both", f"{r.published} / {r.rebuilt} / {r.in_both}")
            for r in counts.itertuples()
        ),
        ("original_256: images compared, same size", f"{len(differences)}, {int(same_size.sum())}"),
        (
            "original_256: mean absolute pixel difference (0-255), median over images",
            _round(differences["mean_abs_difference"].median()),
        ),
        (
            "original_256: mean absolute pixel difference, largest image",
            _round(differences["mean_abs_difference"].max()),
        ),
        ("crop boxes compared", str(len(agreement))),
        ("crop box IoU with the published box, median", _round(agreement["iou"].median(), 3)),
        ("crop boxes with IoU >= 0.75", f"{int((agreement['iou'] >= 0.75).sum())} of {len(agreement)}"),
        ("crop box IoU, lowest", _round(agreement["iou"].min(), 3)),
    ]
    return pd.DataFrame(rows, columns=["measure", "value"])


def _round(value: float, digits: int = 2) -> str:
    return "n/a" if pd.isna(value) else f"{value:.{digits}f}"
