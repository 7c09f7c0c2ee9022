"""Retrain the sample under several numeric settings and print how far each kind of trained-model number moves.

Each setting executes notebooks 06-09 headless (as `make reproduce` does) into its own output folder, sharing the
sample's splits, with environment variables or parameters that change the floating-point arithmetic the way another
processor, thread count or library build would. The largest difference from the baseline setting, per kind of number,
is the measured spread; `--write` records the baseline's numbers with tolerances of twice that spread (at least a
stated minimum) for `tests/test_trained_numbers.py`. A setting already measured is reused unless `--force`.

    .venv/bin/python benchmarks/numerics_spread.py                 # every setting, print the spread
    .venv/bin/python benchmarks/numerics_spread.py --write tests/expected/sample_trained_numbers.yaml
    .venv/bin/python benchmarks/numerics_spread.py --settings baseline portable --write <file> --keep-tolerances
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import shutil
import sys
import time
from pathlib import Path

from bioscan_lib.config import load_profile
from bioscan_lib.core.paths import resolve_path
from bioscan_lib.core.provenance import processor
from bioscan_lib.report import numbers, runner

PROFILE = "sample"
STAGES_BEFORE = ["01", "02", "03", "04", "05"]
STAGES = ["06", "07", "08", "09"]
# name: (environment variables, profile parameters, torch.backends.mkldnn.enabled)
SETTINGS: dict[str, tuple[dict[str, str], dict[str, object], bool]] = {
    "baseline": ({}, {}, True),
    "aten_default": ({"ATEN_CPU_CAPABILITY": "default"}, {}, True),
    "aten_avx2": ({"ATEN_CPU_CAPABILITY": "avx2"}, {}, True),
    "onednn_sse41": ({"ONEDNN_MAX_CPU_ISA": "SSE41"}, {}, True),
    "onednn_avx2": ({"ONEDNN_MAX_CPU_ISA": "AVX2"}, {}, True),
    "mkl_compatible": ({"MKL_CBWR": "COMPATIBLE"}, {}, True),
    "mkl_avx2": ({"MKL_CBWR": "AVX2"}, {}, True),
    "one_thread": ({}, {"train_threads": 1}, True),
    "onednn_off": ({}, {}, False),
    "portable": ({"ATEN_CPU_CAPABILITY": "default", "ONEDNN_MAX_CPU_ISA": "SSE41", "MKL_CBWR": "COMPATIBLE"}, {}, True),
}
MARGIN = 2.0
KEPT_NOTE = "Numbers re-recorded from the baseline with these tolerances kept (--keep-tolerances)"
MINIMUM = {  # the smallest tolerance of a kind, for kinds that moved little or not at all on the measuring machine
    "curve_accuracy": 0.02,
    "curve_loss": 0.05,
    "test_accuracy": 0.01,
    "test_threshold": 0.02,
    "best_epoch": 1.0,
    "test_samples": 1.0,
    "heldout_score": 0.02,
    "heldout_threshold": 0.02,
    "heldout_confidence": 0.02,
    "heldout_label": 0.02,
}


def prepare_folder(folder: Path, split_dir: Path, mkldnn: bool) -> dict[str, str]:
    """An empty output folder sharing the sample's splits; the environment that switches oneDNN off if asked."""
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    (folder / "split").symlink_to(split_dir, target_is_directory=True)
    if mkldnn:
        return {}
    startup = folder / "ipython" / "profile_default" / "startup"
    startup.mkdir(parents=True)
    (startup / "00-onednn-off.py").write_text("import torch\ntorch.backends.mkldnn.enabled = False\n")
    return {"IPYTHONDIR": str(folder / "ipython")}


def measure(name: str, folder: Path, split_dir: Path, force: bool) -> dict[str, numbers.Number]:
    """The trained-model numbers of one setting (executing notebooks 06-09 unless already measured)."""
    done = folder / "numbers.json"
    if done.is_file() and not force:
        return {k: numbers.Number(*v) for k, v in json.loads(done.read_text()).items()}
    variables, parameters, mkldnn = SETTINGS[name]
    variables = {**variables, **prepare_folder(folder, split_dir, mkldnn)}
    before = {key: os.environ.get(key) for key in variables}
    os.environ.update(variables)
    started = time.perf_counter()
    try:
        runner.execute_profile(PROFILE, STAGES, force=True, overrides={"output_dir": str(folder), **parameters})
    finally:
        for key, value in before.items():
            os.environ.pop(key) if value is None else os.environ.__setitem__(key, value)
    measured = numbers.trained_numbers(folder, *numbers.trained_runs(PROFILE))
    done.write_text(json.dumps({k: [n.kind, n.value] for k, n in measured.items()}))
    print(f"{name}: notebooks 06-09 in {time.perf_counter() - started:.0f} s", flush=True)
    return measured


