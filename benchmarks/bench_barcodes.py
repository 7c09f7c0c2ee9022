"""Time the barcode reader and the k-mer classifier, each beside the baseline a user would pick instead.

1. Base codes and k-mer counts of all 1,128,313 full-scale barcodes, beside scikit-learn's CountVectorizer on a
   slice of the same rows (scaled up), the counts compared on that slice.
2. The k-mer classifier of `large_insect_order` trained and tested on the full-scale metadata's split.
3. On the sample's `large_insect_order` and `large_diptera_family` test splits, then on a slice of the full-scale
   `large_insect_order` split: the k-mer classifier beside BLAST's top hit (`blastn` against the train barcodes;
   `make blast` installs Debian's ncbi-blast+), accuracy and seconds from one run. Without `blastn` that baseline
   is skipped with a message.
4. With --notebook-09: notebook 09 under the paper profile, on the full-scale metadata alone.

Usage: python benchmarks/bench_barcodes.py [--k 5] [--slice 20000] [--repeats 2] [--blast-train 20000]
       [--skip-full-scale-classifier] [--notebook-09]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
from sklearn.feature_extraction.text import CountVectorizer

from bioscan_lib.config import DEFAULT_SEED, KmerConfig
from bioscan_lib.data import barcodes
from bioscan_lib.data.bioscan1m import BARCODE_COLUMN, BUDGETS
from bioscan_lib.dna import kmer
from bioscan_lib.dna.data import barcode_split
from bioscan_lib.report import runner
from bioscan_lib.sample import DEFAULT_RECORDS
from bioscan_lib.sample.release import full_scale_metadata, synthetic_metadata, write_full_scale_metadata
from bioscan_lib.split import rules as split

TARGET_SECONDS = 10.0
TARGET_RATIO = 20.0
CLASSIFIER_TARGET_SECONDS = 180.0
BLAST_TARGET_RATIO = 10.0
NOTEBOOK_TARGET_SECONDS = 600.0
BLAST_EXPERIMENTS = ("large_insect_order", "large_diptera_family")


def best_time(function, repeats: int):
    """The fastest of `repeats` calls and the last result."""
    times, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = function()
        times.append(time.perf_counter() - start)
    return min(times), result


def count_vectorizer(reads: list[str], k: int) -> np.ndarray:
    """Baseline: CountVectorizer's character k-grams of the cleaned reads, in the suite's column order (ACGT only)."""
    vectorizer = CountVectorizer(analyzer="char", ngram_range=(k, k), lowercase=False)
    counted = vectorizer.fit_transform(reads).tocsc()
    dense = np.zeros((len(reads), 4**k), dtype=np.int64)
    for column, name in enumerate(barcodes.kmer_names(k)):
        if name in vectorizer.vocabulary_:
            dense[:, column] = counted[:, vectorizer.vocabulary_[name]].toarray().ravel()
    return dense


def train_and_test_rows(frame, experiment: str) -> tuple:
    """The experiment's train and test rows of `frame`, labelled by its class numbering."""
    classes = split.class_list(frame, experiment)["class"].astype(str).tolist()
    return tuple(barcode_split(frame, classes, experiment, name) for name in ("train", "test"))


def classifier_time(train, test, experiment: str) -> tuple[float, float]:
    """Seconds to fit the k-mer classifier on `train` and score `test` (what BLAST's database and search do; the run
    folder's tables and figures are not counted), and its test top-1."""
    config = KmerConfig(experiment=experiment, profile="bench")
    classes = int(max(train["label"].max(), test["label"].max())) + 1
    start = time.perf_counter()
    scaler, model = kmer.fit(config, train, kmer.features(train[BARCODE_COLUMN], config.kmer), classes)
    predicted = model(scaler.transform(kmer.features(test[BARCODE_COLUMN], config.kmer))).argmax(axis=1)
    return time.perf_counter() - start, float(np.mean(predicted == test["label"].to_numpy()))


def _fasta(rows, path: Path) -> None:
    """The rows' cleaned barcodes as FASTA, named by row number (a read with no base is left out)."""
    with open(path, "w") as handle:
        for number, read in enumerate(barcodes.clean(rows[BARCODE_COLUMN]).to_pylist()):
            if read.strip("N-"):
                handle.write(f">{number}\n{read}\n")


