"""Quantization: float models (standardized LR, ReLU MLP, boosted trees) to fixed-point models.

Scales are powers of two chosen per layer so that the largest weight has ``weight_bits`` bits:
larger integers cost the EVM nothing extra (every word operation is 256-bit), so precision is
spent freely. Standardization is folded into the first layer, the input scale into the weights,
and the threshold is rounded up (``score >= ceil(t * scale)`` holds exactly when
``score / scale >= t``). Tree thresholds are exact: for ``x_int = x * s``,
``x <= t  <=>  x_int <= floor(t * s)``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from fractions import Fraction
from typing import Any

import numpy as np

from chainml.errors import InvalidInputError
from chainml.inference.fixedpoint import (
    DenseLayer,
    InputSpec,
    LinearModel,
    MLPModel,
    TreeEnsembleModel,
    TreeNode,
)

DEFAULT_WEIGHT_BITS = 48
MAX_EXPONENT = 224  # a clamp against negligible parameters; int256 overflow is checked apart
INPUT_BITS = 64  # inputs accepted by default: [-2**64, 2**64 - 1]; amounts in wei still fit


def default_inputs(names: Sequence[str], scale: int = 1) -> tuple[InputSpec, ...]:
    """Every feature at ``scale``, accepted in ``[-2**INPUT_BITS, 2**INPUT_BITS - 1]``."""
    return tuple(InputSpec(n, scale, -(2**INPUT_BITS), 2**INPUT_BITS - 1) for n in names)


def _exponent(values: Sequence[Fraction], weight_bits: int) -> int:
    """The power of two that gives the largest |value| about ``weight_bits`` bits.

    Clamped to [0, MAX_EXPONENT], so negligible parameters cannot blow up the scale.
    """
    largest = max((abs(v) for v in values), default=Fraction(0))
    if largest == 0:
        return weight_bits
    return min(MAX_EXPONENT, max(0, weight_bits - math.frexp(float(largest))[1]))


def _exact(value: float) -> Fraction:
    if not math.isfinite(value):
        raise InvalidInputError("model parameters contain NaN or infinity")
    return Fraction(value)


def _round(value: Fraction, exponent: int) -> int:
    return (value * (1 << exponent) + Fraction(1, 2)) // 1  # nearest, halves up, exact


def _threshold(logit: float, exponent: int) -> int:
    return -(-_exact(logit) * (1 << exponent) // 1)  # ceiling, exact


def _fold_standardization(
    weights: Sequence[Sequence[float]],  # [output][input]
    bias: Sequence[float],
    mean: Sequence[float],
    std: Sequence[float],
    inputs: Sequence[InputSpec],
) -> tuple[list[list[Fraction]], list[Fraction]]:
    """Exact weights per integer input unit and biases of ``W @ ((x_int/s - mean)/std) + b``."""
    if not len(mean) == len(std) == len(inputs):
        raise InvalidInputError(f"{len(mean)} means and {len(std)} scales for {len(inputs)} inputs")
    means, stds = [_exact(m) for m in mean], [_exact(s) for s in std]
    if any(s <= 0 for s in stds):
        raise InvalidInputError("standardization scales must be positive")
    folded = [
        [_exact(w) / (sd * spec.scale) for w, sd, spec in zip(row, stds, inputs, strict=True)]
        for row in weights
    ]
    shifted = [
        _exact(b) - sum(_exact(w) * m / sd for w, m, sd in zip(row, means, stds, strict=True))
        for row, b in zip(weights, bias, strict=True)
    ]
    return folded, shifted


def quantize_linear(
    coef: Sequence[float],
    intercept: float,
    mean: Sequence[float],
    std: Sequence[float],
    inputs: Sequence[InputSpec],
    threshold_logit: float,
    weight_bits: int = DEFAULT_WEIGHT_BITS,
) -> LinearModel:
    """A standardized logistic regression as ``bias + sum(w * x_int)`` at scale ``2**F``."""
    [weights], [bias] = _fold_standardization([coef], [intercept], mean, std, inputs)
    exponent = _exponent([*weights, bias], weight_bits)
    return LinearModel(
        inputs=tuple(inputs),
        weights=tuple(_round(w, exponent) for w in weights),
        bias=_round(bias, exponent),
        threshold=_threshold(threshold_logit, exponent),
        score_scale=2**exponent,
    )


def quantize_mlp(
    layers: Sequence[tuple[Sequence[Sequence[float]], Sequence[float]]],  # ([out][in], bias)
    mean: Sequence[float],
    std: Sequence[float],
    inputs: Sequence[InputSpec],
    threshold_logit: float,
    weight_bits: int = DEFAULT_WEIGHT_BITS,
) -> MLPModel:
    """A ReLU MLP on standardized inputs; each layer's scale multiplies into the next."""
    first_weights, first_bias = _fold_standardization(*layers[0], mean, std, inputs)
    exact_layers = [(first_weights, first_bias)] + [
        ([[_exact(w) for w in row] for row in weights], [_exact(b) for b in bias])
        for weights, bias in layers[1:]
    ]
    total = 0
    quantized = []
    for weights, bias in exact_layers:
        exponent = _exponent([w for row in weights for w in row], weight_bits)
        total += exponent
        quantized.append(
            DenseLayer(
                weights=tuple(tuple(_round(w, exponent) for w in row) for row in weights),
                bias=tuple(_round(b, total) for b in bias),  # biases live at the running scale
            )
        )
    return MLPModel(
        inputs=tuple(inputs),
        layers=tuple(quantized),
        threshold=_threshold(threshold_logit, total),
        score_scale=2**total,
    )


