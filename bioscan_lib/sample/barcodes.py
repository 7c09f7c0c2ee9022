"""The sample's COI barcodes, evolved down its taxonomy: root, order, family, genus, species, BIN, specimen.

Each rank copies its parent's sequence with substitutions at a per-site rate (third codon positions fastest, new
bases drawn from an AT-rich composition), so that uncorrected distances rise from BIN to order as in insect COI.
Only integer draws are used, so the bytes are the same on every machine.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

BARCODE_LENGTH = 658  # the COI barcode region most reads cover
BARCODE_MAX_LENGTH = 720
BASES = np.frombuffer(b"ACGT", dtype=np.uint8)
BASE_FREQUENCIES = (0.34, 0.16, 0.15, 0.35)  # A+T 0.69, as in insect COI
CODON_POSITION_RATES = (0.55, 0.2, 2.25)  # relative rates at codon positions 1, 2, 3 (mean 1)
# Expected substitutions per site on the branch above a node of each rank (before saturation). Calibrated so that
# uncorrected distances fall where insect COI has them: within a BIN under 2 %, congeneric species 4-12 %,
# confamilial genera 12-20 %, orders 20-30 % (tests/test_sample_barcodes.py measures them).
BRANCH_LENGTHS = {"order": 0.09, "family": 0.06, "genus": 0.075, "species": 0.032, "bin": 0.012, "specimen": 0.0035}
AMBIGUOUS_SHARE, LOWER_CASE_SHARE, FAILED_SHARE = 0.01, 0.003, 0.002  # reads with IUPAC codes, lower case, only Ns
SPECIMEN_CHUNK = 1 << 17  # rows evolved at once at the specimen rank (memory, not bytes: the draws are in row order)
_SCALE = 1 << 16


def _site_thresholds(branch: float) -> np.ndarray:
    """Per-site substitution probabilities of a branch, as uint16 thresholds over a 16-bit draw."""
    rates = np.resize(np.array(CODON_POSITION_RATES), BARCODE_MAX_LENGTH) * branch
    return np.minimum(np.round(rates * _SCALE), _SCALE - 1).astype(np.uint16)


def _new_bases(count: int, rng: np.random.Generator) -> np.ndarray:
    """`count` bases drawn from the AT-rich composition."""
    edges = np.round(np.cumsum(BASE_FREQUENCIES)[:-1] * _SCALE).astype(np.uint32)
    return BASES[np.searchsorted(edges, rng.integers(0, _SCALE, count, dtype=np.uint32), side="right")]


def evolve(parents: np.ndarray, parent_of: np.ndarray, branch: float, rng: np.random.Generator) -> np.ndarray:
    """One sequence per entry of `parent_of`: its parent's (a row of `parents`) with the branch's substitutions."""
    children = parents[parent_of]
    changed = rng.integers(0, _SCALE, children.shape, dtype=np.uint16) < _site_thresholds(branch)
    children[changed] = _new_bases(int(changed.sum()), rng)
    return children


def _renumber(codes: np.ndarray) -> np.ndarray:
    """Codes renumbered 0..n-1 in order of value."""
    return np.unique(codes, return_inverse=True)[1].reshape(-1)


def bin_lineage(ranks: dict[str, np.ndarray], bin_code: np.ndarray) -> dict[str, np.ndarray]:
    """Per BIN, its node at each rank: the labelled class where its rows carry one, else a node of its own.

    `ranks` holds per-row codes (-1 unlabelled) of order, family, genus and species, nested so that every row of a
    BIN has the same labels.
    """
    bins = int(bin_code.max()) + 1
    first = np.zeros(bins, dtype=np.int64)
    first[bin_code[::-1]] = np.arange(len(bin_code))[::-1]
    lineage = {}
    for rank, codes in ranks.items():
        code = codes[first]
        lineage[rank] = _renumber(np.where(code >= 0, code, code.max() + 1 + np.arange(bins)))
    return lineage


def _parent_of(child: np.ndarray, parent: np.ndarray) -> np.ndarray:
    """For each child node (numbered 0..n-1 in `child`, one entry per BIN), the parent node of the same BIN."""
    result = np.zeros(int(child.max()) + 1, dtype=np.int64)
    result[child] = parent
    return result


def _specimens(bin_reads: np.ndarray, bin_code: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Every specimen's read: its BIN's sequence with the specimen branch's substitutions, in row chunks."""
    reads = np.empty((len(bin_code), BARCODE_MAX_LENGTH), dtype=np.uint8)
    for start in range(0, len(bin_code), SPECIMEN_CHUNK):
        rows = slice(start, start + SPECIMEN_CHUNK)
        reads[rows] = evolve(bin_reads, bin_code[rows], BRANCH_LENGTHS["specimen"], rng)
    return reads


def _scatter(reads: np.ndarray, rows: np.ndarray, per_row: int, values: bytes, rng: np.random.Generator) -> None:
    """Overwrite `per_row` random positions of each of `rows` with random picks from `values`."""
    choices = np.frombuffer(values, dtype=np.uint8)
    positions = rng.integers(0, reads.shape[1], size=(len(rows), per_row))
    reads[rows[:, None], positions] = choices[rng.integers(0, len(choices), size=positions.shape)]


def _as_reads(reads: np.ndarray, rng: np.random.Generator) -> pa.Array:
    """Sequencer reads: some Ns and gaps, 80 % of full barcode length, the rest shorter or longer; a few with
    ambiguity codes, in lower case, or failed (only Ns), as the release has."""
    rows = len(reads)
    everyone = np.arange(rows)
    _scatter(reads, everyone[rng.random(rows) < 0.08], 12, b"N", rng)
    _scatter(reads, everyone[rng.random(rows) < 0.03], 3, b"-", rng)
    kind = rng.random(rows)
    lengths = np.select(
        [kind < 0.80, kind < 0.96],
        [BARCODE_LENGTH, rng.integers(400, BARCODE_LENGTH, rows)],
        rng.integers(BARCODE_LENGTH + 1, BARCODE_MAX_LENGTH + 1, rows),
    )
    _scatter(reads, everyone[rng.random(rows) < AMBIGUOUS_SHARE], 2, b"RYKMSW", rng)
    reads[rng.random(rows) < LOWER_CASE_SHARE] |= 0x20  # a letter's lower case; a gap stays a gap
    reads[rng.random(rows) < FAILED_SHARE] = ord("N")
    keep = np.arange(BARCODE_MAX_LENGTH)[None, :] < lengths[:, None]
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    return pa.LargeStringArray.from_buffers(rows, pa.py_buffer(offsets), pa.py_buffer(reads[keep]))


def evolved_barcodes(ranks: dict[str, np.ndarray], bin_code: np.ndarray, rng: np.random.Generator) -> pa.Array:
    """One read per row, evolved down order, family, genus, species and BIN (`bin_lineage`), then the specimen."""
    lineage = {**bin_lineage(ranks, bin_code), "bin": np.arange(int(bin_code.max()) + 1)}
    root = _new_bases(BARCODE_MAX_LENGTH, rng)[None, :]
    reads = evolve(root, np.zeros(int(lineage["order"].max()) + 1, dtype=np.int64), BRANCH_LENGTHS["order"], rng)
    ranks_in_order = ("order", "family", "genus", "species", "bin")
    for parent, child in zip(ranks_in_order, ranks_in_order[1:]):
        reads = evolve(reads, _parent_of(lineage[child], lineage[parent]), BRANCH_LENGTHS[child], rng)
    return _as_reads(_specimens(reads, bin_code, rng), rng)
