"""The six experiments' splits: per-class rules, the round-robin draw, determinism, the per-row reference, full scale."""

from __future__ import annotations

import warnings

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from matplotlib.figure import Figure
from split_reference import make_splits_per_row, published_class_index

from bioscan_lib import cli
from bioscan_lib.data import bioscan1m
from bioscan_lib.data.bioscan1m import BUDGETS, NOT_CLASSIFIED, SPLIT_COLUMNS
from bioscan_lib.data.metadata import read_metadata, write_metadata
from bioscan_lib.split import rules as split
from bioscan_lib.split import statistics as split_statistics


def hand_made(
    families: dict[str, int], orders: dict[str, int] | None = None, unknown_diptera: int = 0, seed: int = 0
) -> pd.DataFrame:
    """Rows of Diptera families, Diptera of unknown family and other orders, in a shuffled order."""
    order, family = [], []
    for name, count in families.items():
        order += ["Diptera"] * count
        family += [name] * count
    order += ["Diptera"] * unknown_diptera
    family += [NOT_CLASSIFIED] * unknown_diptera
    for name, count in (orders or {}).items():
        order += [name] * count
        family += [f"{name}idae"] * count
    shuffled = np.random.default_rng(seed).permutation(len(order))
    frame = pd.DataFrame(
        {"order": np.array(order, dtype=object)[shuffled], "family": np.array(family, dtype=object)[shuffled]}
    )
    for column in SPLIT_COLUMNS:
        frame[column] = "no_split"
    return frame


def counts(frame: pd.DataFrame, experiment: str) -> dict[str, tuple[int, int, int]]:
    """Train, validation and test counts per class of an experiment."""
    table = split.class_split_table(frame, experiment)
    return {name: tuple(int(v) for v in row) for name, row in zip(table.index, table.to_numpy())}


