"""Decision policies (issue 22): one integer rule, a threshold between scores, a proven margin.

Property tests over random logistic regressions, ReLU MLPs and tree ensembles: the threshold
lies strictly between two validation scores with no validation row within the proven error; the
integer decision equals the exact model's whenever its logit is farther than the proven error
from the threshold, and the float64 model's whenever that holds with float64's own rounding
added; the batch scorer equals the reference; the policy document round-trips exactly.
"""

from __future__ import annotations

import itertools
from fractions import Fraction
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chainml.errors import InvalidInputError
from chainml.inference.batch import score_rows
from chainml.inference.fixedpoint import InputSpec
from chainml.inference.policy import (
    DecisionPolicy,
    decision_policy,
    encode,
    policy_from_bytes,
    require_proven,
)
from chainml.models import native

SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
RULES = st.sampled_from(["f1", "fpr:0.1", "recall:0.5", "probability:0.3"])
FLOAT_ROUNDING = 2.0**-40  # float64 evaluation error allowance, relative to the terms' sum


def _inputs(width: int, integral: list[bool], bound: int) -> tuple[InputSpec, ...]:
    return tuple(
        InputSpec(f"f{i}", 1 if whole else 2**20, -bound * (1 if whole else 2**20),
                  bound * (1 if whole else 2**20) - 1)
        for i, whole in enumerate(integral[:width])
    )  # fmt: skip


def _rows(draw: Any, inputs: tuple[InputSpec, ...], n: int) -> np.ndarray:
    """n rows of representable features in a training-sized range (the box is far wider)."""
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    reach = draw(st.sampled_from([3, 1000]))
    cols = [rng.integers(max(-reach * s.scale, s.low), min(reach * s.scale, s.high), size=n)
            / s.scale for s in inputs]  # fmt: skip
    return np.column_stack(cols).astype(np.float64)


def _labels(draw: Any, n: int) -> np.ndarray:
    labels = np.array(draw(st.lists(st.integers(0, 1), min_size=n, max_size=n)), dtype=np.int8)
    labels[0], labels[1] = 0, 1  # both classes
    return labels


@st.composite
def linear_case(draw: Any) -> tuple[dict[str, Any], Any, tuple[InputSpec, ...], np.ndarray]:
    width = draw(st.integers(1, 5))
    integral = draw(st.lists(st.booleans(), min_size=width, max_size=width))
    inputs = _inputs(width, integral, draw(st.sampled_from([2**10, 2**30, 2**64])))
    unit = st.floats(-3, 3, allow_nan=False)
    params = {
        "kind": "logistic_regression",
        "coef": draw(st.lists(unit, min_size=width, max_size=width)),
        "intercept": draw(unit),
        "mean": draw(st.lists(st.floats(-1e3, 1e3), min_size=width, max_size=width)),
        "scale": draw(st.lists(st.floats(0.01, 1e4), min_size=width, max_size=width)),
    }
    return params, None, inputs, _rows(draw, inputs, 40)


@st.composite
def mlp_case(draw: Any) -> tuple[dict[str, Any], Any, tuple[InputSpec, ...], np.ndarray]:
    width, hidden = draw(st.integers(1, 3)), draw(st.integers(1, 4))
    integral = draw(st.lists(st.booleans(), min_size=width, max_size=width))
    inputs = _inputs(width, integral, draw(st.sampled_from([2**8, 2**20])))
    unit = st.floats(-2, 2, allow_nan=False)
    params = {
        "kind": "mlp",
        "mean": draw(st.lists(st.floats(-10, 10), min_size=width, max_size=width)),
        "scale": draw(st.lists(st.floats(0.1, 100), min_size=width, max_size=width)),
        "layers": [
            {
                "weights": [
                    draw(st.lists(unit, min_size=hidden, max_size=hidden)) for _ in range(width)
                ],
                "bias": draw(st.lists(unit, min_size=hidden, max_size=hidden)),
            },
            {"weights": [[draw(unit)] for _ in range(hidden)], "bias": [draw(unit)]},
        ],
        "activations": ["relu", "identity"],
    }
    return params, None, inputs, _rows(draw, inputs, 40)


class _Booster:
    """What ``quantize_trees`` reads of a LightGBM booster: its ``dump_model()``."""

    def __init__(self, trees: list[dict[str, Any]]) -> None:
        self.trees = trees

    def dump_model(self) -> dict[str, Any]:
        return {"num_class": 1, "tree_info": [{"tree_structure": t} for t in self.trees]}


