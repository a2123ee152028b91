"""Local training: the hand-written gradients agree with finite differences; SGD learns."""

from __future__ import annotations

import numpy as np
import pytest

from chainml.fl.local import LocalTraining, gradients, logits, train_local
from chainml.fl.params import initial_weights


def _loss(
    kind: str, weights: list[np.ndarray], z: np.ndarray, y: np.ndarray, alpha: float
) -> float:
    s = logits(kind, weights, z)
    data = np.mean(np.logaddexp(0.0, s) - y * s)
    penalty = (
        sum(float(np.sum(w * w)) for w in weights[0::2])
        if kind == "mlp"
        else float(np.sum(weights[0] ** 2))
    )
    return float(data + alpha / 2 * penalty)


@pytest.mark.parametrize("kind", ["lr", "mlp"])
def test_gradients_match_finite_differences(kind: str) -> None:
    rng = np.random.default_rng(3)
    z, y = rng.normal(size=(40, 4)), rng.integers(0, 2, 40).astype(float)
    weights = [w + rng.normal(0, 0.3, w.shape) for w in initial_weights(kind, 4, 5, seed=1)]
    analytic = gradients(kind, weights, z, y, alpha=0.01)
    eps = 1e-6
    for i, array in enumerate(weights):
        for index in np.ndindex(array.shape):
            plus = [w.copy() for w in weights]
            minus = [w.copy() for w in weights]
            plus[i][index] += eps
            minus[i][index] -= eps
            numeric = (_loss(kind, plus, z, y, 0.01) - _loss(kind, minus, z, y, 0.01)) / (2 * eps)
            assert analytic[i][index] == pytest.approx(numeric, abs=1e-6)


@pytest.mark.parametrize("kind", ["lr", "mlp"])
def test_local_training_separates_a_separable_problem(kind: str) -> None:
    rng = np.random.default_rng(0)
    z = rng.normal(size=(200, 3))
    y = (z[:, 0] + 0.5 * z[:, 1] > 0).astype(float)
    weights = train_local(kind, initial_weights(kind, 3, 8, seed=0), z, y,
                          LocalTraining(epochs=20), rng)  # fmt: skip
    assert np.mean((logits(kind, weights, z) >= 0) == (y == 1)) > 0.95