def quiet_splits(
    frame: pd.DataFrame,
    seed: int,
    medium: int = BUDGETS["medium"],
    small: int = BUDGETS["small"],
    per_row: bool = False,
) -> pd.DataFrame:
    """Splits made without budget warnings (small tables cannot fill the paper's budgets)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", split.SplitBudgetWarning)
        return (make_splits_per_row if per_row else split.make_splits)(frame, seed, medium, small)


@pytest.mark.parametrize(
    ("n", "expected"),
    [
        (0, (0, 0, 0)),
        (2, (0, 0, 0)),
        (3, (1, 1, 1)),
        (5, (3, 1, 1)),
        (6, (4, 1, 1)),
        (7, (5, 1, 1)),
        (8, (5, 1, 2)),  # round(5.6) + round(0.8) + round(1.6) = 9: the negative remainder comes off train
        (15, (10, 2, 3)),  # round(10.5) = 10 and round(1.5) = 2: halves go to the even integer
        (25, (18, 2, 5)),  # round(17.5) = 18 and round(2.5) = 2
        (45, (32, 4, 9)),  # round(31.5) = 32 and round(4.5) = 4
    ],
)
def test_class_split_counts_follow_each_rule(n: int, expected: tuple[int, int, int]) -> None:
    assert tuple(split.class_split_counts(np.array([n]))[0]) == expected


def test_class_split_counts_match_python_round() -> None:
    n = np.arange(6, 20_000)
    rounded = np.array([(round(0.7 * k), round(0.1 * k), round(0.2 * k)) for k in n])
    expected = rounded.copy()
    expected[:, 0] += n - rounded.sum(axis=1)
    assert np.array_equal(split.class_split_counts(n), expected)


def test_large_family_split_per_class_on_hand_made_table() -> None:
    frame = quiet_splits(hand_made({"Two": 2, "Three": 3, "Five": 5, "Six": 6, "Seven": 7, "TwentyFive": 25}), seed=1)
    assert counts(frame, "large_diptera_family") == {
        "Three": (1, 1, 1),
        "Five": (3, 1, 1),
        "Six": (4, 1, 1),
        "Seven": (5, 1, 1),
        "TwentyFive": (18, 2, 5),
    }
    assert (frame.loc[frame["family"] == "Two", "large_diptera_family"] == "no_split").all()


def test_only_the_40_largest_known_families_with_ties_by_name() -> None:
    families = {f"F{index:02d}": 100 - index for index in range(39)} | {"Tie_b": 20, "Tie_a": 20, "Small": 10}
    frame = quiet_splits(hand_made(families, unknown_diptera=500), seed=3)
    kept = set(counts(frame, "large_diptera_family"))
    assert kept == {f"F{index:02d}" for index in range(39)} | {"Tie_a"}
    unknown = frame["family"] == NOT_CLASSIFIED
    assert (frame.loc[unknown, "large_diptera_family"] == "no_split").all()


def test_order_task_keeps_the_family_assignment_and_splits_the_rest() -> None:
    frame = quiet_splits(
        hand_made({"A": 30, "B": 10, "Rare": 2}, {"Hymenoptera": 25, "Odd": 2}, unknown_diptera=7), seed=5
    )
    in_family = frame["large_diptera_family"] != "no_split"
    assert (frame.loc[in_family, "large_insect_order"] == frame.loc[in_family, "large_diptera_family"]).all()
    # Diptera: A (21, 3, 6) + B (7, 1, 2) kept, then the 7 unknown and 2 "Rare" rows split as one class of 9.
    assert counts(frame, "large_insect_order") == {"Diptera": (28 + 6, 4 + 1, 8 + 2), "Hymenoptera": (18, 2, 5)}


def test_round_robin_counts_take_whole_small_classes_and_cap_the_largest() -> None:
    names = np.array(["a", "b", "c"])
    assert split.round_robin_counts(np.array([1, 5, 10]), names, 9).tolist() == [1, 4, 4]
    assert split.round_robin_counts(np.array([1, 5, 10]), names, 8).tolist() == [1, 4, 3]
    assert split.round_robin_counts(np.array([5, 1, 5]), names, 3).tolist() == [1, 1, 1]
    assert split.round_robin_counts(np.array([5, 1, 5]), names, 4).tolist() == [2, 1, 1]
    assert split.round_robin_counts(np.array([3, 1, 2]), names, 100).tolist() == [3, 1, 2]


def test_overshoot_larger_than_the_largest_class_moves_to_the_next() -> None:
    taken = split.round_robin_counts(np.array([4, 4, 4, 4]), np.array(["a", "b", "c", "d"]), 1)
    assert taken.tolist() == [1, 0, 0, 0]


def test_budget_larger_than_pool_takes_everything_and_warns() -> None:
    frame = hand_made({"A": 40, "B": 12}, {"Coleoptera": 30})
    with pytest.warns(split.SplitBudgetWarning, match="fewer than the budget"):
        result = split.make_splits(frame, 7, medium_size=10_000, small_size=20)
    assert counts(result, "medium_diptera_family") == counts(result, "large_diptera_family")
    assert sum(sum(value) for value in counts(result, "small_insect_order").values()) == 20


def test_a_diptera_family_also_under_another_order_is_named_and_split_from_its_diptera_records() -> None:
    frame = hand_made({"A": 40, "B": 12}, {"Coleoptera": 30})
    frame.loc[frame.index[frame["order"] == "Coleoptera"][:5], "family"] = "A"  # five records of A under Coleoptera
    with pytest.warns(
        split.TaxonomyWarning, match=r"1 classified Diptera family also sit under another order \(A \(5\)"
    ):
        result = quiet_splits(frame, seed=3, medium=30, small=10)
    assert sum(counts(result, "large_diptera_family")["A"]) == 40, "only A's records under Diptera"
    assert (
        result.loc[(result["family"] == "A") & (result["order"] == "Coleoptera"), "large_diptera_family"] == "no_split"
    ).all()


def test_medium_takes_each_class_first_rows_in_metadata_order() -> None:
    frame = quiet_splits(hand_made({"A": 200, "B": 60, "C": 9}, {"Coleoptera": 100}), seed=11, medium=100, small=40)
    for experiment in ("medium_diptera_family", "medium_insect_order", "small_diptera_family"):
        large = frame[f"large_{bioscan1m.experiment_task(experiment)}"]
        labels = frame[bioscan1m.label_column(experiment)]
        for name, split_name in {(a, b) for a, b in zip(labels, large) if b != "no_split"}:
            pool = frame[(labels == name) & (large == split_name)]
            taken = (pool[experiment] == split_name).to_numpy()
            assert not (taken[1:] & ~taken[:-1]).any(), f"{experiment} {name} {split_name} skips a row"
            assert (pool.loc[~taken, experiment] == "no_split").all()
    # Large: A (140, 20, 40), B (42, 6, 12), C (6, 1, 2); budgets 70, 10, 20 visited C, B, A round after round.
    assert counts(frame, "medium_diptera_family") == {"A": (32, 4, 9), "B": (32, 5, 9), "C": (6, 1, 2)}


def test_same_seed_same_columns_other_seed_same_counts_other_members() -> None:
    frame = hand_made({"A": 300, "B": 120, "C": 40}, {"Coleoptera": 200, "Hemiptera": 50})
    first, again, other = (quiet_splits(frame, seed, 200, 60) for seed in (2023, 2023, 7))
    for experiment in bioscan1m.EXPERIMENTS:
        assert first[experiment].equals(again[experiment])
        assert counts(first, experiment) == counts(other, experiment)
    assert not first["large_diptera_family"].equals(other["large_diptera_family"])


def test_the_input_frame_is_not_modified() -> None:
    frame = hand_made({"A": 30, "B": 10}, {"Coleoptera": 20})
    before = frame.copy()
    result = quiet_splits(frame, 1)
    pd.testing.assert_frame_equal(frame, before)
    assert (result["large_diptera_family"] != "no_split").any()


@st.composite
def random_tables(draw: st.DrawFn) -> tuple[pd.DataFrame, int, int, int]:
    """A table of random family and order sizes, a seed and Medium/Small sizes."""
    families = draw(st.lists(st.integers(0, 40), min_size=1, max_size=45))
    orders = draw(st.lists(st.integers(0, 30), max_size=4))
    frame = hand_made(
        {f"F{index}": count for index, count in enumerate(families)},
        {f"O{index}": count for index, count in enumerate(orders)},
        unknown_diptera=draw(st.integers(0, 12)),
        seed=draw(st.integers(0, 3)),
    )
    medium = draw(st.integers(0, 600))
    return frame, draw(st.integers(0, 2**32 - 1)), medium, draw(st.integers(0, medium))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(random_tables())
def test_vectorised_splits_equal_the_per_row_reference(case: tuple[pd.DataFrame, int, int, int]) -> None:
    frame, seed, medium, small = case
    fast = quiet_splits(frame, seed, medium, small)
    slow = quiet_splits(frame, seed, medium, small, per_row=True)
    for experiment in bioscan1m.EXPERIMENTS:
        assert fast[experiment].astype(str).tolist() == slow[experiment].astype(str).tolist(), experiment


def test_class_list_numbers_classes_by_training_count_then_first_training_row() -> None:
    rows = [("A", "train"), ("B", "validation"), ("C", "train"), ("B", "train"), ("C", "train"), ("A", "train")]
    rows += [("D", "test"), ("B", "train"), ("E", "train"), ("E", "test"), ("E", "test"), ("F", "no_split")]
    frame = pd.DataFrame(rows, columns=["order", "large_insect_order"])
    classes = split.class_list(frame, "large_insect_order")
    # B appears first overall but its first training row comes after C's; D has no training sample and comes last.
    assert classes["class"].tolist() == ["A", "C", "B", "E", "D"]
    assert classes["train"].tolist() == [2, 2, 2, 1, 0]
    assert classes["count"].tolist() == [2, 2, 3, 3, 1]
    assert classes["index"].tolist() == [0, 1, 2, 3, 4]


@pytest.mark.parametrize("experiment", bioscan1m.EXPERIMENTS)
def test_class_list_matches_the_published_numbering_on_tied_draws(experiment: str) -> None:
    frame = quiet_splits(
        hand_made({f"F{i}": 8 + 5 * (i // 2) for i in range(12)}, {"Coleoptera": 60, "Hemiptera": 9, "Lepidoptera": 9}),
        seed=5,
        medium=90,
        small=40,
    )
    classes = split.class_list(frame, experiment)
    published_index = published_class_index(frame, experiment)
    trained = classes[classes["train"] > 0]
    assert dict(zip(trained["class"], trained["index"])) == published_index
    assert trained["train"].duplicated().any(), "the draw should tie some classes, or this checks nothing"


def test_split_size_table_and_compare_splits() -> None:
    frame = quiet_splits(hand_made({"A": 30, "B": 10}, {"Coleoptera": 20}), seed=1, medium=40, small=20)
    sizes = split.split_size_table(frame).set_index("experiment")
    assert sizes.loc["large_diptera_family"].tolist() == [2, 28, 4, 8]
    assert sizes.loc["large_insect_order"].tolist() == [2, 42, 6, 12]
    assert (split.compare_splits(frame, frame)["difference"] == 0).all()
    changed = frame.copy()
    changed.loc[changed["large_insect_order"] == "train", "large_insect_order"] = "no_split"
    differences = split.compare_splits(frame, changed).query("difference != 0")
    assert set(differences["experiment"]) == {"large_insect_order"}
    assert differences.set_index("class")["difference"].to_dict() == {"Coleoptera": -14, "Diptera": -28}


def test_has_official_splits() -> None:
    frame = hand_made({"A": 30})
    assert not split.has_official_splits(frame)
    assert split.has_official_splits(quiet_splits(frame, 1))


def run_split_command(*arguments: str) -> int:
    """Parse and run `bioscan-repro split ARGUMENTS`, letting its errors through."""
    parsed = cli.build_parser().parse_args(["split", *arguments])
    return parsed.handler(parsed)


def test_cli_writes_a_new_tsv_and_class_lists(tmp_path, sample_metadata) -> None:
    source = tmp_path / "metadata.tsv"
    write_metadata(sample_metadata, source)
    source_bytes = source.read_bytes()
    out = tmp_path / "split" / split.SPLIT_FILE_NAME
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", split.SplitBudgetWarning)
        assert (
            run_split_command("--metadata", str(source), "--output", str(out), "--seed", "4", "--medium-size", "1000")
            == 0
        )
    written = split.read_split(out.parent)
    expected = quiet_splits(read_metadata(source), 4, 1000)
    for experiment in bioscan1m.EXPERIMENTS:
        assert written[experiment].astype(str).tolist() == expected[experiment].astype(str).tolist()
        pd.testing.assert_frame_equal(
            split.read_class_list(out.parent, experiment), split.class_list(expected, experiment)
        )
    assert source.read_bytes() == source_bytes, "the source metadata must not be touched"
    with pytest.raises(ValueError, match="is the source metadata"):
        run_split_command("--metadata", str(source), "--output", str(source))


def test_cli_takes_the_paths_seed_and_budgets_from_a_profile(tmp_path, sample_metadata, monkeypatch) -> None:
    """On the sample, `split --profile` fills Medium and Small to the profile's budgets, without a warning."""
    from bioscan_lib.core import paths

    source = tmp_path / "data" / bioscan1m.METADATA_NAME
    write_metadata(sample_metadata, source)
    (tmp_path / "params").mkdir()
    profile = {"profile": "tiny", "data_root": "data", "output_dir": "out", "seed": 4}
    (tmp_path / "params" / "tiny.yaml").write_text(yaml.safe_dump({**profile, "medium_size": 1200, "small_size": 800}))
    monkeypatch.setenv(paths.ROOT_ENVIRONMENT_VARIABLE, str(tmp_path))
    with warnings.catch_warnings():
        warnings.simplefilter("error", split.SplitBudgetWarning)
        assert run_split_command("--profile", "tiny") == 0
    written = split.read_split(split.split_folder(tmp_path / "out"))
    expected = split.make_splits(read_metadata(source), 4, 1200, 800)
    for experiment in bioscan1m.EXPERIMENTS:
        assert written[experiment].astype(str).tolist() == expected[experiment].astype(str).tolist()
    assert (written["small_insect_order"] != split.NO_SPLIT).sum() < (
        written["medium_insect_order"] != split.NO_SPLIT
    ).sum()
    with pytest.raises(ValueError, match="give --profile NAME, or both --metadata and --output"):
        run_split_command("--metadata", str(tmp_path / "data"))


