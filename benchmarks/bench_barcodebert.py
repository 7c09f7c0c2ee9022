"""Time BarcodeBERT's barcode embeddings on the CPU beside the k-mer counts of the same barcodes (the baseline).

Two models with random weights: a tiny one (k = 4, 2 layers of width 16) and the published 8-4-4 size (k = 8, 4
layers, 4 heads, width 768), each embedding the same synthetic barcodes; the k-mer counts (base codes included)
use the model's k. Tokenising alone is timed on more barcodes, as a release's 1.1 million must tokenise in seconds.

Usage: python benchmarks/bench_barcodebert.py [--barcodes 256] [--batch-size 64] [--tokenised 100000] [--threads N]
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np
import pandas as pd
import torch
from transformers import BertConfig, BertForTokenClassification

from bioscan_lib.config import DEFAULT_SEED
from bioscan_lib.data import barcodes
from bioscan_lib.data.bioscan1m import N_IMAGES
from bioscan_lib.dna import barcodebert

READ_LENGTH = 658  # a typical full COI barcode
AMBIGUOUS_SHARE = 0.002  # of sites read as N
MODELS = {
    "tiny (k=4, 2 layers, width 16)": dict(
        k=4, hidden_size=16, num_hidden_layers=2, num_attention_heads=2, intermediate_size=32
    ),
    "8-4-4 (k=8, 4 layers, 4 heads, width 768)": dict(
        k=8, hidden_size=768, num_hidden_layers=4, num_attention_heads=4, intermediate_size=3072
    ),
}


def synthetic_reads(count: int, seed: int) -> pd.Series:
    """`count` random full-length barcodes with a few Ns."""
    rng = np.random.default_rng(seed)
    sites = rng.choice(np.frombuffer(barcodes.BASES.encode(), np.uint8), (count, READ_LENGTH))
    sites[rng.random(sites.shape) < AMBIGUOUS_SHARE] = ord("N")
    return pd.Series([row.tobytes().decode() for row in sites])


def random_encoder(k: int, **sizes) -> barcodebert.BarcodeBertEncoder:
    """A BarcodeBERT-shaped model of random weights, configured as BarcodeBERT's pretraining configures it."""
    torch.manual_seed(DEFAULT_SEED)
    config = BertConfig(
        vocab_size=barcodebert.vocabulary_size(k),
        num_labels=len(barcodes.BASES) ** k,
        max_position_embeddings=max(512, math.ceil(1536 / k)),
        **sizes,
    )
    return barcodebert.BarcodeBertEncoder(BertForTokenClassification(config).eval(), k)


def seconds(function) -> float:
    """Wall-clock seconds of one call."""
    start = time.perf_counter()
    function()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--barcodes", type=int, default=256, help="barcodes embedded (default %(default)s)")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--tokenised", type=int, default=100_000, help="barcodes tokenised (default %(default)s)")
    parser.add_argument("--threads", type=int, help="torch threads (default: torch's, one per core)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    reads = synthetic_reads(args.barcodes, DEFAULT_SEED)
    print(f"{args.barcodes} synthetic {READ_LENGTH}-base barcodes, CPU, {torch.get_num_threads()} torch threads")
    for name, shape in MODELS.items():
        encoder = random_encoder(**shape)
        barcodebert.embed(encoder, reads.iloc[:2])  # warm-up
        embedding = seconds(lambda: barcodebert.embed(encoder, reads, args.batch_size))
        counting = seconds(lambda: barcodes.kmer_counts(barcodes.base_codes(reads), encoder.k))
        print(
            f"{name}: embeddings {args.barcodes / embedding:,.0f} barcodes/s ({embedding:.2f} s); "
            f"baseline {encoder.k}-mer counts {args.barcodes / counting:,.0f} barcodes/s ({counting:.3f} s); "
            f"embedding is {embedding / counting:,.0f}x slower"
        )
    many = synthetic_reads(args.tokenised, DEFAULT_SEED + 1)
    for k in sorted({shape["k"] for shape in MODELS.values()}):
        tokenising = seconds(lambda: barcodebert.tokens(many, k))
        print(
            f"tokens, k={k}: {args.tokenised / tokenising:,.0f} barcodes/s ({tokenising:.2f} s for {args.tokenised:,}; "
            f"{N_IMAGES * tokenising / args.tokenised:.1f} s scaled to the release's {N_IMAGES:,})"
        )


if __name__ == "__main__":
    main()
