"""Integer models with EVM semantics: the Python reference that generated contracts must match.

A fixed-point model sees features as integers (``x_int = round(x * scale)``, each inside a
declared range that the contract checks), multiplies them by integer weights and adds integer
biases, and decides by comparing the integer score with an integer threshold: no sigmoid, no
division, so the reference is plain Python integer arithmetic. Overflow is impossible by
construction: :meth:`FixedPointModel.max_magnitude` bounds every intermediate value over the
whole input box, and a model whose bound reaches 2**255 is refused, so int256 arithmetic in the
EVM (even unchecked) gives the same numbers as Python's unbounded integers.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass

from chainml.errors import InvalidInputError

INT256_MIN = -(2**255)
INT256_MAX = 2**255 - 1


@dataclass(frozen=True)
class InputSpec:
    """One feature as the contract receives it: ``round(value * scale)`` within ``[low, high]``."""

    name: str
    scale: int
    low: int
    high: int

    def __post_init__(self) -> None:
        if self.scale < 1 or self.low > self.high:
            raise InvalidInputError(
                f"feature {self.name!r}: scale must be >= 1 and low <= high "
                f"(got scale={self.scale}, low={self.low}, high={self.high})"
            )
        if self.low < INT256_MIN or self.high > INT256_MAX:
            raise InvalidInputError(f"feature {self.name!r}: range exceeds int256")

    @property
    def magnitude(self) -> int:
        """The largest absolute value this feature can take."""
        return max(abs(self.low), abs(self.high))


class FixedPointModel(ABC):
    """An integer model over bounded integer inputs, decided against an integer threshold."""

    inputs: tuple[InputSpec, ...]
    threshold: int

    @property
    def n_features(self) -> int:
        """Number of inputs the model (and its contract) takes."""
        return len(self.inputs)

    def check(self, x: Sequence[int]) -> None:
        """Raise InvalidInputError unless ``x`` has the right length and every value is in range."""
        if len(x) != self.n_features:
            raise InvalidInputError(f"expected {self.n_features} features, got {len(x)}")
        for index, (value, spec) in enumerate(zip(x, self.inputs, strict=True)):
            if type(value) is not int:  # bool and floats are no fixed-point input
                raise InvalidInputError(f"feature {index} ({spec.name!r}) is not an integer")
            if not spec.low <= value <= spec.high:
                raise InvalidInputError(
                    f"feature {index} ({spec.name!r}) = {value} is outside "
                    f"[{spec.low}, {spec.high}]"
                )

    def score(self, x: Sequence[int]) -> int:
        """The integer score of ``x``, exactly as the contract computes it."""
        self.check(x)
        return self._score(x)

    def decide(self, x: Sequence[int]) -> tuple[int, bool]:
        """``(score, score >= threshold)``: the contract's ``decide``."""
        value = self.score(x)
        return value, value >= self.threshold

    @abstractmethod
    def _score(self, x: Sequence[int]) -> int: ...

    @abstractmethod
    def max_magnitude(self) -> int:
        """An upper bound of every intermediate value's absolute value over the input box."""

    def assert_no_overflow(self) -> None:
        """Refuse a model whose intermediate values could leave int256."""
        bound = max(self.max_magnitude(), abs(self.threshold))
        if bound > INT256_MAX:
            raise InvalidInputError(
                f"model can overflow int256: intermediate values reach 2**{bound.bit_length()}; "
                "narrow the input ranges or lower the weight precision"
            )


def _dot_bound(bias: int, weights: Sequence[int], magnitudes: Sequence[int]) -> int:
    """Largest |partial sum| of ``bias + sum(w * x)`` when each |x| <= its magnitude."""
    return abs(bias) + sum(abs(w) * m for w, m in zip(weights, magnitudes, strict=True))


@dataclass(frozen=True)
class LinearModel(FixedPointModel):
    """``score = bias + sum(weights[i] * x[i])`` (logistic regression's logit, scaled)."""

    inputs: tuple[InputSpec, ...]
    weights: tuple[int, ...]
    bias: int
    threshold: int
    score_scale: int  # score / score_scale approximates the float logit

    def __post_init__(self) -> None:
        if len(self.weights) != len(self.inputs):
            raise InvalidInputError(f"{len(self.weights)} weights for {len(self.inputs)} inputs")
        self.assert_no_overflow()

    def _score(self, x: Sequence[int]) -> int:
        return self.bias + sum(w * v for w, v in zip(self.weights, x, strict=True))

    def max_magnitude(self) -> int:
        """Bias plus the largest |w * x| of every term."""
        return _dot_bound(self.bias, self.weights, [s.magnitude for s in self.inputs])


