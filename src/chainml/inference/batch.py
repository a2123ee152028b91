"""Integer scores of many rows at once, equal to :meth:`FixedPointModel.score` row by row.

Validation sweeps and the scoring service score thousands of rows; the per-row reference walks
Python lists. Here linear layers are one numpy matrix product over Python integers (object
arrays: exact, no int64 overflow) and trees are walked for all rows at once with int64 index
arrays. ``tests/inference/test_batch.py`` checks every kind against the reference.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from chainml.errors import InvalidInputError
from chainml.inference.fixedpoint import (
    FixedPointModel,
    LinearModel,
    MLPModel,
    TreeEnsembleModel,
)

_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
SMALL = 16  # up to this many rows, scoring row by row beats building the arrays


def check_rows(model: FixedPointModel, rows: npt.NDArray[np.int64]) -> None:
    """Raise InvalidInputError unless ``rows`` is (n, features) and inside every input range."""
    if rows.ndim != 2 or rows.shape[1] != model.n_features:
        raise InvalidInputError(f"expected rows of {model.n_features} features, got {rows.shape}")
    if rows.size == 0:
        return
    low, high = rows.min(axis=0).tolist(), rows.max(axis=0).tolist()
    for index, spec in enumerate(model.inputs):
        if low[index] < spec.low or high[index] > spec.high:
            raise InvalidInputError(
                f"feature {index} ({spec.name!r}) is outside [{spec.low}, {spec.high}]"
            )


def _dense(values: npt.NDArray[np.object_], weights: Sequence[Sequence[int]], bias: Sequence[int]):  # type: ignore[no-untyped-def]
    matrix = np.array([list(row) for row in weights], dtype=object).T  # [in][out]
    return values @ matrix + np.array(list(bias), dtype=object)


def _tree_leaves(model: TreeEnsembleModel, rows: npt.NDArray[np.int64]) -> list[int]:
    n = rows.shape[0]
    total: npt.NDArray[np.object_] = np.full(n, model.bias, dtype=object)
    positions = np.arange(n)
    for tree in model.trees:
        feature = np.array([max(node.feature, 0) for node in tree], dtype=np.int64)
        is_leaf = np.array([node.feature < 0 for node in tree])
        # int64 rows compare the same with a threshold clipped to int64, except that a
        # threshold below int64 sends every row right
        split = np.array(
            [min(max(node.threshold, _INT64_MIN), _INT64_MAX) for node in tree], dtype=np.int64
        )
        never_left = np.array([node.threshold < _INT64_MIN for node in tree])
        left = np.array([node.left for node in tree], dtype=np.int64)
        right = np.array([node.right for node in tree], dtype=np.int64)
        values = np.array([node.value for node in tree], dtype=object)
        index = np.zeros(n, dtype=np.int64)
        while not is_leaf[index].all():
            go_left = (rows[positions, feature[index]] <= split[index]) & ~never_left[index]
            step = np.where(go_left, left[index], right[index])
            index = np.where(is_leaf[index], index, step)
        total = total + values[index]
    return [int(v) for v in total]


def score_rows(model: FixedPointModel, rows: npt.ArrayLike) -> list[int]:
    """The integer score of every row (int64 inputs, checked against the model's ranges)."""
    matrix = np.asarray(rows)
    if matrix.dtype != np.int64:
        raise InvalidInputError("integer rows must be int64 (encode them first)")
    check_rows(model, matrix)
    if matrix.shape[0] <= SMALL:  # a request or two: the reference itself is faster
        return [model._score(row) for row in matrix.tolist()]
    if isinstance(model, TreeEnsembleModel):
        return _tree_leaves(model, matrix)
    values = matrix.astype(object)
    if isinstance(model, LinearModel):
        return [int(v) for v in _dense(values, [model.weights], [model.bias])[:, 0]]
    if isinstance(model, MLPModel):
        for depth, layer in enumerate(model.layers):
            values = _dense(values, layer.weights, layer.bias)
            if depth < len(model.layers) - 1:
                values = np.where(values > 0, values, 0)
        return [int(v) for v in values[:, 0]]
    return [model.score(row) for row in matrix.tolist()]
