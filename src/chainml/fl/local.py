"""A participant's local training step: mini-batch gradient descent from the global weights.

``train_local(kind, weights, z, y, ...)`` runs ``epochs`` passes of mini-batch SGD on the
participant's standardized features ``z`` and 0/1 labels ``y``, minimising the mean logistic
loss plus ``alpha / 2 * ||W||^2`` (weights, not biases), and returns the new weights. The
gradients are written out for the two model kinds chainml federates (logistic regression and
one-hidden-layer ReLU MLP), so a participant needs numpy only.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from chainml.fl.params import Weights
from chainml.models.dataset import FloatArray


@dataclass(frozen=True)
class LocalTraining:
    """Hyperparameters of a local round."""

    epochs: int = 5
    learning_rate: float = 0.1
    batch_size: int = 32
    alpha: float = 1e-3  # L2 on the weights


def _sigmoid(x: FloatArray) -> FloatArray:
    return np.asarray(0.5 * (1.0 + np.tanh(0.5 * x)), dtype=np.float64)


def logits(kind: str, weights: Weights, z: FloatArray) -> FloatArray:
    """Logits of class 1 for standardized rows ``z``."""
    if kind == "lr":
        return np.asarray(z @ weights[0] + weights[1][0], dtype=np.float64)
    hidden = np.maximum(z @ weights[0] + weights[1], 0.0)
    return np.asarray((hidden @ weights[2])[:, 0] + weights[3][0], dtype=np.float64)


def gradients(kind: str, weights: Weights, z: FloatArray, y: FloatArray, alpha: float) -> Weights:
    """Gradients of the mean logistic loss + L2 at ``weights`` on one batch."""
    n = z.shape[0]
    if kind == "lr":
        error = _sigmoid(z @ weights[0] + weights[1][0]) - y
        return [z.T @ error / n + alpha * weights[0], np.array([error.mean()])]
    pre = z @ weights[0] + weights[1]
    hidden = np.maximum(pre, 0.0)
    error = (_sigmoid((hidden @ weights[2])[:, 0] + weights[3][0]) - y)[:, None] / n
    back = (error @ weights[2].T) * (pre > 0)
    return [
        z.T @ back + alpha * weights[0],
        back.sum(axis=0),
        hidden.T @ error + alpha * weights[2],
        error.sum(axis=0),
    ]


def train_local(
    kind: str,
    weights: Weights,
    z: FloatArray,
    y: FloatArray,
    config: LocalTraining,
    rng: np.random.Generator,
) -> Weights:
    """``config.epochs`` passes of mini-batch SGD from ``weights``; returns new arrays."""
    current = [np.array(w, dtype=np.float64) for w in weights]
    rows = z.shape[0]
    for _ in range(config.epochs):
        order = rng.permutation(rows)
        for start in range(0, rows, config.batch_size):
            batch = order[start : start + config.batch_size]
            grads = gradients(kind, current, z[batch], y[batch], config.alpha)
            for array, grad in zip(current, grads, strict=True):
                array -= config.learning_rate * grad
    return current
