"""Quality of the built-in crop tool on real CBG photographs.

Usage: .venv/bin/python benchmarks/crop_quality.py FOLDER [--sheet crops.png]

FOLDER holds (anywhere below it) pairs `<id>.original_256.jpg` + `<id>.cropped_256.jpg` (an original resized
to 256 px and the published tool's crop of it) and full-size photographs (any other *.jpg). For each pair the
official crop box is found by matching the crop inside the original; the figures are the IoU of our crop box
with it (target: at least 0.77 on every pair) and our crop's area over the official one's. For each full-size
photograph the crop box and its share of the photograph are printed; `--sheet` saves the photographs with
their crop boxes beside the crops, to check by eye that each crop holds the whole specimen.
"""

from __future__ import annotations

import argparse
import io
import sys
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from bioscan_lib.data import images
from bioscan_lib.preprocess.crop import SpecimenCropper, box_iou, draw_box, match_crop_box

TARGET_IOU = 0.77


def pair_figures(folder: Path, cropper: SpecimenCropper) -> pd.DataFrame:
    """IoU and area ratio of our crop box against the official one, for every pair under `folder`."""
    rows = []
    for original_path in sorted(folder.rglob("*.original_256.jpg")):
        cropped_path = original_path.with_name(original_path.name.replace(".original_256.", ".cropped_256."))
        if not cropped_path.is_file():
            continue
        original = np.asarray(images.decode_image(original_path.read_bytes()))
        official, score = match_crop_box(original, np.asarray(images.decode_image(cropped_path.read_bytes())))
        ours = cropper.crop_box(original_path.read_bytes())[0]
        rows.append(
            {
                "image": original_path.name.split(".")[0],
                "official_box": tuple(int(v) for v in official),
                "match_score": round(score, 3),
                "our_box": tuple(int(v) for v in ours),
                "iou": round(box_iou(ours, official), 3),
                "area_ratio": round(ours.width * ours.height / (official.width * official.height), 2),
            }
        )
    return pd.DataFrame(rows)


def full_size_figures(folder: Path, cropper: SpecimenCropper) -> tuple[pd.DataFrame, list[Image.Image]]:
    """Crop box and its share of the photograph for every full-size photograph, with a picture of each."""
    rows, pictures = [], []
    for path in sorted(folder.rglob("*.jpg")):
        if ".original_256." in path.name or ".cropped_256." in path.name:
            continue
        data = path.read_bytes()
        box, look, scale = cropper.crop_box(data)
        encoded, _ = cropper(data)
        height, width = look.shape[0] * scale, look.shape[1] * scale
        rows.append(
            {
                "image": path.name,
                "crop_box": tuple(int(v) for v in box),
                "crop_share_of_photo": round(box.width * box.height / (width * height), 3),
                "inside_photo": box.left >= 0 and box.top >= 0 and box.right <= width and box.bottom <= height,
            }
        )
        marked = images.resize_shorter_side(draw_box(Image.fromarray(look), box.scaled(1 / scale), width=2), 256)
        crop_image = Image.open(io.BytesIO(encoded))
        picture = Image.new(
            "RGB", (marked.width + crop_image.width + 8, max(marked.height, crop_image.height)), "white"
        )
        picture.paste(marked, (0, 0))
        picture.paste(crop_image, (marked.width + 8, 0))
        pictures.append(picture)
    return pd.DataFrame(rows), pictures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path, help="folder of real photographs (pairs_256 and full-size)")
    parser.add_argument("--sheet", type=Path, help="save full-size photographs with their crop boxes beside the crops")
    arguments = parser.parse_args()
    if not arguments.folder.is_dir():
        print(f"{arguments.folder}: not a folder of photographs", file=sys.stderr)
        return 2
    cropper = SpecimenCropper()
    pairs = pair_figures(arguments.folder, cropper)
    full, pictures = full_size_figures(arguments.folder, cropper)
    if len(pairs):
        print("Pairs (original_256 vs the published crop):")
        print(pairs.to_string(index=False))
        print(
            f"lowest IoU {pairs['iou'].min():.3f} (target >= {TARGET_IOU}); "
            f"mean area ratio ours/official {pairs['area_ratio'].mean():.2f}"
        )
    if len(full):
        print("\nFull-size photographs:")
        print(full.to_string(index=False))
    if arguments.sheet and pictures:
        sheet = Image.new("RGB", (max(p.width for p in pictures), sum(p.height + 8 for p in pictures)), "white")
        top = 0
        for picture in pictures:
            sheet.paste(picture, (0, top))
            top += picture.height + 8
        sheet.save(arguments.sheet)
        print(f"\nsheet written: {arguments.sheet}")
    return 0 if not len(pairs) or pairs["iou"].min() >= TARGET_IOU else 1


if __name__ == "__main__":
    sys.exit(main())
