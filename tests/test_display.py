"""How the report shows a table: counts as integers, differences beside values, wide tables turned, long ones
folded behind a one-line summary."""

from __future__ import annotations

import pandas as pd

from bioscan_lib.report import display


def test_counts_print_as_integers_other_numbers_to_two_decimals_and_missing_cells_empty() -> None:
    table = pd.DataFrame({"name": ["a", "b"], "count": [896324.0, float("nan")], "share": [0.25, 0.5]})
    shown = display.as_text(table)
    assert shown["count"].tolist() == ["896324", ""] and shown["share"].tolist() == ["0.25", "0.50"]
    assert display.as_text(pd.DataFrame({"x": [None, "y"]}))["x"].tolist() == ["", "y"]


def test_a_difference_stands_in_parentheses_after_its_value() -> None:
    table = pd.DataFrame({"source": ["paper", "run"], "top1": [99.69, 98.83], "top1 diff": [None, -0.86]})
    shown = display.with_differences_beside(table, display.as_text(table))
    assert list(shown.columns) == ["source", "top1 (diff)"]
    assert shown["top1 (diff)"].tolist() == ["99.69", "98.83 (-0.86)"]


def test_a_wide_short_table_is_turned_and_a_long_narrow_one_is_not() -> None:
    wide = pd.DataFrame({"run": ["a", "b"], **{f"m{i}": ["1", "2"] for i in range(display.TURN_COLUMNS)}})
    turned = display.turned(wide)
    assert list(turned.columns) == ["run", "a", "b"] and turned["run"].tolist()[:2] == ["m0", "m1"]
    long = pd.DataFrame({"run": [str(i) for i in range(display.TURN_ROWS + 1)], **{f"m{i}": "1" for i in range(13)}})
    assert display.turned(long) is long


def test_a_long_table_is_folded_behind_how_many_of_its_differences_are_zero() -> None:
    rows = display.FOLD_ROWS + 1
    equal = pd.DataFrame({"class": range(rows), "official": 3, "regenerated": 3, "difference": 0})
    assert display.show_table("t", "T", equal, "").folded == f"{rows} rows: all {rows} differences are 0"
    unequal = equal.assign(difference=[0] * (rows - 1) + [-1125313])
    assert (
        display.fold_summary(unequal) == f"{rows} rows: {rows - 1} of {rows} differences are 0, the largest 1,125,313"
    )
    assert display.show_table("t", "T", equal.head(3), "").folded == ""
    assert display.fold_summary(pd.DataFrame({"image": range(20)})) == "20 rows"


def test_an_empty_table_says_why() -> None:
    shown = display.show_table("t", "T", pd.DataFrame(columns=["a"]), "No seeds were repeated.")
    assert shown.empty == "No seeds were repeated." and shown.folded == ""