FloatTree = Sequence[tuple[int, float, int, int, float]]  # (feature, threshold, left, right, leaf)


def quantize_trees(
    trees: Sequence[FloatTree],
    bias: float,
    inputs: Sequence[InputSpec],
    threshold_raw: float,
    weight_bits: int = DEFAULT_WEIGHT_BITS,
) -> TreeEnsembleModel:
    """Trees as flat node lists (feature < 0 marks a leaf), split ``x <= threshold`` left."""
    leaves = [_exact(leaf) for tree in trees for (feature, _, _, _, leaf) in tree if feature < 0]
    exponent = _exponent([*leaves, _exact(bias)], weight_bits - len(trees).bit_length())
    quantized = tuple(
        tuple(
            TreeNode(f, math.floor(_exact(t) * inputs[f].scale), left, right)
            if f >= 0
            else TreeNode(-1, 0, 0, 0, _round(_exact(leaf), exponent))
            for (f, t, left, right, leaf) in tree
        )
        for tree in trees
    )
    return TreeEnsembleModel(
        inputs=tuple(inputs),
        trees=quantized,
        bias=_round(_exact(bias), exponent),
        threshold=_threshold(threshold_raw, exponent),
        score_scale=2**exponent,
    )


def lightgbm_trees(dump: Mapping[str, Any]) -> list[list[tuple[int, float, int, int, float]]]:
    """Flat trees from ``Booster.dump_model()``; only numerical ``<=`` splits are supported."""
    if dump.get("num_class", 1) != 1:
        raise InvalidInputError("only binary LightGBM models can be quantized")
    flat_trees = []
    for info in dump["tree_info"]:
        nodes: list[tuple[int, float, int, int, float]] = []

        def visit(node: Mapping[str, Any], nodes: list[tuple[int, float, int, int, float]]) -> int:
            index = len(nodes)
            if "leaf_value" in node:
                nodes.append((-1, 0.0, 0, 0, float(node["leaf_value"])))
                return index
            if node["decision_type"] != "<=" or node.get("missing_type") == "Zero":
                raise InvalidInputError(
                    f"unsupported LightGBM split {node['decision_type']!r} "
                    f"(missing_type {node.get('missing_type')!r}); use numerical features"
                )
            nodes.append((0, 0.0, 0, 0, 0.0))  # placeholder until the children have indices
            left = visit(node["left_child"], nodes)
            right = visit(node["right_child"], nodes)
            nodes[index] = (int(node["split_feature"]), float(node["threshold"]), left, right, 0.0)
            return index

        visit(info["tree_structure"], nodes)
        flat_trees.append(nodes)
    return flat_trees


