"""Dataset statistics on a hand-made table, and equality with the published numbers at full scale."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from bioscan_lib.data import bioscan1m
from bioscan_lib.data.metadata import TaxonomyWarning
from bioscan_lib.dataset import outputs, statistics

NC = bioscan1m.NOT_CLASSIFIED


@pytest.fixture()
def hand_made() -> pd.DataFrame:
    rows = [
        ("Diptera", "Phoridae", "Megaselia", "Megaselia sp1", "BOLD:AAA0001", "ACGT"),
        ("Diptera", "Phoridae", NC, NC, "BOLD:AAA0001", "ACGTN-AC"),
        ("Diptera", "Sciaridae", "Bradysia", NC, "BOLD:AAA0002", "A" * 700),
        ("Hymenoptera", NC, NC, NC, "BOLD:AAA0003", "AC"),
        ("Strepsiptera", "Stylopidae", NC, NC, "BOLD:AAA0004", "ACG"),
    ]
    frame = pd.DataFrame(rows, columns=["order", "family", "genus", "species", "uri", "nucraw"])
    for rank in ("phylum", "class"):
        frame[rank] = "Arthropoda" if rank == "phylum" else "Insecta"
    for rank in ("subfamily", "tribe"):
        frame[rank] = NC
    return frame.astype("category")


def test_taxonomy_statistics_counts_categories_and_labelled(hand_made: pd.DataFrame) -> None:
    table = statistics.taxonomy_statistics(hand_made).set_index("rank")
    assert table.loc["order"].tolist() == [3, 5, 100.0]
    assert table.loc["family"].tolist() == [3, 4, 80.0]
    assert table.loc["genus"].tolist() == [2, 2, 40.0]
    assert table.loc["species"].tolist() == [1, 1, 20.0]
    assert table.loc["subfamily"].tolist() == [0, 0, 0.0]
    assert table.loc["BIN"].tolist() == [4, 5, 100.0]


def test_order_counts_sit_beside_published_and_unpublished_orders_have_none(hand_made: pd.DataFrame) -> None:
    table = statistics.order_counts(hand_made).set_index("order")
    assert table.loc["Diptera", "count"] == 3 and table.loc["Diptera", "published"] == 896_324
    assert table.loc["Diptera", "difference"] == 3 - 896_324
    assert pd.isna(table.loc["Strepsiptera", "published"])


def test_family_counts_exclude_unknown_and_other_orders(hand_made: pd.DataFrame) -> None:
    table = statistics.diptera_family_counts(hand_made)
    assert table["family"].tolist() == ["Phoridae", "Sciaridae"] and table["count"].tolist() == [2, 1]
    assert table["published"].tolist() == [135_991, 92_276]


def test_barcode_lengths_and_summary(hand_made: pd.DataFrame) -> None:
    lengths = statistics.barcode_lengths(hand_made)
    assert lengths.tolist() == [4, 8, 700, 2, 3]
    summary = statistics.barcode_length_summary(lengths).set_index("statistic")["value"]
    assert summary["max"] == 700 and summary["longer_than_660_pct"] == 20.0


def test_bin_size_distribution(hand_made: pd.DataFrame) -> None:
    table = statistics.bin_size_distribution(hand_made).set_index("specimens_per_bin")
    assert table.loc["1", "bins"] == 3 and table.loc["2", "bins"] == 1 and table.loc["2", "specimens"] == 2
    assert table["specimens"].sum() == 5


def test_one_photograph_per_order_picks_the_first_specimen(hand_made: pd.DataFrame) -> None:
    frame = hand_made.assign(image_file=[f"{i}.jpg" for i in range(5)], chunk_number=1)
    chosen = statistics.one_per_order(frame)
    assert chosen["order"].astype(str).tolist() == ["Diptera", "Hymenoptera", "Strepsiptera"]
    assert chosen["image_file"].tolist() == ["0.jpg", "3.jpg", "4.jpg"]


@pytest.mark.slow
def test_names_under_two_parents_are_listed_with_the_parent_holding_most_first(hand_made: pd.DataFrame) -> None:
    assert statistics.names_under_two_parents(hand_made).empty
    frame = hand_made.astype("object")
    frame.loc[4, ["family", "genus"]] = ["Phoridae", "Bradysia"]  # Phoridae under Strepsiptera, Bradysia under Phoridae
    table = statistics.names_under_two_parents(frame.astype("category"))
    assert table[["rank", "name", "records", "most_under", "also_under"]].values.tolist() == [
        ["family", "Phoridae", 3, "Diptera (2)", "Strepsiptera (1)"],
        ["genus", "Bradysia", 2, "Phoridae (1)", "Sciaridae (1)"],
    ]


def test_writing_the_statistics_warns_of_names_under_two_parents(hand_made: pd.DataFrame, tmp_path: Path) -> None:
    frame = hand_made.astype("object")
    frame.loc[4, "family"] = "Phoridae"
    with pytest.warns(TaxonomyWarning, match=r"1 names sit under two parents \(1 family; e.g. Phoridae under Diptera"):
        statistics.write_statistics(frame.astype("category"), tmp_path)
    assert len(pd.read_csv(outputs.NAMES_UNDER_TWO_PARENTS.path(tmp_path))) == 1


def test_full_scale_statistics_equal_the_published_ones(full_scale_frame: pd.DataFrame) -> None:
    comparison = statistics.comparison_with_published(full_scale_frame).set_index("quantity")
    differences = comparison.loc[comparison["difference"] != 0, "difference"]
    # The release holds five specimens of orders outside the published 16; the table counts only those 16.
    assert differences.to_dict() == {"order categories": 3}
