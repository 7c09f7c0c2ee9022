"""Dataset statistics of the paper, computed from the metadata, and their comparison with the published numbers."""

from __future__ import annotations

import warnings
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from bioscan_lib.core.figures import image_grid
from bioscan_lib.data import bioscan1m
from bioscan_lib.data.bioscan1m import DIPTERA
from bioscan_lib.data.images import decode_image, open_package
from bioscan_lib.data.metadata import TaxonomyWarning, labelled
from bioscan_lib.dataset import outputs, plots

BIN_SIZE_EDGES = (1, 2, 3, 6, 11, 101, 1001, np.inf)
BIN_SIZE_LABELS = ("1", "2", "3-5", "6-10", "11-100", "101-1000", ">1000")


def taxonomy_statistics(frame: pd.DataFrame) -> pd.DataFrame:
    """The paper's statistics table: per rank, categories, labelled samples and labelled percent."""
    rows = []
    for rank in (*bioscan1m.RANKS, bioscan1m.BIN_COLUMN):
        known = labelled(frame[rank])
        rows.append(
            {
                "rank": "BIN" if rank == bioscan1m.BIN_COLUMN else rank,
                "categories": int(frame[rank][known].nunique()),
                "labelled": int(known.sum()),
                "labelled_pct": round(100 * known.mean(), 1),
            }
        )
    return pd.DataFrame(rows)


def order_counts(frame: pd.DataFrame) -> pd.DataFrame:
    """Specimens per order, largest first, beside the published count (missing for orders outside the 16)."""
    counts = frame["order"].astype("string").value_counts()
    published = pd.Series(bioscan1m.published_order_counts(), dtype="Int64")
    table = pd.DataFrame({"order": counts.index, "count": counts.to_numpy()})
    table["published"] = published.reindex(table["order"]).to_numpy()
    table["difference"] = table["count"] - table["published"]
    return table


def diptera_family_counts(frame: pd.DataFrame, top: int = 40) -> pd.DataFrame:
    """The `top` most populous Diptera families with their counts, beside the published ones."""
    diptera = frame.loc[(frame["order"] == DIPTERA) & labelled(frame["family"]), "family"].astype("string")
    counts = diptera.value_counts().head(top)
    published = pd.Series(bioscan1m.diptera_family_counts(), dtype="Int64")
    table = pd.DataFrame({"rank": np.arange(1, len(counts) + 1), "family": counts.index, "count": counts.to_numpy()})
    table["published"] = published.reindex(table["family"]).to_numpy()
    table["difference"] = table["count"] - table["published"]
    return table


def names_under_two_parents(frame: pd.DataFrame) -> pd.DataFrame:
    """Every name that sits under more than one parent (bioscan1m.PARENT_RANKS), with its records under each: the
    parent holding most of them first (the one the splits and counts follow), then the others."""
    rows = []
    for rank, parent in bioscan1m.PARENT_RANKS.items():
        known = labelled(frame[rank]) & labelled(frame[parent])
        pairs = frame.loc[known, [rank, parent]].astype("string").value_counts()
        names = pairs.index.get_level_values(0)
        for name in sorted(names[names.duplicated()].unique()):
            under = pairs.loc[name].sort_index().sort_values(ascending=False, kind="stable")
            rows.append(
                {
                    "rank": rank,
                    "name": name,
                    "parent_rank": parent,
                    "records": int(under.sum()),
                    "most_under": f"{under.index[0]} ({under.iloc[0]:,})",
                    "also_under": "; ".join(f"{other} ({count:,})" for other, count in under.iloc[1:].items()),
                }
            )
    return pd.DataFrame(rows, columns=["rank", "name", "parent_rank", "records", "most_under", "also_under"])


def _warn_of_names_under_two_parents(names: pd.DataFrame) -> None:
    if len(names):
        per_rank = ", ".join(f"{count} {rank}" for rank, count in names["rank"].value_counts(sort=False).items())
        warnings.warn(
            f"{len(names)} names sit under two parents ({per_rank}; e.g. {names['name'].iloc[0]} under "
            f"{names['most_under'].iloc[0]} and {names['also_under'].iloc[0]}): they are listed in the "
            f"{outputs.NAMES_UNDER_TWO_PARENTS.name()} table; counts follow each record's own parent",
            TaxonomyWarning,
            stacklevel=3,
        )


def barcode_lengths(frame: pd.DataFrame) -> pd.Series:
    """Length of each DNA barcode as published (bases, Ns and gaps)."""
    return frame["nucraw"].astype("string").str.len().fillna(0).astype(int).rename("barcode_length")