def allowed(kind: str, spread: float) -> float | None:
    """Twice the measured spread, at least the kind's minimum, rounded up to two significant digits (None: not compared)."""
    if kind in numbers.NOT_REPRODUCIBLE:
        return None
    value = max(MARGIN * spread, MINIMUM[kind])
    scale = 10 ** (math.floor(math.log10(value)) - 1)
    return round(math.ceil(value / scale - 1e-9) * scale, 10)


def rerecorded(recorded: dict, baseline: dict, runs: list[str]) -> dict:
    """The recorded numbers with those of `runs` replaced by the baseline's, in the recorded order (new keys last)."""

    def of_runs(key: str) -> bool:
        return any(f"/{run}/" in f"{key}/" for run in runs)

    kept = {key: baseline.get(key) if of_runs(key) else number for key, number in recorded.items()}
    kept = {key: number for key, number in kept.items() if number is not None}
    return kept | {key: number for key, number in baseline.items() if of_runs(key)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--settings",
        nargs="+",
        default=list(SETTINGS),
        choices=list(SETTINGS),
        help="settings to measure; the first is the baseline (default: all, baseline first)",
    )
    parser.add_argument("--folder", default="outputs/numerics", help="scratch output folders, one per setting")
    parser.add_argument("--force", action="store_true", help="measure again settings already measured")
    parser.add_argument("--write", help="record the baseline's numbers and the tolerances in this YAML file")
    parser.add_argument(
        "--keep-tolerances",
        action="store_true",
        help="with --write: keep the file's tolerances and header, recording only the baseline's numbers (after a "
        "change to the sample that moves the numbers; the spread printed above says whether the tolerances still hold)",
    )
    parser.add_argument(
        "--runs",
        nargs="+",
        help="with --keep-tolerances: record the baseline's numbers of these runs only, keeping the others' (the runs "
        "whose inputs changed, recorded on this machine while the rest stay as recorded where they were)",
    )
    arguments = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    profile = load_profile(PROFILE)
    runner.execute_profile(PROFILE, STAGES_BEFORE)  # the sample, its splits and its crops (skipped when up to date)
    split_dir = resolve_path(profile["output_dir"]) / "split"
    root = resolve_path(arguments.folder)
    measured = {name: measure(name, root / name, split_dir, arguments.force) for name in arguments.settings}

    baseline_name, *others = arguments.settings
    baseline = measured[baseline_name]
    table = {name: numbers.differences(measured[name], baseline) for name in others}
    spread = {kind: max((table[name].get(kind, 0.0) for name in others), default=0.0) for kind in numbers.KINDS}
    tolerances = {
        kind: numbers.Tolerance(allowed(kind, spread[kind]), round(spread[kind], 6)) for kind in numbers.KINDS
    }

    width = max(map(len, numbers.KINDS))
    print(
        f"\nLargest difference from '{baseline_name}', per kind of number ({len(baseline)} numbers; "
        f"labels as the share of photographs that differ):"
    )
    print(f"{'kind':<{width}}  " + "  ".join(f"{name:>14}" for name in others) + f"  {'spread':>8}  {'allowed':>8}")
    for kind in numbers.KINDS:
        cells = "  ".join(f"{table[name].get(kind, 0.0):>14.4g}" for name in others)
        limit = tolerances[kind].allowed
        print(
            f"{kind:<{width}}  {cells}  {spread[kind]:>8.4g}  {'not compared' if limit is None else f'{limit:>8.4g}'}"
        )
    if arguments.write and arguments.keep_tolerances:
        path = resolve_path(arguments.write)
        lines = [line[2:] if line.startswith("# ") else "" for line in path.read_text().splitlines() if line[:1] == "#"]
        lines = [line for line in lines if not line.startswith(KEPT_NOTE)]
        which = f" for {', '.join(arguments.runs)}" if arguments.runs else ""
        header = "\n".join([*lines, f"{KEPT_NOTE}{which} on {processor()}, torch {__import__('torch').__version__}."])
        recorded, kept = numbers.read_expectations(path)
        chosen = rerecorded(recorded, baseline, arguments.runs) if arguments.runs else baseline
        print(f"\nwrote {numbers.write_expectations(path, chosen, kept, header)} (tolerances kept)")
    elif arguments.write:
        header = (
            f"Trained-model numbers of the sample profile (notebooks 06-09), recorded from the '{baseline_name}' "
            f"setting\nby benchmarks/numerics_spread.py on {processor()} ({os.cpu_count()} cores), torch {__import__('torch').__version__}.\n"
            f"measured: the largest difference from '{baseline_name}' over the settings {', '.join(others)}.\n"
            f"allowed: {MARGIN:g} times measured, at least a minimum per kind, rounded up to two digits; null: not\n"
            "compared (labels and scores of held-out photographs under another imaging set-up hang on rounding).\n"
            "Regenerate with: .venv/bin/python benchmarks/numerics_spread.py --write <this file>"
        )
        path = numbers.write_expectations(resolve_path(arguments.write), baseline, tolerances, header)
        print(f"\nwrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
