"""Scores of many records at once, bit-exact with the model contracts, in int64 where that is exact.

A fixed-point model bounds every intermediate value over its input box
(:meth:`FixedPointModel.max_magnitude`). When that bound is below 2**63, int64 arithmetic on
in-range inputs never wraps, whatever the order of the additions, so numpy's int64 matrix
products and tree walks give exactly the contract's (int256) numbers, tens of times faster than
Python integers. Above the bound the exact object-array scorer
(:func:`chainml.inference.batch.score_rows`) answers. ``tests/inference/optimistic`` checks both
against :meth:`FixedPointModel.score` row by row.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from chainml.inference.batch import score_rows
from chainml.inference.fixedpoint import (
    FixedPointModel,
    LinearModel,
    MLPModel,
    TreeEnsembleModel,
    TreeNode,
)

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


def _clip(value: int) -> int:
    return min(max(value, INT64_MIN), INT64_MAX)


class BatchScorer:
    """One model's exact batch scorer and its input-range check, for int64 feature rows.

    A model's declared input box is usually far wider than its traffic (``+-2**64``), so its
    static bound rarely fits int64; the bound is therefore taken over each batch's actual
    feature magnitudes (the same interval arithmetic as :meth:`FixedPointModel.max_magnitude`),
    and the batch runs in int64 exactly when that bound is below 2**63.
    """

    def __init__(self, model: FixedPointModel) -> None:
        self.model = model
        self.n_features = model.n_features
        self._low = np.array([_clip(s.low) for s in model.inputs], dtype=np.int64)
        self._high = np.array([_clip(s.high) for s in model.inputs], dtype=np.int64)
        self.threshold = model.threshold
        self._dense: list[tuple[tuple[tuple[int, ...], ...], tuple[int, ...]]] = []
        if isinstance(model, LinearModel):
            self._dense = [((tuple(model.weights),), (model.bias,))]
        elif isinstance(model, MLPModel):
            self._dense = [(layer.weights, layer.bias) for layer in model.layers]
        numbers = [v for rows, bias in self._dense for row in rows for v in (*row, *bias)]
        self._layers: list[tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]] = []
        if self._dense and all(INT64_MIN <= v <= INT64_MAX for v in numbers):
            self._layers = [
                (np.array(rows, dtype=np.int64).T.copy(), np.array(bias, dtype=np.int64))
                for rows, bias in self._dense
            ]
        self._trees: list[_TreeArrays] = []
        if isinstance(model, TreeEnsembleModel) and model.max_magnitude() <= INT64_MAX:
            self._trees = [_tree_arrays(tree) for tree in model.trees]

    def batch_bound(self, rows: npt.NDArray[np.int64]) -> int:
        """A bound of every intermediate |value| when scoring ``rows`` (dense models)."""
        low, high = rows.min(axis=0).tolist(), rows.max(axis=0).tolist()
        magnitudes = [max(-a, b) for a, b in zip(low, high, strict=True)]
        worst = 0
        for weights, bias in self._dense:
            bounds = [
                abs(b) + sum(abs(w) * m for w, m in zip(row, magnitudes, strict=True))
                for row, b in zip(weights, bias, strict=True)
            ]
            worst = max(worst, *bounds)
            magnitudes = bounds  # ReLU never increases a magnitude
        return worst

    def in_range(self, rows: npt.NDArray[np.int64]) -> npt.NDArray[np.bool_]:
        """Whether each row's every feature lies inside its declared range."""
        if rows.shape[0] == 0:
            return np.ones(0, dtype=bool)
        inside = (rows >= self._low) & (rows <= self._high)
        return np.asarray(inside.all(axis=1), dtype=bool)

    def scores(self, rows: npt.NDArray[np.int64]) -> npt.NDArray[np.int64] | list[int]:
        """The exact score of every row (each must be in range): int64 array or Python ints."""
        if rows.shape[0] == 0:
            return np.zeros(0, dtype=np.int64)
        if self._layers and self.batch_bound(rows) <= INT64_MAX:
            values = rows
            last = len(self._layers) - 1
            for depth, (weights, bias) in enumerate(self._layers):
                values = values @ weights + bias
                if depth < last:
                    np.maximum(values, 0, out=values)
            result: npt.NDArray[np.int64] = values[:, 0]
            return result
        if self._trees:
            assert isinstance(self.model, TreeEnsembleModel)
            return self._tree_scores(rows, self.model.bias)
        return score_rows(self.model, rows)

    def labels(self, scores: npt.NDArray[np.int64] | list[int]) -> npt.NDArray[np.int64]:
        """``score >= THRESHOLD`` as 0/1 for each score."""
        if isinstance(scores, np.ndarray):
            if self.threshold > INT64_MAX:
                return np.zeros(scores.shape[0], dtype=np.int64)
            return (scores >= max(self.threshold, INT64_MIN)).astype(np.int64)
        return np.array([int(s >= self.threshold) for s in scores], dtype=np.int64)

    def _tree_scores(self, rows: npt.NDArray[np.int64], bias: int) -> npt.NDArray[np.int64]:
        n, width = rows.shape
        flat = np.ascontiguousarray(rows).reshape(-1)
        base = np.arange(n, dtype=np.int64) * width
        total = np.full(n, bias, dtype=np.int64)
        for feature, split, children, values, depth in self._trees:
            index = np.zeros(n, dtype=np.int64)
            for _ in range(depth):  # a leaf's children are itself: extra steps stay put
                x = np.take(flat, base + feature[index])
                index = children[2 * index + (x > split[index])]
            total += values[index]
        return total


#: One tree as arrays: feature and split per node, children (left, right) interleaved, leaf
#: values, and the depth of its deepest leaf.
_TreeArrays = tuple[
    npt.NDArray[np.int64],
    npt.NDArray[np.int64],
    npt.NDArray[np.int64],
    npt.NDArray[np.int64],
    int,
]


def _tree_arrays(nodes: Sequence[TreeNode]) -> _TreeArrays:
    """A tree for the vectorized walk, equal to :meth:`TreeEnsembleModel.leaf` on int64 rows.

    ``x <= t`` with ``t`` beyond int64 is decided once here: above int64 every row goes left,
    below it every row goes right (both children then name that side). A leaf's children are
    the leaf itself, so every row can take the same number of steps.
    """
    feature = np.array([max(n.feature, 0) for n in nodes], dtype=np.int64)
    split = np.array([_clip(n.threshold) for n in nodes], dtype=np.int64)
    children = np.zeros(2 * len(nodes), dtype=np.int64)
    for number, node in enumerate(nodes):
        if node.feature < 0:
            left = right = number
        elif node.threshold < INT64_MIN:
            left = right = node.right
        elif node.threshold > INT64_MAX:
            left = right = node.left
        else:
            left, right = node.left, node.right
        children[2 * number], children[2 * number + 1] = left, right
    values = np.array([n.value if n.feature < 0 else 0 for n in nodes], dtype=np.int64)
    depths = [0] * len(nodes)
    for number, node in enumerate(nodes):  # children come after their parent
        if node.feature >= 0:
            depths[node.left] = depths[node.right] = depths[number] + 1
    return feature, split, children, values, max(depths)
