"""Resize and crop speed on full-size 2880x2160 JPEGs, side by side with the published approach.

The published approach runs one ImageMagick `convert IN -resize x256 OUT` process per image, and for the crop first
its DETR on every photograph. Set-up: `make imagemagick` (Debian's package); without the real ImageMagick the
baseline is skipped with a message.

Usage: .venv/bin/python benchmarks/bench_preprocess.py [--images DIR] [--count N] [--workers W]
`--images` adds real full-size photographs (every *.jpg of at least 2000 px under DIR), timed as their own set.
Per-core figures are images per CPU-second of one process (ImageMagick: CPU time of its child processes). The
published DETR is timed with random weights (same compute), on one CPU thread, and on the GPU when there is one.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from bioscan_lib.data import images
from bioscan_lib.preprocess import process as preprocess
from bioscan_lib.preprocess.crop import WORKING_SIZE, DetrDetector, SpecimenCropper
from bioscan_lib.sample.photographs import ORDERS_DRAWN, draw_photo

FULL_SIZE = (2880, 2160)
RESIZE = "convert -resize x256, one process per image"


def generated_photographs(count: int, seed: int = 7) -> list[bytes]:
    """`count` synthetic full-size CBG photographs as JPEG bytes."""
    rng = np.random.default_rng(seed)
    return [
        images.encode_jpeg(draw_photo(ORDERS_DRAWN[k % len(ORDERS_DRAWN)], "Benchidae", rng, size=FULL_SIZE)[0])
        for k in range(count)
    ]


def real_photographs(folder: Path) -> list[bytes]:
    """Every full-size JPEG (shorter side at least 2000 px) under `folder`."""
    from PIL import Image

    found = []
    for path in sorted(folder.rglob("*.jpg")):
        with Image.open(path) as image:
            if min(image.size) >= 2000:
                found.append(path.read_bytes())
    return found


def imagemagick() -> str | None:
    """The real ImageMagick `convert`, or None (with the reason printed)."""
    convert = shutil.which("convert")
    if convert is None:
        print("ImageMagick baseline skipped: no `convert` on PATH (make imagemagick)")
        return None
    version = subprocess.run([convert, "-version"], capture_output=True, text=True).stdout
    if "ImageMagick" not in version:
        print(f"ImageMagick baseline skipped: {convert} is not ImageMagick (make imagemagick)")
        return None
    return convert


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def per_core_ours(function, inputs: list) -> float:
    """Images per CPU-second of this process for `function` over `inputs` (after one warm-up call)."""
    function(inputs[0])
    start = time.process_time()
    for data in inputs:
        function(data)
    return len(inputs) / (time.process_time() - start)


def per_core_imagemagick(convert: str, files: list[Path], out_dir: Path, crops: list[tuple[int, ...]] | None) -> float:
    """Images per CPU-second of one `convert` process per image (resize, or crop then resize)."""
    start = children_cpu()
    for index, file in enumerate(files):
        cut = []
        if crops is not None:
            left, top, right, bottom = crops[index]
            cut = ["-crop", f"{right - left}x{bottom - top}+{left}+{top}", "+repage"]
        subprocess.run(
            [convert, str(file), *cut, "-resize", "x256", str(out_dir / f"{index}.jpg")],
            check=True,
            env={**os.environ, "MAGICK_THREAD_LIMIT": "1"},
        )
    return len(files) / (children_cpu() - start)


def random_detr(device: str) -> DetrDetector:
    """The published crop tool's detector (DETR-ResNet-50, one class) with random weights: the same compute."""
    from transformers import DetrConfig, DetrForObjectDetection

    return DetrDetector(DetrForObjectDetection(DetrConfig(num_labels=1)), device=device)


def detr_rate(photographs: list[bytes], device: str) -> float:
    """Images per second of the published detector: per CPU-second on one thread, or wall-clock on a GPU."""
    import torch

    detector = random_detr(device)
    looks = [np.asarray(images.decode_image(data, shorter_side=800)) for data in photographs]
    if device == "cpu":
        torch.set_num_threads(1)
        return per_core_ours(detector, looks)
    detector(looks[0])
    torch.cuda.synchronize()
    start = time.perf_counter()
    for look in looks:
        detector(look)
    torch.cuda.synchronize()
    return len(looks) / (time.perf_counter() - start)


def write_files(photographs: list[bytes], folder: Path, prefix: str) -> list[Path]:
    """The photographs as files `<prefix><index>.jpg` in `folder`."""
    files = [folder / f"{prefix}{index}.jpg" for index in range(len(photographs))]
    for file, data in zip(files, photographs):
        file.write_bytes(data)
    return files


