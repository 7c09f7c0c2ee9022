"""Training and data-loading throughput.

1. Training images/s (forward, backward, SGD step) of resnet50 and vit_base_patch16_224 at 224 px, random
   weights and inputs: float32 beside channels-last on CPU, float32 beside bf16 autocast + channels-last on GPU.
2. Data-loading images/s (read, decode, evaluation transform to 224 px) from the sample's folder, ZIP and HDF5
   packages through the suite's Dataset (each package opened once per process), beside a baseline that
   reopens the package for every image; for HDF5 also beside the previous reader (h5py's group lookup and
   dataset read for every image, where the suite reads each image's bytes at its offset).

    .venv/bin/python benchmarks/bench_train.py [--iterations 3] [--batch-size 8] [--images 300] [--workers 0]
                                               [--loading-only] [--repeats 3]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import pandas as pd
import timm
import torch

from bioscan_lib.classify.data import PackageDataset, eval_transform
from bioscan_lib.core.paths import resolve_path
from bioscan_lib.data.images import decode_image, open_package
from bioscan_lib.data.metadata import find_metadata, read_metadata
from bioscan_lib.engine import make_loader

PACKAGES = {
    "folder": "bioscan1m/images/original_256",
    "zip": "release/original_256.zip",
    "hdf5": "release/original_256.hdf5",
}


class ReopenEachImage(PackageDataset):
    """Baseline: open the package, read one image, close it again."""

    def __getitem__(self, index: int):
        package = open_package(self.package_path)
        try:
            data = package.read(self.files[index], self.chunks[index])
        finally:
            package.close()
        return self.transform(decode_image(data, shorter_side=self.decode_size)), int(self.labels[index])


class H5pyEachImage(PackageDataset):
    """Previous HDF5 reader: h5py looks the name up in the group and reads the dataset, for every image."""

    def __getitem__(self, index: int):
        data = self._reader().group[self.files[index]][()].tobytes()
        return self.transform(decode_image(data, shorter_side=self.decode_size)), int(self.labels[index])


def training_rate(
    name: str, device: torch.device, batch_size: int, iterations: int, bf16: bool, channels_last: bool
) -> float:
    """Training images per second of a randomly initialised model on random 224 px batches."""
    torch.manual_seed(0)
    model = timm.create_model(name, pretrained=False, num_classes=16).to(device)
    memory_format = torch.channels_last if channels_last else torch.contiguous_format
    model = model.to(memory_format=memory_format)
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9, nesterov=True, weight_decay=1e-4)
    images = torch.rand(batch_size, 3, 224, 224, device=device).to(memory_format=memory_format)
    labels = torch.randint(0, 16, (batch_size,), device=device)

    def step() -> None:
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            loss = torch.nn.functional.cross_entropy(model(images).float(), labels)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    step()  # warm-up
    if device.type == "cuda":
        torch.cuda.synchronize()
    started = time.perf_counter()
    for _ in range(iterations):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return batch_size * iterations / (time.perf_counter() - started)


def loading_rate(dataset: PackageDataset, workers: int) -> tuple[float, float]:
    """Images per second through a DataLoader over the whole dataset: per wall second, per CPU second of this
    process (the steadier figure on a shared machine; with workers it leaves their CPU out, so it is NaN)."""
    started, cpu = time.perf_counter(), time.process_time()
    count = sum(len(labels) for _, labels in make_loader(dataset, 32, workers))
    per_cpu = count / (time.process_time() - cpu) if workers == 0 else float("nan")
    return count / (time.perf_counter() - started), per_cpu


def reading_rate(dataset: PackageDataset) -> float:
    """Images per second read as encoded bytes alone (opening the package included): the formats' own cost."""
    started = time.perf_counter()
    for index in range(len(dataset)):
        if isinstance(dataset, H5pyEachImage):
            dataset._reader().group[dataset.files[index]][()].tobytes()
        elif isinstance(dataset, ReopenEachImage):
            package = open_package(dataset.package_path)
            package.read(dataset.files[index], dataset.chunks[index])
            package.close()
        else:
            dataset._reader().read(dataset.files[index], dataset.chunks[index])
    return len(dataset) / (time.perf_counter() - started)