@st.composite
def tree_case(draw: Any) -> tuple[dict[str, Any], Any, tuple[InputSpec, ...], np.ndarray]:
    width = draw(st.integers(1, 3))
    integral = draw(st.lists(st.booleans(), min_size=width, max_size=width))
    inputs = _inputs(width, integral, 2**12)

    def grow(depth: int) -> dict[str, Any]:
        if depth == 0 or draw(st.booleans()):
            return {"leaf_value": draw(st.floats(-1, 1, allow_nan=False))}
        feature = draw(st.integers(0, width - 1))
        return {
            "split_feature": feature, "decision_type": "<=", "missing_type": "None",
            "threshold": draw(st.floats(-(2**12), 2**12)),
            "left_child": grow(depth - 1), "right_child": grow(depth - 1),
        }  # fmt: skip

    booster = _Booster([grow(3) for _ in range(draw(st.integers(1, 6)))])
    return {"kind": "lightgbm"}, booster, inputs, _rows(draw, inputs, 40)


def _walk(node: dict[str, Any], x: list[Fraction]) -> Fraction:
    while "leaf_value" not in node:
        node = node["left_child" if x[node["split_feature"]] <= Fraction(node["threshold"]) else
                    "right_child"]  # fmt: skip
    return Fraction(node["leaf_value"])


def exact_logit(params: dict[str, Any], booster: Any, x: list[Fraction]) -> Fraction:
    """The float parameters' logit evaluated without rounding (what params.json means)."""
    if params["kind"] == "lightgbm":
        return sum((_walk(t, x) for t in booster.trees), Fraction(0))
    z = [(v - Fraction(m)) / Fraction(s) for v, m, s in zip(x, params["mean"], params["scale"],
                                                              strict=True)]  # fmt: skip
    if params["kind"] == "logistic_regression":
        return Fraction(params["intercept"]) + sum(
            (Fraction(c) * v for c, v in zip(params["coef"], z, strict=True)), Fraction(0)
        )
    h = z
    for layer, activation in zip(params["layers"], params["activations"], strict=True):
        columns = list(zip(*layer["weights"], strict=True))
        h = [Fraction(b) + sum((Fraction(w) * v for w, v in zip(col, h, strict=True)), Fraction(0))
             for col, b in zip(columns, layer["bias"], strict=True)]  # fmt: skip
        if activation == "relu":
            h = [max(v, Fraction(0)) for v in h]
    return h[0]


def float_logit(params: dict[str, Any], booster: Any, row: np.ndarray) -> float:
    if params["kind"] == "lightgbm":
        return float(exact_logit(params, booster, [Fraction(v) for v in row]))  # sums of doubles
    full = {**params, "format": native.FORMAT, "feature_names": [f"f{i}" for i in range(len(row))]}
    evaluate = native.linear_logit if params["kind"] == "logistic_regression" else native.mlp_logit
    return float(evaluate(full, row[None, :])[0])


def _check_policy(case: tuple[dict[str, Any], Any, tuple[InputSpec, ...], np.ndarray],
                  rule: str, labels: np.ndarray) -> None:  # fmt: skip
    params, booster, inputs, validation = case
    try:
        policy = decision_policy(params, booster, inputs, rule, validation, labels)
    except InvalidInputError:
        return  # e.g. a model that overflows int256 even at the starting precision
    model, scale = policy.model, policy.score_scale
    rows = encode(inputs, validation)
    scores = score_rows(model, rows)
    assert scores == [model.score(r) for r in rows.tolist()]  # batch == reference
    assert policy_from_bytes(policy.to_bytes()) == policy  # the stored form is the policy
    if not policy.proven:
        with pytest.raises(InvalidInputError, match="proven quantization error"):
            require_proven(policy, "0x" + "00" * 32)
        return
    # the threshold lies strictly between two distinct validation scores ...
    assert policy.below is None or policy.below < policy.threshold
    assert policy.above is None or policy.threshold <= policy.above
    distinct = sorted(set(scores))
    for low, high in itertools.pairwise(distinct):
        assert not (low < policy.threshold <= high) or (low, high) == (policy.below, policy.above)
    # ... and no validation row's exact logit is within the proven error of it
    threshold = Fraction(policy.threshold, scale)
    error = Fraction(policy.error_bound, scale)
    for row, score in zip(rows.tolist(), scores, strict=True):
        logit = exact_logit(
            params, booster, [Fraction(v, s.scale) for v, s in zip(row, inputs, strict=True)]
        )
        assert abs(logit - threshold) > error
        assert (score >= policy.threshold) == (logit >= threshold)
        assert abs(Fraction(score, scale) - logit) <= error  # the bound holds on these rows
    # every input of the box: integer decision == exact decision outside the proven error, and
    # == the float64 model's decision outside it plus float64's own rounding
    probes = np.vstack([_corners(inputs), validation * 3.0])
    for row in encode(inputs, probes):
        x = [Fraction(int(v), s.scale) for v, s in zip(row, inputs, strict=True)]
        logit = exact_logit(params, booster, x)
        score, flagged = model.decide(row.tolist())
        assert abs(Fraction(score, scale) - logit) <= error
        if abs(logit - threshold) > error:
            assert flagged == (logit >= threshold)
        as_float = float_logit(params, booster, np.array([float(v) for v in x]))
        allowance = float(error) + FLOAT_ROUNDING * (1.0 + abs(float(logit)) + _terms(params, x))
        if abs(as_float - float(threshold)) > allowance:
            assert flagged == (as_float >= float(threshold))