def per_core_table(sets: dict[str, list[bytes]], folder: Path) -> pd.DataFrame:
    """Ours and the published approach, images per CPU-second, for every set of photographs."""
    convert, cropper, rows = imagemagick(), SpecimenCropper(), []
    for name, photographs in sets.items():
        files = write_files(photographs, folder, name)
        resize = per_core_ours(preprocess.Resizer(), photographs)
        crop = per_core_ours(cropper, photographs)
        decode = per_core_ours(lambda data: images.decode_array(data, shorter_side=WORKING_SIZE), photographs)
        baselines = [("resize", resize, RESIZE, None), ("crop", crop, RESIZE, None)]
        if convert is not None:
            resize_baseline = per_core_imagemagick(convert, files, folder, None)
            crops = [tuple(int(v) for v in cropper.crop_box(data)[0]) for data in photographs]
            cut_baseline = per_core_imagemagick(convert, files, folder, crops)
            detr = detr_rate(photographs[:2], "cpu")
            baselines = [
                ("resize", resize, RESIZE, resize_baseline),
                ("crop", crop, RESIZE, resize_baseline),
                ("crop", crop, "convert -crop BOX -resize x256 (no detection)", cut_baseline),
                ("crop", crop, f"DETR-R50 ({detr:.2f}/s) + convert -crop -resize", 1 / (1 / detr + 1 / cut_baseline)),
            ]
        for stage, ours, approach, theirs in baselines:
            rows.append(
                {
                    "photographs": f"{name} ({len(photographs)})",
                    "stage": stage,
                    "ours": round(ours, 1),
                    "published approach": approach if theirs else f"{approach}: ImageMagick absent",
                    "theirs": round(theirs, 2) if theirs else float("nan"),
                    "ratio": f"{ours / theirs:.1f}x" if theirs else "-",
                }
            )
        rows.append(
            {
                "photographs": f"{name} ({len(photographs)})",
                "stage": "decode",
                "ours": round(decode, 1),
                "published approach": f"(the JPEG decode to {WORKING_SIZE} px alone, which every crop pays)",
                "theirs": float("nan"),
                "ratio": "-",
            }
        )
    return pd.DataFrame(rows)


def throughput(photographs: list[bytes], folder: Path, count: int, workers: int) -> None:
    """Resize and crop `count` photographs (hard links to the given ones) as packages, with `workers` processes."""
    files, source = write_files(photographs, folder, "throughput"), folder / "original_full"
    for k in range(count):
        target = images.folder_path(source, 1 + k // 1000, f"photo{k:06d}.jpg")
        target.parent.mkdir(parents=True, exist_ok=True)
        os.link(files[k % len(files)], target)
    warm_up = folder / "warm_up"
    images.write_folder([images.ImageRecord(1, "warm_up.jpg", photographs[0])], warm_up)
    for stage, function in (("resize", preprocess.resize_package), ("crop", preprocess.crop_package)):
        start = time.perf_counter()
        function(warm_up, folder / f"start_{stage}", ("folder",), workers=workers)
        start_up = time.perf_counter() - start
        start, cpu_start = time.perf_counter(), children_cpu() + time.process_time()
        result = function(source, folder / "out", ("folder",), workers=workers)
        elapsed, cpu = time.perf_counter() - start, children_cpu() + time.process_time() - cpu_start
        print(
            f"{stage} throughput, {workers} processes, {result.written} images: "
            f"{result.written / elapsed:.1f} images/s wall ({result.written / max(elapsed - start_up, 1e-9):.1f} "
            f"without the pool's {start_up:.1f} s start-up); {workers * result.written / cpu:.1f} images/s "
            f"on {workers} cores by CPU time (pool, I/O and packing included)"
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=Path, help="a folder of real full-size photographs, timed as their own set")
    parser.add_argument(
        "--count", type=int, default=12, help="synthetic full-size photographs to generate (default %(default)s)"
    )
    parser.add_argument("--workers", type=int, default=2, help="processes for the throughput run (default %(default)s)")
    parser.add_argument(
        "--throughput-images", type=int, default=1000, help="images in the throughput run (default %(default)s)"
    )
    arguments = parser.parse_args()

    sets = {"generated": generated_photographs(arguments.count)}
    if arguments.images:
        sets["real"] = real_photographs(arguments.images)
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        table = per_core_table(sets, folder)
        print(f"\nImages per second per core (one process), {FULL_SIZE[0]}x{FULL_SIZE[1]} JPEGs")
        print(table.to_string(index=False))
        throughput(
            [data for photographs in sets.values() for data in photographs],
            folder,
            arguments.throughput_images,
            arguments.workers,
        )
    import torch

    if torch.cuda.is_available():
        photographs = [data for photographs in sets.values() for data in photographs]
        rate = detr_rate((photographs * (1 + 100 // len(photographs)))[:100], "cuda")
        print(
            f"\nThe published detector on {torch.cuda.get_device_name()}: {rate:.1f} images/s "
            f"(DETR-R50, float32, one photograph at a time, resize and normalisation included)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
