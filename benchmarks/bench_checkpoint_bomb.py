"""Peak memory while a zip-bomb checkpoint is refused: the suite's loader against torch.load alone (issue 29).

The bomb is a real torch checkpoint of one zero tensor whose records are re-packed with deflate, so that a file of a
few MB unpacks to --gib GiB. The bomb is written, and each load run, in a fresh process, so that each peak memory
(max RSS, which Linux carries across fork and exec) is its own.
Target: the suite refuses it within 0.1 GB above the peak of importing torch and the loader, whatever the bomb's size.
Usage: python benchmarks/bench_checkpoint_bomb.py [--gib 2]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import torch

MEASURE = """
import json, resource, sys
import torch
from bioscan_lib.core.checkpoint_files import load_checkpoint_file
try:
    if sys.argv[1] == "import":
        pass
    elif sys.argv[1] == "baseline":
        torch.load(sys.argv[2], map_location="cpu", weights_only=True)
    else:
        load_checkpoint_file(sys.argv[2], "checkpoint")
    outcome = "nothing read" if sys.argv[1] == "import" else "loaded"
except ValueError as error:
    outcome = str(error).removeprefix(sys.argv[2] + ": ")[:70]
usage = resource.getrusage(resource.RUSAGE_SELF)
print(json.dumps({"peak_gb": usage.ru_maxrss / 1024 ** 2, "outcome": outcome}))
"""
TARGET_GB = 0.1
CHUNK = 64 << 20


def write_bomb(path: Path, gib: float) -> None:
    """A checkpoint of `gib` GiB of zeros, its records deflated into a file of a few MB."""
    plain = path.with_suffix(".plain")
    torch.save({"epoch": 0, "model": {"fc.weight": torch.zeros(int(gib * (1 << 28)))}}, plain)
    with zipfile.ZipFile(plain) as source, zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as bomb:
        for member in source.infolist():
            with source.open(member) as reader, bomb.open(member.filename, "w", force_zip64=True) as writer:
                while chunk := reader.read(CHUNK):
                    writer.write(chunk)
    plain.unlink()


def measure(kind: str, path: Path) -> dict:
    """Load the bomb in a fresh interpreter and return its peak memory and what happened."""
    result = subprocess.run([sys.executable, "-c", MEASURE, kind, str(path)], capture_output=True, text=True)
    if result.returncode != 0:
        return {"peak_gb": float("nan"), "outcome": f"exit {result.returncode}: {result.stderr.strip()[-80:]}"}
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gib", type=float, default=2.0, help="unpacked size of the bomb in GiB (default 2)")
    parser.add_argument("--write", type=Path, help=argparse.SUPPRESS)  # the child process that writes the bomb
    arguments = parser.parse_args()
    if arguments.write:
        write_bomb(arguments.write, arguments.gib)
        return 0
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "bomb_weights_best_acc.tar"
        subprocess.run([sys.executable, __file__, "--gib", str(arguments.gib), "--write", str(path)], check=True)
        print(f"bomb: {path.stat().st_size / 1e6:.1f} MB on disk, {arguments.gib:g} GiB unpacked")
        imported, baseline, suite = (measure(kind, path) for kind in ("import", "baseline", "suite"))
    rows = (("imports only", imported), ("torch.load(weights_only=True)", baseline), ("suite", suite))
    for name, result in rows:
        print(f"{name:30s} peak {result['peak_gb']:5.2f} GB  {result['outcome']}")
    print(f"peak memory ratio baseline/suite: {baseline['peak_gb'] / suite['peak_gb']:.1f}x")
    above = suite["peak_gb"] - imported["peak_gb"]
    met = suite["outcome"].startswith("refused") and above < TARGET_GB
    print(f"suite above imports: {above:.2f} GB; target (refused within {TARGET_GB} GB): {'met' if met else 'NOT met'}")
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