def _terms(params: dict[str, Any], x: list[Fraction]) -> float:
    """A bound of the magnitudes float64 rounds at (inputs times weights, standardized)."""
    if params["kind"] == "lightgbm":
        return 0.0
    return (
        float(sum(abs(v) + abs(Fraction(m)) for v, m in zip(x, params["mean"], strict=True))) * 1e6
    )


def _corners(inputs: tuple[InputSpec, ...]) -> np.ndarray:
    low = [s.low / s.scale for s in inputs]
    high = [s.high / s.scale for s in inputs]
    return np.array([low, high, [0.0] * len(inputs)], dtype=np.float64)


@SETTINGS
@given(case=linear_case(), rule=RULES, data=st.data())
def test_linear_policies_are_exact_outside_the_proven_error(case, rule, data) -> None:
    _check_policy(case, rule, _labels(data.draw, len(case[3])))


@SETTINGS
@given(case=mlp_case(), rule=RULES, data=st.data())
def test_mlp_policies_are_exact_outside_the_proven_error(case, rule, data) -> None:
    _check_policy(case, rule, _labels(data.draw, len(case[3])))


@SETTINGS
@given(case=tree_case(), rule=RULES, data=st.data())
def test_tree_policies_are_exact_outside_the_proven_error(case, rule, data) -> None:
    _check_policy(case, rule, _labels(data.draw, len(case[3])))


def test_a_threshold_on_a_validation_score_is_moved_between_scores() -> None:
    """The issue's failure: an f1 cut used to sit exactly on a validation row's score."""
    inputs = (InputSpec("x", 1, -(2**64), 2**64 - 1),)
    params = {
        "kind": "logistic_regression",
        "coef": [0.3],
        "intercept": 0.0,
        "mean": [0.0],
        "scale": [3.0],
    }  # fmt: skip  (w = 0.1, no exact binary form)
    validation = np.array([[v] for v in (-3.0, -1.0, 2.0, 5.0)])
    policy = decision_policy(params, None, inputs, "f1", validation, np.array([0, 0, 1, 1]))
    assert (policy.below, policy.above) == (
        policy.model.score([-1]),
        policy.model.score([2]),
    )  # the cut between -1 and 2 ...
    assert policy.threshold == (policy.below + policy.above) // 2 + 1  # ... at their midpoint
    assert abs(policy.threshold_logit - 0.05) < 1e-9
    assert policy.proven and policy.margin >= 2 * policy.error_bound + 1
    # the declared box reaches 2**64: the weights got the bits to keep E below the margin
    assert policy.weight_bits > 48


def test_an_unprovable_cut_is_refused_with_the_numbers() -> None:
    inputs = (InputSpec("x", 2**20, -(2**200), 2**200 - 1),)
    params = {"kind": "logistic_regression", "coef": [0.3], "intercept": 0.0, "mean": [0.0],
              "scale": [3.0]}  # fmt: skip
    # two validation rows 2**-20 apart across the cut, inputs up to 2**180: int256 cannot give
    # the weight enough bits to keep the error over that box below half their distance
    validation = np.array([[0.0], [2.0**-20], [1.0], [-1.0]])
    policy = decision_policy(params, None, inputs, "f1", validation, np.array([0, 1, 1, 0]))
    assert isinstance(policy, DecisionPolicy) and not policy.proven
    assert policy.margin < 2 * policy.error_bound + 1
    with pytest.raises(InvalidInputError, match=r"margin .* twice the proven"):
        require_proven(policy, "0x" + "11" * 32)
