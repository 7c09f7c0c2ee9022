"""DNA beside images: the results table, the 2 x 2 agreement and the per-class figure."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from bioscan_lib.core.runs import PER_CLASS_CSV, PREDICTIONS_CSV
from bioscan_lib.dna import compare


def _run(folder: Path, predicted: list[str]) -> Path:
    folder.mkdir()
    truth = ["a", "a", "b", "b"]
    files = [f"{i}.jpg" for i in range(4)]
    pd.DataFrame({"image_file": files, "true": truth, "predicted": predicted}).to_csv(folder / PREDICTIONS_CSV)
    top1 = [sum(p == t for p, t in zip(predicted, truth) if t == c) / 2 for c in ("a", "b")]
    pd.DataFrame({"class": ["a", "b"], "top1": top1}).to_csv(folder / PER_CLASS_CSV, index=False)
    return folder


def test_agreement_counts_each_specimen_once(tmp_path: Path) -> None:
    dna = _run(tmp_path / "dna", ["a", "a", "b", "a"])
    image = _run(tmp_path / "image", ["a", "b", "a", "a"])
    table = compare.agreement(dna, image).set_index("test specimens")
    assert table.loc["DNA right"].tolist() == [1, 2] and table.loc["DNA wrong"].tolist() == [0, 1]
    assert compare.per_class_figure(dna, image, "x").axes[0].get_title() == "x"


def test_image_rows_and_the_published_row_stand_beside_the_dna_rows() -> None:
    columns = {c: [50.0] for c in compare.PAPER_COLUMNS}
    dna = pd.DataFrame({"experiment": ["large_insect_order"], "source": ["DNA: k"], "run": ["d"], **columns})
    dna = dna.assign(top1_unseen_bins=40.0, samples_unseen_bins=10.0)
    images = pd.DataFrame(
        {
            "experiment": ["large_insect_order", "large_insect_order", "small_insect_order"],
            "run": ["i", "r", "s"],
            "model": ["m"] * 3,
            "loss": ["ce"] * 3,
            "seed": [1] * 3,
            "origin": ["trained", "released checkpoint x", "trained"],
            **{c: [60.0] * 3 for c in compare.PAPER_COLUMNS},
        }
    )
    table = compare.beside_images(dna, images)
    assert table["source"].tolist() == [
        "DNA: k",
        "image: m ce s1",
        "image: m ce s1 (released checkpoint)",
        compare.PUBLISHED_SOURCE,
    ]
    assert table.loc[3, "top1"] == 99.69
    assert compare.image_runs(images, ["large_insect_order"]) == {"large_insect_order": "i"}
    assert compare.image_runs(None, ["large_insect_order"]) == {}
