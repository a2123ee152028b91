"""A federated model's parameters: the arrays Flower ships, their hashes and the chainml model.

The weights are the arrays of the chainml model of the same kind, in the same shapes:
``logistic_regression`` is ``[coef (d,), intercept (1,)]``; ``mlp`` is ``[W1 (d, h), b1 (h,),
W2 (h, 1), b2 (1,)]`` (scikit-learn's ``coefs_``/``intercepts_``). With the federation's
standardization (``mean``, ``scale``) they make the native ``params.json`` document, so the
global model hash of every round is the artifact hash of that round's model
(:func:`model_hash`), and the final round's hash is the stored model's artifact hash.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import numpy as np

from chainml.errors import InvalidInputError
from chainml.models import native
from chainml.models.card import artifact_hash
from chainml.models.dataset import FloatArray

#: Model kinds a federation trains (CLI name -> recorded kind).
KINDS = {"lr": "logistic_regression", "mlp": "mlp"}
UPDATE_DOMAIN = b"chainml.fl.update/1\x00"
Weights = list[FloatArray]


def initial_weights(kind: str, features: int, hidden: int, seed: int) -> Weights:
    """The round-0 model: zeros for logistic regression, Glorot-uniform for the MLP."""
    if kind == "lr":
        return [np.zeros(features), np.zeros(1)]
    if kind == "mlp":
        rng = np.random.default_rng(seed)
        bound_1 = np.sqrt(6.0 / (features + hidden))
        bound_2 = np.sqrt(6.0 / (hidden + 1))
        return [
            rng.uniform(-bound_1, bound_1, (features, hidden)),
            rng.uniform(-bound_1, bound_1, hidden),
            rng.uniform(-bound_2, bound_2, (hidden, 1)),
            rng.uniform(-bound_2, bound_2, 1),
        ]
    raise InvalidInputError(f"unknown federated model kind {kind!r}; known: {', '.join(KINDS)}")


def native_document(
    kind: str, feature_names: tuple[str, ...], mean: FloatArray, scale: FloatArray,
    weights: Weights,
) -> dict[str, Any]:  # fmt: skip
    """The ``params.json`` document of the model these weights make."""
    if kind == "lr":
        coef, intercept = weights
        return native.linear_params(feature_names, mean, scale, coef, float(intercept[0]))
    w1, b1, w2, b2 = weights
    return native.mlp_params(feature_names, mean, scale, [w1, w2], [b1, b2], ["relu", "identity"])


def model_hash(document: dict[str, Any]) -> str:
    """``0x`` + SHA-256 of the ``params.json`` bytes: the artifact hash of that model."""
    return artifact_hash(native.dumps(document))


def update_hash(weights: Weights) -> str:
    """``0x`` + SHA-256 of an update: domain, shapes (JSON), then each array as float64 LE."""
    digest = hashlib.sha256(UPDATE_DOMAIN)
    digest.update(json.dumps([list(w.shape) for w in weights]).encode() + b"\x00")
    for array in weights:
        digest.update(np.ascontiguousarray(array, dtype="<f8").tobytes())
    return "0x" + digest.hexdigest()


def estimator_from(
    kind: str, feature_names: tuple[str, ...], mean: FloatArray, scale: FloatArray,
    weights: Weights, hyperparameters: dict[str, Any] | None = None,
) -> Any:  # fmt: skip
    """The fitted chainml estimator (``LogisticModel`` or ``MLPModel``) with these weights.

    It is the same class the centralized trainer makes, so export, cards, the registry and
    serving treat the federated model like any other.
    """
    from chainml.models.train import make_estimator

    estimator: Any = make_estimator(kind, **(hyperparameters or {}))
    estimator.classes_ = np.array([0, 1])
    estimator.n_features_in_ = len(feature_names)
    estimator.feature_names_ = tuple(feature_names)
    estimator.mean_, estimator.scale_ = np.asarray(mean), np.asarray(scale)
    if kind == "lr":
        estimator.coef_ = np.asarray(weights[0], dtype=np.float64)
        estimator.intercept_ = float(weights[1][0])
        estimator.class_weight_ = "none"
        estimator.n_iter_ = 0
    else:
        estimator.coefs_ = [np.asarray(weights[0]), np.asarray(weights[2])]
        estimator.intercepts_ = [np.asarray(weights[1]), np.asarray(weights[3])]
    return estimator
