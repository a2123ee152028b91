"""Fixed-point models: exact integer semantics, overflow refusal, and quantization error."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from chainml.errors import InvalidInputError
from chainml.inference.fixedpoint import (
    INT256_MAX,
    DenseLayer,
    InputSpec,
    LinearModel,
    MLPModel,
    TreeEnsembleModel,
    TreeNode,
)
from chainml.inference.quantize import (
    default_inputs,
    lightgbm_trees,
    quantize_linear,
    quantize_mlp,
    quantize_trees,
    sklearn_trees,
)

SCALE = 2**20  # a power of two: x_int / SCALE is an exact double


def spec(low: int = -1000, high: int = 1000, scale: int = 1) -> InputSpec:
    return InputSpec("f", scale, low, high)


class TestLinear:
    def test_score_is_bias_plus_dot_product(self):
        model = LinearModel((spec(), spec()), weights=(3, -5), bias=7, threshold=0, score_scale=1)
        assert model.score([2, 4]) == 7 + 6 - 20
        assert model.decide([2, 4]) == (-7, False)
        assert model.decide([4, 1]) == (14, True)

    def test_threshold_is_inclusive(self):
        model = LinearModel((spec(),), weights=(1,), bias=0, threshold=10, score_scale=1)
        assert model.decide([10]) == (10, True)
        assert model.decide([9]) == (9, False)

    @pytest.mark.parametrize("bad", [[1], [1, 2, 3], [1, 1001], [-1001, 0], [1.0, 2], [True, 2]])
    def test_bad_inputs_are_refused(self, bad):
        model = LinearModel((spec(), spec()), weights=(1, 1), bias=0, threshold=0, score_scale=1)
        with pytest.raises(InvalidInputError):
            model.score(bad)

    def test_model_that_could_overflow_is_refused(self):
        huge = InputSpec("f", 1, -(2**200), 2**200)
        with pytest.raises(InvalidInputError, match="overflow int256"):
            LinearModel((huge,), weights=(2**60,), bias=0, threshold=0, score_scale=1)

    @given(
        coef=st.lists(st.floats(-50, 50), min_size=1, max_size=8),
        intercept=st.floats(-20, 20),
        data=st.data(),
    )
    def test_quantized_logit_tracks_the_float_logit(self, coef, intercept, data):
        n = len(coef)
        mean = data.draw(st.lists(st.floats(-100, 100), min_size=n, max_size=n))
        std = data.draw(st.lists(st.floats(0.01, 100), min_size=n, max_size=n))
        x_int = data.draw(st.lists(st.integers(-(2**40), 2**40), min_size=n, max_size=n))
        model = quantize_linear(coef, intercept, mean, std, default_inputs(["f"] * n, SCALE), 0.0)
        assert model.max_magnitude() < INT256_MAX
        exact = Fraction(intercept) + sum(
            Fraction(c) * (Fraction(x, SCALE) - Fraction(m)) / Fraction(s)
            for c, x, m, s in zip(coef, x_int, mean, std, strict=True)
        )
        error = abs(Fraction(model.score(x_int), model.score_scale) - exact)
        # each rounded weight or bias is off by at most half a unit of the score scale
        assert error <= Fraction(1 + sum(abs(x) for x in x_int), 2 * model.score_scale)

    @given(t=st.floats(-1e6, 1e6), scale=st.sampled_from([1, 2**10, 10**6]))
    def test_threshold_rounds_up_exactly(self, t, scale):
        model = quantize_linear([1.0], 0.0, [0.0], [1.0], default_inputs(["f"]), t)
        # score >= threshold exactly when score / scale >= t
        for score in (model.threshold - 1, model.threshold):
            assert (score >= model.threshold) == (Fraction(score, model.score_scale) >= Fraction(t))


class TestMLP:
    def test_relu_between_layers_not_after_the_last(self):
        hidden = DenseLayer(weights=((1, 0), (0, -1)), bias=(0, 0))
        out = DenseLayer(weights=((2, 3),), bias=(-1,))
        model = MLPModel((spec(), spec()), (hidden, out), threshold=0, score_scale=1)
        assert model.score([5, 4]) == 2 * 5 + 3 * 0 - 1  # second unit clipped to 0
        negative = MLPModel((spec(),), (DenseLayer(((1,),), (0,)),), threshold=0, score_scale=1)
        assert negative.score([-7]) == -7  # a one-layer "MLP" keeps its sign

    def test_shapes_are_checked(self):
        with pytest.raises(InvalidInputError, match="one output"):
            MLPModel((spec(),), (DenseLayer(((1,), (1,)), (0, 0)),), threshold=0, score_scale=1)
        with pytest.raises(InvalidInputError, match="takes 2 inputs"):
            MLPModel((spec(),), (DenseLayer(((1, 1),), (0,)),), threshold=0, score_scale=1)

    def test_quantized_mlp_matches_float_forward_pass(self):
        rng = np.random.default_rng(7)
        w1, b1 = rng.normal(size=(16, 6)), rng.normal(size=16)
        w2, b2 = rng.normal(size=(1, 16)), rng.normal(size=1)
        mean, std = rng.normal(size=6), rng.uniform(0.5, 2, size=6)
        model = quantize_mlp(
            [(w1.tolist(), b1.tolist()), (w2.tolist(), b2.tolist())],
            mean.tolist(),
            std.tolist(),
            default_inputs([f"f{i}" for i in range(6)], SCALE),
            0.0,
        )
        x = rng.normal(size=(500, 6)) * 3
        x_int = np.round(x * SCALE).astype(np.int64)
        z = (x_int / SCALE - mean) / std
        logits = (np.maximum(z @ w1.T + b1, 0) @ w2.T + b2)[:, 0]
        scores = np.array([model.score(row.tolist()) for row in x_int], dtype=float)
        np.testing.assert_allclose(scores / model.score_scale, logits, atol=1e-9)


class TestTrees:
    def stump(self) -> TreeEnsembleModel:
        tree = (TreeNode(0, 10, 1, 2), TreeNode(-1, 0, 0, 0, -3), TreeNode(-1, 0, 0, 0, 5))
        return TreeEnsembleModel((spec(),), (tree, tree), bias=1, threshold=0, score_scale=1)

    def test_split_is_less_or_equal_left(self):
        model = self.stump()
        assert model.score([10]) == 1 - 3 - 3
        assert model.score([11]) == 1 + 5 + 5

    def test_children_must_follow_their_parent(self):
        loop = (TreeNode(0, 10, 0, 1), TreeNode(-1, 0, 0, 0, 1))
        with pytest.raises(InvalidInputError, match="out of order"):
            TreeEnsembleModel((spec(),), (loop,), bias=0, threshold=0, score_scale=1)

    @given(
        x_int=st.integers(-(2**62), 2**62),
        t=st.floats(-1e12, 1e12),
        scale=st.sampled_from([1, 2**20, 10**6]),
    )
    def test_integer_split_equals_real_split(self, x_int, t, scale):
        # quantize_trees' rule: x <= t  <=>  x_int <= floor(t * s), exactly, for x = x_int / s
        tree = [(0, t, 1, 2, 0.0), (-1, 0.0, 0, 0, -1.0), (-1, 0.0, 0, 0, 1.0)]
        model = quantize_trees([tree], 0.0, default_inputs(["f"], scale), 0.0)
        goes_left = model.score([x_int]) < 0
        assert goes_left == (Fraction(x_int, scale) <= Fraction(t))

    def test_lightgbm_quantized_decisions_agree_with_lightgbm(self):
        lightgbm = pytest.importorskip("lightgbm")
        rng = np.random.default_rng(3)
        x = np.round(rng.normal(size=(4000, 5)) * SCALE) / SCALE  # exact on the input grid
        y = (x[:, 0] + x[:, 1] * x[:, 2] + rng.normal(size=4000) > 1).astype(int)
        booster = lightgbm.train(
            {"objective": "binary", "num_leaves": 8, "verbose": -1, "deterministic": True},
            lightgbm.Dataset(x, y),
            num_boost_round=20,
        )
        trees = lightgbm_trees(booster.dump_model())
        raw = booster.predict(x, raw_score=True)
        distinct = np.unique(raw)  # a threshold between two scores: no float ties at it
        above = int(np.searchsorted(distinct, np.quantile(raw, 0.9)))
        threshold = float((distinct[above - 1] + distinct[above]) / 2)
        model = quantize_trees(trees, 0.0, default_inputs(["f"] * 5, SCALE), threshold)
        x_int = np.round(x * SCALE).astype(np.int64).tolist()
        scores = np.array([model.score(row) for row in x_int], dtype=float)
        np.testing.assert_allclose(scores / model.score_scale, raw, atol=1e-9)
        decisions = np.array([model.decide(row)[1] for row in x_int])
        assert (decisions == (raw >= threshold)).mean() == 1.0
        assert math.isclose(decisions.mean(), 0.1, abs_tol=0.01)


def test_sklearn_gradient_boosting_quantizes_exactly():
    ensemble = pytest.importorskip("sklearn.ensemble")
    rng = np.random.default_rng(5)
    x = np.round(rng.normal(size=(3000, 4)) * SCALE) / SCALE
    y = (x[:, 0] - x[:, 1] ** 2 + rng.normal(size=3000) > 0).astype(int)
    gb = ensemble.GradientBoostingClassifier(n_estimators=30, max_depth=3, random_state=0).fit(x, y)
    trees, bias = sklearn_trees(gb)
    raw = gb.decision_function(x)
    distinct = np.unique(raw)
    middle = int(np.searchsorted(distinct, np.median(raw)))
    threshold = float((distinct[middle - 1] + distinct[middle]) / 2)
    model = quantize_trees(trees, bias, default_inputs(["f"] * 4, SCALE), threshold)
    x_int = np.round(x * SCALE).astype(np.int64).tolist()
    scores = np.array([model.score(row) for row in x_int], dtype=float)
    np.testing.assert_allclose(scores / model.score_scale, raw, atol=1e-9)
    assert all(model.decide(row)[1] == (r >= threshold) for row, r in zip(x_int, raw, strict=True))