def best_rates(readers: dict[str, type[PackageDataset]], paths: dict[str, Path], records, workers, repeats) -> dict:
    """Best images/s (wall, CPU, bytes only) of each (reader, package) over `repeats` rounds, interleaved; every
    other round takes the packages in reverse order, so that none is always measured first (a fixed order gave
    the last package 5 % less here)."""
    best: dict[tuple[str, str], tuple[float, float, float]] = {}
    for round_number in range(repeats):
        order = list(paths.items())[:: -1 if round_number % 2 else 1]
        for reader, dataset_class in readers.items():
            for kind, path in order:
                if reader == "h5py per image" and kind != "hdf5":
                    continue
                wall, cpu = loading_rate(dataset_class(path, records, eval_transform(), 256), workers)
                read = reading_rate(dataset_class(path, records, eval_transform(), 256))
                previous = best.get((reader, kind), (0.0, 0.0, 0.0))
                best[reader, kind] = (max(wall, previous[0]), max(cpu, previous[1]), max(read, previous[2]))
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["resnet50", "vit_base_patch16_224"])
    parser.add_argument("--iterations", type=int, default=3, help="timed training steps per model and setting")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument(
        "--data-root", default="data/sample", help="holds bioscan1m/ and release/ (the sample's layout)"
    )
    parser.add_argument("--images", type=int, default=300, help="images read per package")
    parser.add_argument("--workers", type=int, default=0, help="DataLoader workers for the loading benchmark")
    parser.add_argument("--loading-only", action="store_true", help="skip the training measurements")
    parser.add_argument("--repeats", type=int, default=3, help="interleaved loading rounds; the best of each shown")
    arguments = parser.parse_args()

    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    baseline, candidate = ("float32", "bf16 + channels-last") if device.type == "cuda" else ("float32", "channels-last")
    rows = []
    for name in [] if arguments.loading_only else arguments.models:
        slow = training_rate(name, device, arguments.batch_size, arguments.iterations, False, False)
        fast = training_rate(name, device, arguments.batch_size, arguments.iterations, device.type == "cuda", True)
        rows.append(
            {
                "model": name,
                "device": device.type,
                f"{baseline} img/s": round(slow, 1),
                f"{candidate} img/s": round(fast, 1),
                "ratio": round(fast / slow, 2),
            }
        )
    if rows:
        print(
            f"Training at 224 px, batch {arguments.batch_size}, {arguments.iterations} timed steps, "
            f"{torch.get_num_threads()} threads"
        )
        print(pd.DataFrame(rows).to_string(index=False))

    root, repeats = resolve_path(arguments.data_root), arguments.repeats
    try:
        frame = read_metadata(find_metadata(root / "bioscan1m")).head(arguments.images)
    except FileNotFoundError as error:
        print(f"\nData loading skipped: {error}")
        return
    records = pd.DataFrame(
        {"image_file": frame["image_file"].astype(str), "chunk_number": frame["chunk_number"].astype(int), "label": 0}
    )
    readers = {"opened once": PackageDataset, "reopened per image": ReopenEachImage, "h5py per image": H5pyEachImage}
    paths = {kind: Path(root) / package for kind, package in PACKAGES.items()}
    rates = best_rates(readers, paths, records, arguments.workers, repeats)
    rows = [
        {
            "format": kind,
            "opened once img/s": round(rates["opened once", kind][0], 1),
            "per CPU s": round(rates["opened once", kind][1], 1),
            "reopened per image img/s": round(rates["reopened per image", kind][0], 1),
            "per CPU s ": round(rates["reopened per image", kind][1], 1),
            "bytes only img/s": round(rates["opened once", kind][2]),
        }
        for kind in PACKAGES
    ]
    previous = rates["h5py per image", "hdf5"]
    rows.append(
        {
            "format": "hdf5, previous reader (h5py per image)",
            "opened once img/s": round(previous[0], 1),
            "per CPU s": round(previous[1], 1),
            "bytes only img/s": round(previous[2]),
        }
    )
    print(f"\nData loading of {len(records)} images to 224 px tensors, {arguments.workers} workers")
    print(pd.DataFrame(rows).to_string(index=False, na_rep=""))
    once = {kind: rates["opened once", kind] for kind in PACKAGES}
    for index, measure in enumerate(("wall", "CPU", "wall (bytes only)")):
        print(
            f"best of {repeats} interleaved rounds, per {measure} second: HDF5 / ZIP "
            f"{once['hdf5'][index] / once['zip'][index]:.2f}, HDF5 now / previous reader "
            f"{once['hdf5'][index] / previous[index]:.2f}"
        )


if __name__ == "__main__":
    main()
