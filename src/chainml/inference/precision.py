"""Proven quantization error: how far an integer score can be from the exact model's logit.

For every input in the declared box (each integer input within its ``[low, high]``), the
integer score ``s(x)`` and the exact rational logit ``L(x)`` of the float parameters (what
``params.json`` means, evaluated without rounding) satisfy ``|s(x) - L(x) * score_scale| <=
E``. ``E`` is computed here from the actual rounding residual of every weight and bias and the
input magnitudes, by the same interval argument that bounds overflow:

- linear: ``|bias_q - b 2^F| + sum_i |w_q_i - w_i 2^F| * |x_i|max``;
- MLP, layer by layer: ``d_k = sum_i |Wq - W 2^f| A_i + 2^f |W| d_(k-1),i + |bias error|``,
  where ``A`` bounds the previous (quantized) activations and ReLU never increases a distance;
- trees: splits are exact, so ``|bias_q - b 2^F| + sum over trees of the worst leaf residual``.

A decision ``s >= T`` then equals the exact decision ``L >= T / score_scale`` for every input
whose exact logit is farther than ``E / score_scale`` from the threshold.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from fractions import Fraction

from chainml.inference.fixedpoint import LinearModel, MLPModel, TreeEnsembleModel
from chainml.inference.quantize import FloatTree, _exact, _exponent, _fold_standardization


def _residual(quantized: int, exact: Fraction, exponent: int) -> Fraction:
    return abs(quantized - exact * (1 << exponent))


def linear_error(
    model: LinearModel,
    coef: Sequence[float],
    intercept: float,
    mean: Sequence[float],
    std: Sequence[float],
) -> Fraction:
    """E of a quantized standardized logistic regression (score units)."""
    [weights], [bias] = _fold_standardization([coef], [intercept], mean, std, model.inputs)
    exponent = model.score_scale.bit_length() - 1
    error = _residual(model.bias, bias, exponent)
    for quantized, exact, spec in zip(model.weights, weights, model.inputs, strict=True):
        error += _residual(quantized, exact, exponent) * spec.magnitude
    return error


def mlp_error(
    model: MLPModel,
    layers: Sequence[tuple[Sequence[Sequence[float]], Sequence[float]]],  # ([out][in], bias)
    mean: Sequence[float],
    std: Sequence[float],
    weight_bits: int,
) -> Fraction:
    """E of a quantized ReLU MLP (score units); ``weight_bits`` as given to ``quantize_mlp``."""
    first = _fold_standardization(*layers[0], mean, std, model.inputs)
    exact_layers = [first] + [
        ([[_exact(w) for w in row] for row in weights], [_exact(b) for b in bias])
        for weights, bias in layers[1:]
    ]
    magnitudes = [Fraction(s.magnitude) for s in model.inputs]
    distances = [Fraction(0)] * len(magnitudes)
    running = 0
    for (weights, bias), layer in zip(exact_layers, model.layers, strict=True):
        exponent = _exponent([w for row in weights for w in row], weight_bits)
        running += exponent
        next_distances, next_magnitudes = [], []
        for row, b, q_row, q_b in zip(weights, bias, layer.weights, layer.bias, strict=True):
            error = _residual(q_b, b, running)
            size = Fraction(abs(q_b))
            for w, q_w, a, d in zip(row, q_row, magnitudes, distances, strict=True):
                error += _residual(q_w, w, exponent) * a + abs(w) * (1 << exponent) * d
                size += abs(q_w) * a
            next_distances.append(error)
            next_magnitudes.append(size)
        distances, magnitudes = next_distances, next_magnitudes
    return distances[0]


def trees_error(model: TreeEnsembleModel, trees: Sequence[FloatTree], bias: float) -> Fraction:
    """E of a quantized tree ensemble (score units): leaf rounding only."""
    exponent = model.score_scale.bit_length() - 1
    error = _residual(model.bias, _exact(bias), exponent)
    for tree, quantized in zip(trees, model.trees, strict=True):
        error += max(
            (_residual(node.value, _exact(leaf), exponent)
             for (feature, _, _, _, leaf), node in zip(tree, quantized, strict=True)
             if feature < 0),
            default=Fraction(0),
        )  # fmt: skip
    return error


def ceil(value: Fraction) -> int:
    """The smallest integer >= value."""
    return math.ceil(value)
