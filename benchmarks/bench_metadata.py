"""Load the 1,128,313-row full-scale metadata and compute the statistics table; suite loader vs a naive baseline.

Each measurement runs in a fresh process so that wall time and peak memory (max RSS) are its own.
Targets (issue 2): suite under 20 s and 4 GB peak on 2 cores, at least 3x faster than the baseline (warm cache).
Usage: python benchmarks/bench_metadata.py [--tsv PATH]   (the full-scale TSV is generated when absent)
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

from bioscan_lib.core.paths import resolve_path
from bioscan_lib.dataset.metadata import cache_path
from bioscan_lib.sample.release import write_full_scale_metadata

MEASURE = """
import json, resource, sys, time
import pandas as pd
from bioscan_lib.dataset import metadata
from bioscan_lib.dataset import statistics
start = time.perf_counter()
if sys.argv[1] == "baseline":
    frame = pd.read_csv(sys.argv[2], sep="\\t", low_memory=False)
else:
    frame = metadata.read_metadata(sys.argv[2], cache=True)
table = statistics.taxonomy_statistics(frame)
seconds = time.perf_counter() - start
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 ** 2
print(json.dumps({"seconds": seconds, "peak_gb": peak, "rows": len(frame), "families": int(table.loc[3, "categories"])}))
"""


def measure(kind: str, tsv: Path) -> dict:
    """Run one measurement in a fresh interpreter and return its figures."""
    result = subprocess.run([sys.executable, "-c", MEASURE, kind, str(tsv)], capture_output=True, text=True, check=True)
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--tsv", type=Path, default=resolve_path("data/full_scale") / "BIOSCAN_Insect_Dataset_metadata.tsv"
    )
    tsv = parser.parse_args().tsv
    if not tsv.is_file():
        print(f"generating the full-scale metadata at {tsv} …", flush=True)
        write_full_scale_metadata(tsv.parent)
    cache_path(tsv).unlink(missing_ok=True)
    print(f"{tsv.name}: {tsv.stat().st_size / 1e9:.2f} GB")
    runs = {
        "baseline read_csv (default dtypes)": measure("baseline", tsv),
        "suite, cold (reads TSV, writes cache)": measure("suite", tsv),
        "suite, warm (memory-mapped cache)": measure("suite", tsv),
    }
    baseline = runs["baseline read_csv (default dtypes)"]["seconds"]
    print(f"{'run':44s} {'seconds':>8s} {'peak GB':>8s} {'speed-up':>9s}")
    for name, figures in runs.items():
        print(f"{name:44s} {figures['seconds']:8.1f} {figures['peak_gb']:8.2f} {baseline / figures['seconds']:8.1f}x")
    assert len({f["rows"] for f in runs.values()}) == 1 and len({f["families"] for f in runs.values()}) == 1


if __name__ == "__main__":
    main()
