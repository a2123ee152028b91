"""The batch scorer equals the per-row reference on every model kind, at the int64 extremes too."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chainml.errors import InvalidInputError
from chainml.inference.batch import SMALL, score_rows
from chainml.inference.fixedpoint import (
    DenseLayer,
    InputSpec,
    LinearModel,
    MLPModel,
    TreeEnsembleModel,
    TreeNode,
)

INT64 = st.integers(-(2**63), 2**63 - 1)
WIDE = st.integers(-(2**100), 2**100)
SPECS = tuple(InputSpec(f"f{i}", 1, -(2**64), 2**64 - 1) for i in range(3))


@st.composite
def rows(draw: Any) -> np.ndarray:
    n = draw(st.integers(SMALL + 1, SMALL + 20))  # past SMALL: the vectorized path
    edge = st.sampled_from([-(2**63), -1, 0, 1, 2**63 - 1])
    values = [[draw(st.one_of(INT64, edge)) for _ in SPECS] for _ in range(n)]
    return np.array(values, dtype=np.int64)


@st.composite
def trees(draw: Any) -> TreeEnsembleModel:
    def grow(nodes: list[TreeNode], depth: int) -> int:
        index = len(nodes)
        if depth == 0 or draw(st.booleans()):
            nodes.append(TreeNode(-1, 0, 0, 0, draw(WIDE)))
            return index
        nodes.append(TreeNode(-1, 0, 0, 0))  # placeholder until the children have indices
        left, right = grow(nodes, depth - 1), grow(nodes, depth - 1)
        # split points beyond int64 too: the batch path clips them, the reference does not
        split = draw(st.one_of(INT64, st.integers(-(2**70), 2**70)))
        nodes[index] = TreeNode(draw(st.integers(0, 2)), split, left, right)
        return index

    forest = []
    for _ in range(draw(st.integers(1, 5))):
        nodes: list[TreeNode] = []
        grow(nodes, 4)
        forest.append(tuple(nodes))
    return TreeEnsembleModel(SPECS, tuple(forest), draw(WIDE), 0, 1)


@settings(max_examples=40, deadline=None)
@given(model=trees(), matrix=rows())
def test_trees(model: TreeEnsembleModel, matrix: np.ndarray) -> None:
    assert score_rows(model, matrix) == [model.score(r) for r in matrix.tolist()]


@settings(max_examples=40, deadline=None)
@given(weights=st.lists(WIDE, min_size=3, max_size=3), bias=WIDE, matrix=rows())
def test_linear(weights: list[int], bias: int, matrix: np.ndarray) -> None:
    model = LinearModel(SPECS, tuple(weights), bias, 0, 1)
    assert score_rows(model, matrix) == [model.score(r) for r in matrix.tolist()]


@settings(max_examples=40, deadline=None)
@given(
    first=st.lists(
        st.lists(st.integers(-(2**60), 2**60), min_size=3, max_size=3), min_size=1, max_size=4
    ),
    data=st.data(),
    matrix=rows(),
)
def test_mlp(first: list[list[int]], data: Any, matrix: np.ndarray) -> None:
    hidden = len(first)
    layers = (
        DenseLayer(tuple(map(tuple, first)), tuple(data.draw(st.lists(WIDE, min_size=hidden,
                                                                       max_size=hidden)))),
        DenseLayer((tuple(data.draw(st.lists(WIDE, min_size=hidden, max_size=hidden))),),
                   (data.draw(WIDE),)),
    )  # fmt: skip
    model = MLPModel(SPECS, layers, 0, 1)
    assert score_rows(model, matrix) == [model.score(r) for r in matrix.tolist()]


def test_rows_are_checked() -> None:
    model = LinearModel((InputSpec("f", 1, 0, 10),), (1,), 0, 0, 1)
    with pytest.raises(InvalidInputError, match="outside"):
        score_rows(model, np.array([[11]] * 20, dtype=np.int64))
    with pytest.raises(InvalidInputError, match="int64"):
        score_rows(model, np.array([[1.0]] * 20))
    with pytest.raises(InvalidInputError, match="features"):
        score_rows(model, np.zeros((20, 2), dtype=np.int64))
