"""How the report shows a table: numbers as text, each difference beside its value, wide tables turned and long
ones summarised in a line with their rows folded."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

FOLD_ROWS = 12  # a longer table is summarised in one line, its rows folded
TURN_COLUMNS = 12  # a table wider than this with few rows is turned: one row per column
TURN_ROWS = 8
DIFF_SUFFIX = " diff"
DIFFERENCE = "difference"


@dataclass(frozen=True)
class ShownTable:
    """A table as the report shows it: its cells as text, and the summary line that stands for it when folded."""

    name: str
    title: str
    frame: pd.DataFrame
    folded: str = ""  # the one-line summary when the rows are folded away
    empty: str = ""  # why the table has no rows


def difference_columns(table: pd.DataFrame) -> list[str]:
    """The columns holding a difference (reproduced minus published)."""
    return [c for c in table.columns if c == DIFFERENCE or c.endswith(DIFF_SUFFIX)]


def as_text(table: pd.DataFrame) -> pd.DataFrame:
    """Every cell as shown: columns of whole numbers as integers, other numbers to two decimals, missing ones empty."""
    shown = table.astype(object).where(table.notna(), "")
    for column in table.columns:
        values = table[column]
        if not pd.api.types.is_float_dtype(values) or values.isna().all():
            continue
        whole = bool((values.dropna() % 1 == 0).all())
        shown[column] = values.map(lambda v: "" if pd.isna(v) else f"{v:.0f}" if whole else f"{v:.2f}")
    return shown.astype(str)


def with_differences_beside(table: pd.DataFrame, shown: pd.DataFrame) -> pd.DataFrame:
    """`X diff` columns put in parentheses after the values of `X`, under one heading `X (diff)`."""
    merged = shown.copy()
    for column in table.columns:
        base = column.removesuffix(DIFF_SUFFIX)
        if column == base or base not in table:
            continue
        difference = pd.to_numeric(table[column], errors="coerce")
        beside = difference.map(lambda d: "" if pd.isna(d) else f" ({d:+.2f})")
        merged[base] = merged[base] + beside
        merged = merged.drop(columns=column).rename(columns={base: f"{base} (diff)"})
    return merged


def turned(shown: pd.DataFrame) -> pd.DataFrame:
    """A wide, short table with one row per column and one column per row (headed by its first column's values)."""
    if len(shown.columns) <= TURN_COLUMNS or len(shown) > TURN_ROWS:
        return shown
    first = shown.columns[0]
    return shown.set_index(first).T.rename_axis(first).reset_index().rename_axis(columns=None)


def fold_summary(table: pd.DataFrame) -> str:
    """The line that stands for a long table: its rows and, where it compares, how many differences are 0."""
    rows = f"{len(table):,} rows"
    differences = table[difference_columns(table)].apply(pd.to_numeric, errors="coerce").stack().dropna()
    if differences.empty:
        return rows
    zero = int((differences == 0).sum())
    if zero == len(differences):
        return f"{rows}: all {zero:,} differences are 0"
    largest = differences.abs().max()
    shown = f"{largest:,.0f}" if largest % 1 == 0 else f"{largest:,.2f}"
    return f"{rows}: {zero:,} of {len(differences):,} differences are 0, the largest {shown}"


def show_table(name: str, title: str, table: pd.DataFrame, empty_reason: str, fold: bool = False) -> ShownTable:
    """A table ready for the report: as text, differences beside values, turned if wide, folded if long (or `fold`)."""
    if table.empty:
        return ShownTable(name, title, table, empty=empty_reason)
    shown = turned(with_differences_beside(table, as_text(table)))
    return ShownTable(name, title, shown, fold_summary(table) if fold or len(shown) > FOLD_ROWS else "")