@dataclass(frozen=True)
class DenseLayer:
    """``out[j] = bias[j] + sum(weights[j][i] * in[i])``; weights are indexed [output][input]."""

    weights: tuple[tuple[int, ...], ...]
    bias: tuple[int, ...]

    def __post_init__(self) -> None:
        if len(self.weights) != len(self.bias) or len({len(row) for row in self.weights}) > 1:
            raise InvalidInputError("dense layer: one weight row of equal length per output")

    @property
    def n_inputs(self) -> int:
        """Width of the layer's input."""
        return len(self.weights[0])

    def apply(self, values: Sequence[int]) -> list[int]:
        """The layer's integer outputs (no activation)."""
        return [
            b + sum(w * v for w, v in zip(row, values, strict=True))
            for row, b in zip(self.weights, self.bias, strict=True)
        ]


@dataclass(frozen=True)
class MLPModel(FixedPointModel):
    """Dense layers with ReLU between them; the last layer has one output, the score.

    No rescaling between layers: each layer's scale multiplies into the next, which int256
    has room for (checked by :meth:`max_magnitude`), so there is no division to round.
    """

    inputs: tuple[InputSpec, ...]
    layers: tuple[DenseLayer, ...]
    threshold: int
    score_scale: int

    def __post_init__(self) -> None:
        widths = [len(self.inputs)] + [len(layer.bias) for layer in self.layers]
        for layer, width in zip(self.layers, widths, strict=False):
            if layer.n_inputs != width:
                raise InvalidInputError(f"layer takes {layer.n_inputs} inputs, gets {width}")
        if widths[-1] != 1:
            raise InvalidInputError("the last layer must have exactly one output (the score)")
        self.assert_no_overflow()

    def _score(self, x: Sequence[int]) -> int:
        values = list(x)
        for depth, layer in enumerate(self.layers):
            values = layer.apply(values)
            if depth < len(self.layers) - 1:
                values = [max(v, 0) for v in values]
        return values[0]

    def max_magnitude(self) -> int:
        """Interval bound layer by layer (ReLU never increases a magnitude)."""
        magnitudes = [s.magnitude for s in self.inputs]
        worst = 0
        for layer in self.layers:
            bounds = [
                _dot_bound(b, row, magnitudes)
                for row, b in zip(layer.weights, layer.bias, strict=True)
            ]
            worst = max(worst, *bounds)
            magnitudes = bounds  # ReLU never increases a magnitude
        return worst


@dataclass(frozen=True)
class TreeNode:
    """An internal node (``x[feature] <= threshold`` goes left) or, when feature < 0, a leaf."""

    feature: int
    threshold: int
    left: int
    right: int
    value: int = 0


@dataclass(frozen=True)
class TreeEnsembleModel(FixedPointModel):
    """``score = bias + sum of one leaf value per tree``; trees are flat node lists, root first."""

    inputs: tuple[InputSpec, ...]
    trees: tuple[tuple[TreeNode, ...], ...]
    bias: int
    threshold: int
    score_scale: int

    def __post_init__(self) -> None:
        for number, tree in enumerate(self.trees):
            for index, node in enumerate(tree):
                if node.feature >= len(self.inputs):
                    raise InvalidInputError(f"tree {number} splits on an unknown feature")
                # children come after their parent, so every walk ends at a leaf
                if node.feature >= 0 and not index < min(node.left, node.right) <= max(
                    node.left, node.right
                ) < len(tree):
                    raise InvalidInputError(f"tree {number}, node {index}: child out of order")
        self.assert_no_overflow()

    @staticmethod
    def leaf(tree: Sequence[TreeNode], x: Sequence[int]) -> TreeNode:
        """The leaf of ``tree`` that ``x`` falls into."""
        node = tree[0]
        while node.feature >= 0:
            node = tree[node.left if x[node.feature] <= node.threshold else node.right]
        return node

    def _score(self, x: Sequence[int]) -> int:
        return self.bias + sum(self.leaf(tree, x).value for tree in self.trees)

    def max_magnitude(self) -> int:
        """Bias plus the largest |leaf| of every tree."""
        return abs(self.bias) + sum(
            max(abs(node.value) for node in tree if node.feature < 0) for tree in self.trees
        )