def blast_top_hit(train, test, folder: Path) -> tuple[float, float]:
    """Seconds and test top-1 of BLAST's best hit among the train barcodes (no hit counts as wrong)."""
    start = time.perf_counter()
    _fasta(train, folder / "train.fa")
    _fasta(test, folder / "test.fa")
    subprocess.run(
        ["makeblastdb", "-in", "train.fa", "-dbtype", "nucl", "-out", "train"],
        cwd=folder,
        check=True,
        capture_output=True,
    )
    found = subprocess.run(
        [
            "blastn",
            "-query",
            "test.fa",
            "-db",
            "train",
            "-max_target_seqs",
            "1",
            "-outfmt",
            "6 qseqid sseqid bitscore",
            "-num_threads",
            "2",
        ],
        cwd=folder,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    seconds = time.perf_counter() - start
    best = {}
    for line in found.splitlines():
        query, subject, score = line.split("\t")
        if float(score) > best.get(int(query), (None, -1.0))[1]:
            best[int(query)] = (int(subject), float(score))
    predicted = np.array([train["label"].iloc[best[i][0]] if i in best else -1 for i in range(len(test))])
    return seconds, float(np.mean(predicted == test["label"].to_numpy()))


def compare_with_blast(name: str, train, test, experiment: str, repeats: int) -> None:
    """The k-mer classifier and BLAST's top hit on the same rows, best of `repeats`, printed side by side."""
    suite, top1 = min(classifier_time(train, test, experiment) for _ in range(repeats))
    with tempfile.TemporaryDirectory() as folder:
        blast, blast_top1 = min(blast_top_hit(train, test, Path(folder)) for _ in range(repeats))
    print(
        f"{name} {experiment} ({len(train):,} train, {len(test):,} test barcodes): k-mer classifier top-1 "
        f"{top1:.4f} in {suite:.2f} s (fit and test); BLAST top hit {blast_top1:.4f} in {blast:.2f} s; "
        f"{blast / suite:.1f}x faster (target >= {BLAST_TARGET_RATIO:g}x at equal or better accuracy)"
    )


def blast_comparisons(frame, repeats: int, slice_rows: int) -> None:
    """BLAST beside the k-mer classifier on the sample's two Large test splits, then on a slice of the full-scale
    split's `large_insect_order` (`slice_rows` train barcodes, a quarter as many test ones)."""
    if not shutil.which("blastn"):
        print("BLAST: blastn not found (`make blast` installs ncbi-blast+); the BLAST baseline is skipped")
        return
    sample = synthetic_metadata(DEFAULT_RECORDS, DEFAULT_SEED)
    for experiment in BLAST_EXPERIMENTS:
        compare_with_blast("sample", *train_and_test_rows(sample, experiment), experiment, repeats)
    train, test = train_and_test_rows(frame, BLAST_EXPERIMENTS[0])
    compare_with_blast(
        "full-scale slice", train.iloc[:slice_rows], test.iloc[: slice_rows // 4], BLAST_EXPERIMENTS[0], 1
    )


def full_scale_splits(frame):
    """The full-scale metadata with its six split columns, made as notebook 03 makes them."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", split.SplitBudgetWarning)
        return split.make_splits(frame, DEFAULT_SEED, BUDGETS["medium"], BUDGETS["small"])


def full_scale_classifier(splits) -> None:
    """The large_insect_order k-mer classifier on the full-scale metadata's split, run folder included."""
    experiment = "large_insect_order"
    classes = split.class_list(splits, experiment)["class"].astype(str).tolist()
    with tempfile.TemporaryDirectory() as folder:
        config = KmerConfig(experiment=experiment, output_dir=folder, profile="bench")
        start = time.perf_counter()
        result = kmer.train_and_test(config, splits, classes)
        seconds = time.perf_counter() - start
    train = int((splits[experiment] == "train").sum())
    print(
        f"full-scale {experiment}: fit on {train:,} barcodes, test on {int(result['samples']):,}, run folder "
        f"written, in {seconds:.1f} s (target < {CLASSIFIER_TARGET_SECONDS:g} s); top-1 {result['top1']:.4f}, "
        f"on unseen BINs {result['top1_unseen_bins']:.4f}"
    )


def notebook_09_on_the_paper_profile(folder: Path) -> None:
    """Notebook 09 under the paper profile on the full-scale metadata alone (written to `folder`, split by 03 first)."""
    write_full_scale_metadata(folder / "data" / "bioscan1m")
    overrides = {"data_root": str(folder / "data"), "output_dir": str(folder / "outputs")}
    runner.execute_profile("paper", only=["03"], overrides=overrides)
    start = time.perf_counter()
    run = runner.execute_profile("paper", only=["09"], overrides=overrides)
    seconds = time.perf_counter() - start
    outcome = {o.notebook[:2]: o.status for o in run.outcomes}["09"]
    print(
        f"notebook 09, paper profile, full-scale metadata: {outcome} in {seconds / 60:.1f} min "
        f"(target < {NOTEBOOK_TARGET_SECONDS / 60:g} min)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--k", type=int, default=5)
    parser.add_argument("--slice", type=int, default=20_000, help="rows CountVectorizer counts (default %(default)s)")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--blast-train", type=int, default=20_000, help="full-scale train barcodes BLAST searches")
    parser.add_argument("--skip-full-scale-classifier", action="store_true")
    parser.add_argument("--notebook-09", action="store_true", help="also time notebook 09 on the paper profile")
    args = parser.parse_args()
    frame = full_scale_metadata()
    reads = frame[BARCODE_COLUMN]
    print(f"{len(reads):,} barcodes, k = {args.k}")

    coding, codes = best_time(lambda: barcodes.base_codes(reads), args.repeats)
    counting, counts = best_time(lambda: barcodes.kmer_counts(codes, args.k), args.repeats)
    suite = coding + counting
    part = reads.iloc[: args.slice]
    cleaned = barcodes.clean(part).to_pylist()
    baseline_slice, expected = best_time(lambda: count_vectorizer(cleaned, args.k), 1)
    baseline = baseline_slice * len(reads) / len(part)
    equal = np.array_equal(counts[: len(part)], expected)

    print(
        f"suite: base codes {coding:.2f} s + k-mer counts {counting:.2f} s = {suite:.2f} s (target < {TARGET_SECONDS:g} s)"
    )
    print(
        f"CountVectorizer: {baseline_slice:.2f} s on {len(part):,} rows, {baseline:.1f} s scaled to all "
        f"(cleaning not counted)"
    )
    print(f"ratio: {baseline / suite:.1f}x (target >= {TARGET_RATIO:g}x); counts equal on the slice: {equal}")
    splits = full_scale_splits(frame)
    blast_comparisons(splits, max(args.repeats, 3), args.blast_train)
    if not args.skip_full_scale_classifier:
        full_scale_classifier(splits)
    if args.notebook_09:
        with tempfile.TemporaryDirectory() as folder:
            notebook_09_on_the_paper_profile(Path(folder))


if __name__ == "__main__":
    main()