def sklearn_trees(model: Any) -> tuple[list[list[tuple[int, float, int, int, float]]], float]:
    """Flat trees and the bias of a fitted binary ``GradientBoostingClassifier``.

    Its raw score is ``init + learning_rate * sum(tree leaf values)``; the learning rate is
    folded into the leaves and the initial log-odds becomes the bias.
    """
    estimators = getattr(model, "estimators_", None)
    if estimators is None or estimators.shape[1] != 1:
        raise InvalidInputError("expected a fitted binary GradientBoostingClassifier")
    rate = float(model.learning_rate)
    flat_trees = []
    for estimator in estimators[:, 0]:
        tree = estimator.tree_
        # scikit-learn numbers nodes depth-first, children after their parent, -2 for leaves
        flat_trees.append(
            [
                (
                    int(tree.feature[i]) if tree.children_left[i] >= 0 else -1,
                    float(tree.threshold[i]),
                    int(tree.children_left[i]),
                    int(tree.children_right[i]),
                    rate * float(tree.value[i, 0, 0]),
                )
                for i in range(tree.node_count)
            ]
        )
    width = int(model.n_features_in_)
    bias = float(model._raw_predict_init(np.zeros((1, width)))[0, 0])  # the prior log-odds
    return flat_trees, bias


def float32_split(threshold: float) -> float:
    """The float64 ``t`` with ``x <= t  <=>  float32(x) < float32(threshold)`` for every double x.

    XGBoost casts inputs to float32 and goes left when ``x < threshold``. ``float32(x)`` falls
    below ``threshold`` exactly when ``x`` lies below the midpoint between ``threshold`` and
    the float32 before it, or on it when round-half-to-even picks the lower one; the midpoint
    is an exact double.
    """
    upper = np.float32(threshold)
    lower = np.nextafter(upper, np.float32(-np.inf))
    midpoint = (float(lower) + float(upper)) / 2.0
    if np.float32(midpoint) == lower:
        return midpoint
    return float(np.nextafter(midpoint, -np.inf))


def xgboost_trees(booster: Any) -> tuple[list[list[tuple[int, float, int, int, float]]], float]:
    """Flat trees and the bias (base margin) of a binary ``binary:logistic`` XGBoost booster.

    Only numerical splits are supported; each ``x < t`` split (on float32 inputs) becomes the
    exact ``x <= t'`` of :func:`float32_split`. Leaves carry XGBoost's leaf values (the learning
    rate is already in them); the base score, a probability, becomes the bias as its logit.
    """
    import json

    document = json.loads(bytes(booster.save_raw("json")))
    learner = document["learner"]
    objective = learner["objective"]["name"]
    if objective not in ("binary:logistic", "binary:logitraw"):
        raise InvalidInputError(
            f"only binary:logistic XGBoost models are supported, not {objective}"
        )
    booster_kind = learner["gradient_booster"]["name"]
    if booster_kind != "gbtree":
        raise InvalidInputError(f"only gbtree XGBoost models are supported, not {booster_kind}")
    base_score = float(str(learner["learner_model_param"]["base_score"]).strip("[]"))
    bias = base_score if objective == "binary:logitraw" else math.log(base_score / (1 - base_score))
    flat_trees = []
    for tree in learner["gradient_booster"]["model"]["trees"]:
        left, right = tree["left_children"], tree["right_children"]
        if any(int(t) != 0 for t in tree.get("split_type", [])):
            raise InvalidInputError("categorical XGBoost splits are not supported; use numbers")
        flat_trees.append(
            [
                (-1, 0.0, 0, 0, float(np.float32(value)))
                if left[i] < 0
                else (int(tree["split_indices"][i]), float32_split(value), left[i], right[i], 0.0)
                for i, value in enumerate(tree["split_conditions"])
            ]
        )
    return flat_trees, bias
