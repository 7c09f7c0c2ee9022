"""Resize and crop speed on full-size 2880x2160 JPEGs, side by side with the published approach.

The published approach runs one ImageMagick `convert IN -resize x256 OUT` process per image. Set-up:
`apt-get install -y imagemagick` (Debian); without the real ImageMagick the baseline is skipped with a message.

Usage: .venv/bin/python benchmarks/bench_preprocess.py [--images DIR] [--count N] [--workers W]
`--images` adds real full-size photographs (every *.jpg under DIR) to the generated ones.
Per-core figures are images per CPU-second of one process (ImageMagick: CPU time of its child processes). For the
crop, the published tool also ran its DETR on every photograph: timed here with random weights (same compute).
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

from bioscan_lib import images, preprocess
from bioscan_lib.crop import SpecimenCropper
from bioscan_lib.sample_images import ORDERS_DRAWN, draw_photo

FULL_SIZE = (2880, 2160)


def generated_photographs(count: int, seed: int = 7) -> list[bytes]:
    """`count` synthetic full-size CBG photographs as JPEG bytes."""
    rng = np.random.default_rng(seed)
    return [images.encode_jpeg(draw_photo(ORDERS_DRAWN[k % len(ORDERS_DRAWN)], "Benchidae", rng, size=FULL_SIZE)[0])
            for k in range(count)]


def imagemagick() -> str | None:
    """The real ImageMagick `convert`, or None (with the reason printed)."""
    convert = shutil.which("convert")
    if convert is None:
        print("ImageMagick baseline skipped: no `convert` on PATH (apt-get install -y imagemagick)")
        return None
    version = subprocess.run([convert, "-version"], capture_output=True, text=True).stdout
    if "ImageMagick" not in version:
        print(f"ImageMagick baseline skipped: {convert} is not ImageMagick (apt-get install -y imagemagick)")
        return None
    return convert


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def per_core_ours(function, inputs: list[bytes]) -> float:
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
        subprocess.run([convert, str(file), *cut, "-resize", "x256", str(out_dir / f"{index}.jpg")], check=True,
                       env={**os.environ, "MAGICK_THREAD_LIMIT": "1"})
    return len(files) / (children_cpu() - start)


def per_core_detr(photographs: list[bytes]) -> float:
    """Images per CPU-second of the published crop tool's detector (DETR-ResNet-50, random weights: same compute)."""
    import torch
    from transformers import DetrConfig, DetrForObjectDetection

    from bioscan_lib.crop import DetrDetector

    torch.set_num_threads(1)
    detector = DetrDetector.__new__(DetrDetector)
    detector.model, detector.shorter_side, detector.longer_side = DetrForObjectDetection(DetrConfig(num_labels=1)).eval(), 800, 1333
    looks = [np.asarray(images.decode_image(data, shorter_side=800)) for data in photographs]
    detector(looks[0])
    start = time.process_time()
    for look in looks:
        detector(look)
    return len(looks) / (time.process_time() - start)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=Path, help="a folder of real full-size photographs to add")
    parser.add_argument("--count", type=int, default=12, help="synthetic full-size photographs to generate (default %(default)s)")
    parser.add_argument("--workers", type=int, default=2, help="processes for the throughput run (default %(default)s)")
    parser.add_argument("--throughput-images", type=int, default=1000, help="images in the throughput run (default %(default)s)")
    arguments = parser.parse_args()

    photographs = generated_photographs(arguments.count)
    if arguments.images:
        photographs += [path.read_bytes() for path in sorted(arguments.images.rglob("*.jpg")) if min(_size(path)) >= 2000]
    print(f"{len(photographs)} full-size photographs ({arguments.count} generated)")
    resizer, cropper = preprocess.Resizer(), SpecimenCropper()
    ours_resize = per_core_ours(resizer, photographs)
    ours_crop = per_core_ours(cropper, photographs)
    rows = [("resize", ours_resize), ("crop", ours_crop)]

    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        files = []
        for index, data in enumerate(photographs):
            files.append(folder / f"in{index}.jpg")
            files[-1].write_bytes(data)
        convert = imagemagick()
        print(f"\n{'ours':7} {'img/s/core':>10}   {'published approach':45} {'img/s/core':>10} {'ratio':>7}")
        if convert is None:
            for stage, ours in rows:
                print(f"{stage:7} {ours:10.1f}   {'(ImageMagick absent: skipped)':45} {'-':>10} {'-':>7}")
        else:
            resize_baseline = per_core_imagemagick(convert, files, folder, None)
            crops = [tuple(int(v) for v in cropper.crop_box(data)[0]) for data in photographs]
            cut_baseline = per_core_imagemagick(convert, files, folder, crops)
            detr = per_core_detr(photographs[:2])
            for stage, ours, approach, baseline in (
                ("resize", ours_resize, "convert -resize x256, one process per image", resize_baseline),
                ("crop", ours_crop, "convert -resize x256, one process per image", resize_baseline),
                ("crop", ours_crop, "convert -crop BOX -resize x256 (no detection)", cut_baseline),
                ("crop", ours_crop, f"DETR-R50 ({detr:.2f} img/s/core) + convert -crop", 1 / (1 / detr + 1 / cut_baseline)),
            ):
                print(f"{stage:7} {ours:10.1f}   {approach:45} {baseline:10.2f} {ours / baseline:6.1f}x")

        source = folder / "original_full"
        for k in range(arguments.throughput_images):
            target = images.folder_path(source, 1 + k // 1000, f"photo{k:06d}.jpg")
            target.parent.mkdir(parents=True, exist_ok=True)
            os.link(files[k % len(files)], target)
        warm_up = folder / "warm_up"
        images.write_folder([images.ImageRecord(1, "warm_up.jpg", photographs[0])], warm_up)
        for stage, function in (("resize", preprocess.resize_package), ("crop", preprocess.crop_package)):
            start = time.perf_counter()
            function(warm_up, folder / f"start_{stage}", ("folder",), workers=arguments.workers)
            start_up = time.perf_counter() - start
            start, cpu_start = time.perf_counter(), children_cpu() + time.process_time()
            result = function(source, folder / "out", ("folder",), workers=arguments.workers)
            elapsed, cpu = time.perf_counter() - start, children_cpu() + time.process_time() - cpu_start
            print(f"{stage} throughput, {arguments.workers} processes, {result.written} images: "
                  f"{result.written / elapsed:.1f} images/s wall ({result.written / max(elapsed - start_up, 1e-9):.1f} "
                  f"without the pool's {start_up:.1f} s start-up); {arguments.workers * result.written / cpu:.1f} images/s "
                  f"on {arguments.workers} cores by CPU time (pool, I/O and packing included; load-independent)")
    return 0


def _size(path: Path) -> tuple[int, int]:
    from PIL import Image

    with Image.open(path) as image:
        return image.size


if __name__ == "__main__":
    sys.exit(main())
