"""Exact cosine 1-NN of query k-mer profiles among key profiles: `core.retrieval.nearest_keys` beside scikit-learn's
`NearestNeighbors(metric="cosine", algorithm="brute")` (and faiss-cpu's exact `IndexFlatIP` where installed).

Each method runs in a fresh process on the same synthetic profiles (Poisson k-mer counts of a 658-base read over
their sum, no two alike: the worst case for merging repeated keys), so its seconds and peak memory (max RSS) are its
own; `extra` is that peak less the process's peak before the search. The neighbours are compared with the first
method's. The default sizes come from the CLIBD partition of the full-scale metadata: queries, every query split
together; keys, every split a query is searched against (CLIBD's key splits and, for BIOSCAN-5M's genus of unseen
species, the seen species' training specimens), an upper bound on any one search; 4**k dims for the k-mer
classifier's k.

Usage: python benchmarks/bench_retrieval.py [--queries N] [--keys N] [--dims N] [--block-rows N]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from bioscan_lib.config import DEFAULT_SEED, KmerConfig
from bioscan_lib.core.retrieval import nearest_keys
from bioscan_lib.data.bioscan1m import CLIBD_KEYS, CLIBD_QUERIES, CLIBD_SEEN
from bioscan_lib.sample.release import full_scale_metadata
from bioscan_lib.split import clibd

SEEN_TRAINING = tuple(split for split in CLIBD_SEEN if split not in CLIBD_QUERIES + CLIBD_KEYS)  # neither query nor key
READ_KMERS = 654  # the k-mers of a 658-base read at k = 5: the synthetic profiles' count
METHODS = ("nearest_keys", "sklearn_brute", "faiss_flat_ip")
GENERATED_ROWS = 4096  # profiles drawn at a time, so drawing them adds little to the peak


def kmer_profiles(rows: int, dims: int, seed: int) -> np.ndarray:
    """(rows, dims) float32 frequencies: Poisson counts of READ_KMERS k-mers spread over `dims`, over their sum."""
    rng, profiles = np.random.default_rng(seed), np.empty((rows, dims), dtype=np.float32)
    for start in range(0, rows, GENERATED_ROWS):
        counts = rng.poisson(READ_KMERS / dims, (min(GENERATED_ROWS, rows - start), dims)).astype(np.float32)
        profiles[start : start + len(counts)] = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    return profiles


def sklearn_brute(queries: np.ndarray, keys: np.ndarray) -> np.ndarray:
    """The baseline: scikit-learn's exact brute-force cosine neighbour."""
    from sklearn.neighbors import NearestNeighbors

    search = NearestNeighbors(n_neighbors=1, metric="cosine", algorithm="brute").fit(keys)
    return search.kneighbors(queries, return_distance=False)[:, 0]


def faiss_flat_ip(queries: np.ndarray, keys: np.ndarray) -> np.ndarray:
    """faiss' exact inner product over L2-normalised copies (as CLIBD searches)."""
    import faiss

    keys, queries = keys.copy(), queries.copy()
    faiss.normalize_L2(keys)
    faiss.normalize_L2(queries)
    index = faiss.IndexFlatIP(keys.shape[1])
    index.add(keys)
    return index.search(queries, 1)[1][:, 0]


def full_scale_sizes() -> tuple[int, int]:
    """Rows of every CLIBD query split and of every split searched, in the full-scale metadata's partition."""
    counts = clibd.make_partition(full_scale_metadata(), DEFAULT_SEED).value_counts()
    return int(counts[list(CLIBD_QUERIES)].sum()), int(counts[list(CLIBD_KEYS + SEEN_TRAINING)].sum())


def full_scale_sizes_apart() -> tuple[int, int]:
    """`full_scale_sizes` from a process of its own, so that the metadata's memory is not the workers' from the
    start (a child's max RSS begins at its parent's)."""
    command = [sys.executable, __file__, "--full-scale-sizes"]
    return tuple(json.loads(subprocess.run(command, capture_output=True, text=True, check=True).stdout))