@pytest.fixture(scope="module")
def sample_metadata() -> pd.DataFrame:
    """The sample's metadata rows in the published schema."""
    from bioscan_lib.sample.release import synthetic_metadata

    return synthetic_metadata(seed=9)


def test_split_statistics_tables_and_figure(sample_metadata) -> None:
    frame = quiet_splits(sample_metadata, 1, 1000, 400)
    table = split_statistics.split_class_counts(frame, "large_insect_order")
    assert table["index"].tolist() == list(range(len(table)))
    train = split.class_list(frame, "large_insect_order").set_index("class")["train"]
    assert train.reindex(table["class"]).is_monotonic_decreasing  # numbered by training samples, as published
    assert (
        table[list(split.SPLITS)].sum().tolist()
        == split.split_size_table(frame).set_index("experiment").loc["large_insect_order", list(split.SPLITS)].tolist()
    )
    left_out = split_statistics.left_out_classes(frame)
    families = left_out[left_out["experiment"] == "large_diptera_family"]
    assert set(families["reason"]) <= {"not among the 40 largest Diptera families", "fewer than 3 samples"}
    kept = set(split.class_split_table(frame, "large_diptera_family").index)
    assert not kept & set(families["class"])
    figure = split_statistics.plot_split_distribution(table, "large_insect_order")
    assert isinstance(figure, Figure) and len(figure.axes[0].get_yticklabels()) == len(table)
    plt.close(figure)


