"""Partitions cover every training row exactly once, whatever the method."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chainml.errors import InvalidInputError
from chainml.fl.partition import parse_partition, partition


@settings(max_examples=40, deadline=None)
@given(
    rows=st.integers(20, 300),
    participants=st.integers(2, 6),
    method=st.sampled_from(["iid", "dirichlet:0.5", "dirichlet:5", "column:t"]),
    seed=st.integers(0, 10_000),
)
def test_parts_are_disjoint_and_cover_all_rows(
    rows: int, participants: int, method: str, seed: int
) -> None:
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, rows)
    key = rng.normal(size=rows)
    try:
        parts = partition(labels, participants, parse_partition(method), seed=seed, key=key)
    except InvalidInputError:
        assert method.startswith("dirichlet")  # a skewed draw that starves someone
        return
    assert len(parts) == participants
    joined = np.concatenate(parts)
    assert sorted(joined.tolist()) == list(range(rows))
    assert all(len(p) >= 2 for p in parts)


def test_column_partition_gives_contiguous_ranges() -> None:
    key = np.array([5.0, 1.0, 4.0, 2.0, 3.0, 0.0])
    parts = partition(np.zeros(6), 3, parse_partition("column:t"), key=key)
    assert [sorted(key[p].tolist()) for p in parts] == [[0.0, 1.0], [2.0, 3.0], [4.0, 5.0]]


def test_small_alpha_skews_labels() -> None:
    labels = np.repeat([0, 1], 500)
    parts = partition(labels, 5, parse_partition("dirichlet:0.1"), seed=1)
    shares = [labels[p].mean() for p in parts]
    assert max(shares) - min(shares) > 0.5  # iid would keep them near 0.5


@pytest.mark.parametrize("text", ["", "dirichlet", "dirichlet:0", "dirichlet:x", "column:", "x"])
def test_bad_partition_specs_are_refused(text: str) -> None:
    with pytest.raises(InvalidInputError, match="--partition"):
        parse_partition(text)
