"""Splits: by time (order, proportions, no leakage, refusals), stratified, random, by group."""

from __future__ import annotations

import numpy as np
import pytest

from chainml.errors import InvalidInputError
from chainml.models.dataset import Dataset
from chainml.models.split import describe, make_split, time_split
from tests.models.synthetic import synthetic_dataset


def test_parts_follow_time_and_do_not_overlap() -> None:
    dataset = synthetic_dataset(rows=1000)
    split = time_split(dataset)
    assert (split.fit.rows, split.validation.rows, split.test.rows) == (720, 80, 200)
    assert split.fit.order is not None and split.validation.order is not None
    assert split.test.order is not None
    # every fit time precedes every validation time, which precedes every test time
    assert split.fit.order.max() < split.validation.order.min()
    assert split.validation.order.max() < split.test.order.min()
    assert np.array_equal(np.sort(split.test.order), np.arange(800, 1000, dtype=np.float64))
    assert split.summary()["test"]["positives"] == split.test.positives
    total = sum(part.positives for part in split.parts().values())
    assert total == dataset.positives


def test_rows_stay_with_their_labels() -> None:
    dataset = synthetic_dataset(rows=1000)
    split = time_split(dataset)
    assert dataset.order is not None and split.test.order is not None
    by_time = {t: i for i, t in enumerate(dataset.order)}
    for row, t in enumerate(split.test.order):
        source = by_time[t]
        assert np.array_equal(split.test.features[row], dataset.features[source])
        assert split.test.labels[row] == dataset.labels[source]


def test_row_order_is_time_without_an_order_key() -> None:
    x = np.arange(20, dtype=np.float64).reshape(10, 2)
    labels = np.array([0, 1] * 5, dtype=np.int8)
    split = time_split(
        Dataset("d", x, labels, ("a", "b")), test_fraction=0.2, validation_fraction=0.25
    )
    assert split.test.features[:, 0].tolist() == [16.0, 18.0]
    assert split.validation.features[:, 0].tolist() == [12.0, 14.0]


def test_equal_times_keep_file_order() -> None:
    x = np.arange(10, dtype=np.float64)[:, None]
    labels = np.array([0, 1] * 5, dtype=np.int8)
    order = np.zeros(10)
    split = time_split(Dataset("d", x, labels, ("a",), order=order), validation_fraction=0.25)
    assert split.test.features[:, 0].tolist() == [8.0, 9.0]


@pytest.mark.parametrize("part", ["test", "validation", "fit"])
def test_a_part_with_one_class_is_refused_by_name(part: str) -> None:
    labels = np.zeros(100, dtype=np.int8)
    keep = {"fit": [75, 95], "validation": [10, 95], "test": [10, 75]}[part]
    labels[keep] = 1
    dataset = Dataset("d", np.zeros((100, 1)), labels, ("a",))
    with pytest.raises(InvalidInputError, match=f"the {part} part .* holds only class 0"):
        time_split(dataset)


def test_too_few_rows_and_bad_fractions_are_refused() -> None:
    dataset = Dataset("d", np.zeros((3, 1)), np.array([0, 1, 0], dtype=np.int8), ("a",))
    with pytest.raises(InvalidInputError, match="empty"):
        time_split(dataset)
    with pytest.raises(InvalidInputError, match="test_fraction"):
        time_split(synthetic_dataset(rows=100), test_fraction=1.0)


def _sorted_by_class(rows: int = 500) -> Dataset:
    """Row i is its own feature; labels sorted (all 0s, then 1s); 50 groups (row % 50)."""
    labels = (np.arange(rows) >= rows * 0.8).astype(np.int8)
    return Dataset("sorted", np.arange(rows, dtype=np.float64)[:, None], labels, ("row",),
                   groups=np.arange(rows, dtype=np.int64) % 50)  # fmt: skip


def test_stratified_is_the_default_without_time_and_keeps_class_shares() -> None:
    dataset = _sorted_by_class()
    with pytest.raises(InvalidInputError, match="holds only class 0"):
        time_split(dataset)  # a class-sorted file cannot be split by row order
    split = make_split(dataset, seed=1)
    assert split.method == "stratified" and split.seed == 1
    assert split.summary() == {
        "fit": {"rows": 360, "positives": 72},
        "validation": {"rows": 40, "positives": 8},
        "test": {"rows": 100, "positives": 20},
    }
    rows = [set(part.features[:, 0].tolist()) for part in split.parts().values()]
    assert set().union(*rows) == set(range(500)) and sum(map(len, rows)) == 500  # a partition
    again = make_split(dataset, "stratified", seed=1)
    assert np.array_equal(again.test.features, split.test.features)  # seeded
    assert not np.array_equal(make_split(dataset, seed=2).test.features, split.test.features)
    assert make_split(synthetic_dataset(rows=1000)).method == "time"  # time data: by time


def test_group_and_random_splits() -> None:
    dataset = _sorted_by_class()
    split = make_split(dataset, "group:customer", seed=0)
    groups = [set((part.features[:, 0] % 50).tolist()) for part in split.parts().values()]
    assert not (groups[0] & groups[1] or groups[0] & groups[2] or groups[1] & groups[2])
    assert make_split(dataset, "random", seed=0).test.rows == 100
    for bad in ("group", "random:x", "weekly", "stratified:y"):
        with pytest.raises(InvalidInputError, match="--split"):
            make_split(dataset, bad)
    assert "in time" not in describe("stratified", 0, 0.2) and "in time" in describe("time", 0, 0.2)