def test_left_out_reasons_on_hand_made_table() -> None:
    families = {f"F{index:02d}": 50 for index in range(40)} | {"Extra": 10, "Pair": 2}
    frame = quiet_splits(hand_made(families, {"Odd": 2, "Coleoptera": 40}), seed=1)
    left_out = split_statistics.left_out_classes(frame).set_index(["experiment", "class"])
    assert left_out.loc[("large_diptera_family", "Extra"), "reason"] == "not among the 40 largest Diptera families"
    assert left_out.loc[("large_insect_order", "Odd")].tolist() == [2, "fewer than 3 samples"]
    assert len(left_out) == 3


@pytest.mark.slow
def test_full_scale_split_sizes_equal_the_derived_table(full_scale_frame: pd.DataFrame) -> None:
    frame = split.make_splits(full_scale_frame, 2023)
    sizes = split.split_size_table(frame).set_index("experiment")
    assert sizes.to_dict(orient="index") == bioscan1m.split_sizes()
    rare = full_scale_frame.loc[~full_scale_frame["order"].isin(list(bioscan1m.published_order_counts())), "order"]
    assert set(rare.astype(str)).isdisjoint(counts(frame, "large_insect_order"))
    published_orders = ["Diptera", "Hymenoptera", "Coleoptera", "Hemiptera", "Lepidoptera", "Psocodea"]
    published_orders += ["Thysanoptera", "Trichoptera", "Orthoptera", "Blattodea", "Neuroptera", "Ephemeroptera"]
    published_orders += ["Dermaptera", "Archaeognatha", "Plecoptera", "Embioptera"]  # generalization.py's mapping
    assert split.class_list(frame, "large_insect_order")["class"].tolist() == published_orders
    for experiment in bioscan1m.EXPERIMENTS:
        classes = split.class_list(frame, experiment)
        assert dict(zip(classes["class"], classes["index"])) == published_class_index(frame, experiment), experiment