def barcode_length_summary(lengths: pd.Series) -> pd.DataFrame:
    """Count, quartiles and the share of reads longer than the reliable 660 bases."""
    summary = lengths.describe(percentiles=[0.05, 0.25, 0.5, 0.75, 0.95]).round(1)
    summary["longer_than_660_pct"] = round(100 * (lengths > 660).mean(), 2)
    return summary.rename_axis("statistic").reset_index(name="value")


def bin_size_distribution(frame: pd.DataFrame) -> pd.DataFrame:
    """How many BINs hold 1, 2, 3-5, … specimens, and how many specimens those BINs hold."""
    sizes = frame["uri"].astype("string").value_counts().to_numpy()
    groups = pd.cut(sizes, bins=BIN_SIZE_EDGES, right=False, labels=BIN_SIZE_LABELS)
    table = pd.DataFrame({"specimens_per_bin": groups, "size": sizes})
    return table.groupby("specimens_per_bin", observed=False)["size"].agg(bins="count", specimens="sum").reset_index()


def comparison_with_published(frame: pd.DataFrame) -> pd.DataFrame:
    """Every reproduced statistic beside its published value with the difference."""
    rows = []
    published = bioscan1m.taxonomy_statistics()
    for row in taxonomy_statistics(frame).itertuples():
        key = "uri" if row.rank == "BIN" else row.rank
        rows.append((f"{row.rank} categories", row.categories, published[key]["categories"]))
        rows.append((f"{row.rank} labelled samples", row.labelled, published[key]["labelled"]))
    rows.append(("specimens", len(frame), bioscan1m.N_IMAGES))
    for row in order_counts(frame).itertuples():
        if not pd.isna(row.published):
            rows.append((f"order {row.order}", row.count, int(row.published)))
    family = diptera_family_counts(frame)
    counts = dict(zip(family["family"], family["count"]))
    for name, value in bioscan1m.diptera_family_counts().items():
        rows.append((f"Diptera family {name}", counts.get(name, 0), value))
    table = pd.DataFrame(rows, columns=["quantity", "reproduced", "published"])
    table["difference"] = table["reproduced"] - table["published"]
    return table


def write_statistics(frame: pd.DataFrame, out_dir: str | Path) -> dict[str, Path]:
    """Write every statistics table (CSV and Markdown) and metadata figure (PNG) under `out_dir`."""

    tables = {
        outputs.DATASET_STATISTICS: taxonomy_statistics(frame),
        outputs.ORDER_COUNTS: order_counts(frame),
        outputs.DIPTERA_FAMILY_COUNTS: diptera_family_counts(frame),
        outputs.BARCODE_LENGTH_SUMMARY: barcode_length_summary(barcode_lengths(frame)),
        outputs.BIN_SIZE_DISTRIBUTION: bin_size_distribution(frame),
        outputs.STATISTICS_VS_PUBLISHED: comparison_with_published(frame),
        outputs.NAMES_UNDER_TWO_PARENTS: names_under_two_parents(frame),
    }
    written = {table.name(): table.save(content, out_dir) for table, content in tables.items()}
    _warn_of_names_under_two_parents(tables[outputs.NAMES_UNDER_TWO_PARENTS])
    figures = {
        outputs.CLASS_DISTRIBUTION: plots.class_distribution(
            tables[outputs.ORDER_COUNTS], tables[outputs.DIPTERA_FAMILY_COUNTS]
        ),
        outputs.BARCODE_LENGTH_HISTOGRAM: plots.barcode_length_histogram(barcode_lengths(frame)),
        outputs.BARCODE_BLOCKS: plots.barcode_blocks(frame["nucraw"].astype("string").iloc[0]),
        outputs.BIN_SIZES: plots.bin_sizes(frame["uri"].astype("string").value_counts()),
    }
    for figure, content in figures.items():
        written[figure.name()] = figure.save(content, out_dir)
        plt.close(content)
    return written


def one_per_order(frame: pd.DataFrame) -> pd.DataFrame:
    """The first specimen (in metadata order) of each order, orders from most to least populous."""
    orders = frame["order"].astype("string").value_counts().index
    first = frame.drop_duplicates("order").set_index(frame.drop_duplicates("order")["order"].astype("string"))
    return first.loc[orders, ["order", "family", "image_file", "chunk_number"]].reset_index(drop=True)


def order_gallery(frame: pd.DataFrame, package: str | Path):
    """A grid of one photograph per order, read from an image package (folder, ZIP or HDF5)."""

    chosen = one_per_order(frame)
    reader = open_package(package)
    try:
        photos = [decode_image(reader.read(f, c)) for f, c in zip(chosen["image_file"], chosen["chunk_number"])]
    finally:
        reader.close()
    return image_grid(photos, chosen["order"].astype(str).tolist())
