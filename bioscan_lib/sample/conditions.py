"""Why a model trained on the sample fails on its held-out photographs: the held-out specimens drawn again under
the training condition with one group of the shifted condition's settings at a time, each set labelled and scored."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from bioscan_lib.classify.predict import predict_photographs, with_truth
from bioscan_lib.core.files import atomic_path
from bioscan_lib.data.images import encode_jpeg
from bioscan_lib.sample.photographs import DEFAULT_CONDITION, SHIFTED_CONDITION, ImagingCondition, draw_photo

CONDITIONS_FOLDER = "conditions"
SETTING_GROUPS = {  # the held-out condition's changes, grouped by what a photographer would change
    "background and well colours": ("background_rgb", "well_rgb", "rim_rgb"),
    "specimen lighting": ("specimen_light",),
    "well size and position": ("well_radius", "well_offset", "rim_width"),
    "gradient, reflections, noise and dust": ("gradient_strength", "reflection_strength", "noise_level", "dust_count"),
}
TRAINING_CONDITION = "none: the training condition"
ALL_CHANGES = "all: the held-out condition"


def condition_variants() -> dict[str, ImagingCondition]:
    """The training condition, it with each group of held-out settings alone, and the held-out condition."""
    variants = {TRAINING_CONDITION: DEFAULT_CONDITION}
    for group, settings in SETTING_GROUPS.items():
        variants[group] = dataclasses.replace(DEFAULT_CONDITION, **{s: getattr(SHIFTED_CONDITION, s) for s in settings})
    variants[ALL_CHANGES] = SHIFTED_CONDITION
    return variants


def _slug(name: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in name.split(":")[0]).strip("_")


def render_under(
    truth: pd.DataFrame, condition: ImagingCondition, folder: Path, seed: int, size: tuple[int, int]
) -> Path:
    """Draw each specimen of `truth` (its `order`, `family`, `image_file`) under a condition into `folder`.

    The specimen in row i of the held-out labels is drawn from the generator state [seed, i], as `generate_heldout`
    drew it; photographs already drawn are kept."""
    for row in tqdm(truth.itertuples(), total=len(truth), desc=folder.name, leave=False):
        path = folder / row.image_file
        if not path.is_file():
            photo, _ = draw_photo(row.order, row.family, np.random.default_rng([seed, row.Index]), size, condition)
            with atomic_path(path) as temporary:
                temporary.write_bytes(encode_jpeg(photo))
    return folder


def condition_study(
    run_dir: str | os.PathLike,
    heldout: str | os.PathLike,
    seed: int,
    size: tuple[int, int],
    threshold: float,
    crop: bool = True,
) -> pd.DataFrame:
    """Per condition variant: the held-out specimens of known orders drawn under it, the run's top-1 accuracy
    (percent), and the label it gives most often with its share (percent).

    `heldout` is what `generate_heldout` wrote with `seed` and `size`; its photographs are the last variant's."""
    heldout = Path(heldout)
    labels = pd.read_csv(heldout / "labels.csv")
    known_labels = labels[labels["seen_order"]]
    rows = []
    for name, condition in condition_variants().items():
        folder = heldout / "photos" if name == ALL_CHANGES else heldout / CONDITIONS_FOLDER / _slug(name)
        predictions = predict_photographs(
            run_dir, render_under(known_labels, condition, folder, seed, size), crop=crop, threshold=threshold
        )
        known = with_truth(predictions, labels).query("seen_order")
        counts = known["label_1"].value_counts()
        rows.append(
            {
                "changed from the training condition": name,
                "photographs": len(known),
                "top-1 accuracy (%)": round(100 * float(known["correct"].mean()), 2),
                "most given label": counts.index[0],
                "its share (%)": round(100 * counts.iloc[0] / len(known), 2),
            }
        )
    return pd.DataFrame(rows)