def peak_mb() -> float:
    """This process's peak resident memory so far (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def work(arguments: argparse.Namespace) -> None:
    """The worker: draw the profiles, run one method, save its neighbours and print its figures as JSON."""
    queries = kmer_profiles(arguments.queries, arguments.dims, seed=1)
    keys = kmer_profiles(arguments.keys, arguments.dims, seed=2)
    searches = {
        "nearest_keys": lambda: nearest_keys(queries, keys, arguments.block_rows, progress=False),
        "sklearn_brute": lambda: sklearn_brute(queries, keys),
        "faiss_flat_ip": lambda: faiss_flat_ip(queries, keys),
    }
    before, start = peak_mb(), time.perf_counter()
    nearest = searches[arguments.method]()
    seconds = time.perf_counter() - start
    np.save(arguments.save, nearest)
    print(json.dumps({"seconds": seconds, "peak_mb": peak_mb(), "extra_mb": peak_mb() - before}))


def measure(method: str, arguments: argparse.Namespace, folder: Path) -> dict:
    """One method's figures and neighbours, from a fresh interpreter."""
    save = folder / f"{method}.npy"
    sizes = ["--queries", arguments.queries, "--keys", arguments.keys, "--dims", arguments.dims]
    command = [sys.executable, __file__, "--method", method, "--save", save, "--block-rows", arguments.block_rows]
    result = subprocess.run([str(part) for part in [*command, *sizes]], capture_output=True, text=True, check=True)
    return json.loads(result.stdout.strip().splitlines()[-1]) | {"nearest": np.load(save)}


def compare(arguments: argparse.Namespace) -> None:
    """Run every available method and print its figures beside nearest_keys'."""
    full_queries, full_keys = full_scale_sizes_apart()
    arguments.queries, arguments.keys = arguments.queries or full_queries, arguments.keys or full_keys
    methods = [m for m in METHODS if m != "faiss_flat_ip" or importlib.util.find_spec("faiss")]
    if "faiss_flat_ip" not in methods:
        print("faiss is not installed: its exact index is skipped")
    print(f"{arguments.queries:,} queries x {arguments.keys:,} keys x {arguments.dims} dims, float32")
    with tempfile.TemporaryDirectory() as folder:
        runs = {method: measure(method, arguments, Path(folder)) for method in methods}
    ours = runs["nearest_keys"]
    for method, run in runs.items():
        agree = float((run["nearest"] == ours["nearest"]).mean())
        print(
            f"{method:14} {run['seconds']:8.2f} s  peak {run['peak_mb']:8.0f} MB  extra {run['extra_mb']:7.0f} MB  "
            f"time x{run['seconds'] / ours['seconds']:.2f}  extra x{run['extra_mb'] / max(ours['extra_mb'], 1):.2f}  "
            f"same neighbour {agree:.4%}"
        )
    full = full_queries * full_keys / (arguments.queries * arguments.keys)
    print(f"full scale ({full_queries:,} queries x {full_keys:,} keys) is x{full:.1f} the work (queries x keys)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queries", type=int, help="query rows (default: full scale)")
    parser.add_argument("--keys", type=int, help="key rows (default: full scale)")
    parser.add_argument("--dims", type=int, default=4**KmerConfig.kmer)
    parser.add_argument("--block-rows", type=int, default=256, help="queries per matrix product of nearest_keys")
    parser.add_argument("--method", choices=METHODS, help=argparse.SUPPRESS)  # the worker's: one method
    parser.add_argument("--save", type=Path, help=argparse.SUPPRESS)  # the worker's: where its neighbours go
    parser.add_argument("--full-scale-sizes", action="store_true", help=argparse.SUPPRESS)  # print them as JSON
    arguments = parser.parse_args()
    if arguments.full_scale_sizes:
        print(json.dumps(full_scale_sizes()))
    elif arguments.method:
        work(arguments)
    else:
        compare(arguments)


if __name__ == "__main__":
    main()