def test_a_frame_with_gaps_in_its_index_splits_like_its_reset_copy() -> None:
    frame = hand_made({"A": 40, "B": 12}, {"Coleoptera": 30}).iloc[::2]
    gapped, reset = quiet_splits(frame, 3, 20, 10), quiet_splits(frame.reset_index(drop=True), 3, 20, 10)
    assert gapped.index.equals(frame.index)
    for experiment in bioscan1m.EXPERIMENTS:
        assert gapped[experiment].tolist() == reset[experiment].tolist()


def test_bad_input_is_refused_with_its_reason() -> None:
    with pytest.raises(ValueError, match="lacks column"):
        split.make_splits(pd.DataFrame({"order": ["Diptera"]}), 1)
    with pytest.raises(ValueError, match="must not be negative"):
        split.make_splits(hand_made({"A": 10}), 1, medium_size=-5)
    with pytest.raises(ValueError, match="Unknown experiment"):
        split.class_list(hand_made({"A": 10}), "huge_insect_order")


@pytest.mark.parametrize("column", split.SPECIMEN_COLUMNS)
def test_a_specimen_in_two_rows_is_refused(column: str) -> None:
    frame = hand_made({"A": 30}).assign(**{name: [f"S{i}" for i in range(30)] for name in split.SPECIMEN_COLUMNS})
    frame.loc[7, column] = "S3"
    with pytest.raises(ValueError, match=rf"column {column} repeats over 2 rows \(1 values, e.g. \['S3'\]\)"):
        split.make_splits(frame, 1)


def test_emptied_by_trim_lists_exactly_the_classes_the_draw_empties() -> None:
    from bioscan_lib.sample.release import synthetic_metadata

    metadata = synthetic_metadata()  # the sample profile's 3,000 records
    for medium, small in ((1000, 400), (1200, 800)):
        frame = quiet_splits(metadata, 1, medium, small)
        emptied = split_statistics.emptied_by_trim(frame, medium, small)
        for experiment in bioscan1m.EXPERIMENTS[2:]:
            large = split.class_split_table(frame, f"large_{bioscan1m.experiment_task(experiment)}")
            drawn = split.class_split_table(frame, experiment).reindex(large.index, fill_value=0)
            actual = {(c, s) for c in large.index for s in split.SPLITS if large.loc[c, s] > 0 and drawn.loc[c, s] == 0}
            listed = emptied[emptied["experiment"] == experiment]
            assert set(zip(listed["class"], listed["split"])) == actual, (medium, small, experiment)
        assert (len(emptied) > 0) == (medium == 1000), "the sample's earlier sizes emptied classes; its sizes do not"
