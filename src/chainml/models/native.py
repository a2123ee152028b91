"""The native parameter documents (``params.json``) and the one float64 evaluator of each kind.

A trained model's native form is what later stages (fixed-point compilation, audits) start from,
so it is plain JSON whose floats round-trip exactly (Python ``repr``). The formats, version
``chainml.params/1``:

``logistic_regression``::

    {"format", "kind", "feature_names": [d], "mean": [d], "scale": [d],
     "coef": [d], "intercept": float}
    logit = intercept + sum_i coef[i] * (x[i] - mean[i]) / scale[i]

``mlp``::

    {"format", "kind", "feature_names", "mean", "scale",
     "layers": [{"weights": [[in x out]], "bias": [out]}, ...],
     "activations": ["relu", ..., "identity"]}
    h0 = (x - mean) / scale;  h(k+1) = act_k(h(k) @ weights_k + bias_k);  logit = h(last)[0]

``lightgbm`` and ``xgboost``::

    {"format", "kind", "feature_names", "booster_file": "booster.txt",
     "booster_sha256": hex, "num_trees": int, "objective": "binary"}
    logit = raw score = sum of the leaf values of every tree in booster.txt
    (``xgboost``: ``booster_file`` is ``xgboost.json``, XGBoost's JSON model, and the raw
    score is its margin: base score plus the leaf values, ``objective`` ``binary:logistic``)

For all kinds, probability = 1 / (1 + exp(-logit)) and a row is flagged when
``logit >= threshold``. Every evaluator here computes in float64 in the order written above.
"""

from __future__ import annotations

import hashlib
import json
import math
from typing import Any

import numpy as np
import numpy.typing as npt

from chainml.errors import InvalidInputError, VerificationError

FORMAT = "chainml.params/1"
KINDS = ("logistic_regression", "mlp", "lightgbm", "xgboost")
BOOSTER_KINDS = ("lightgbm", "xgboost")  # a model file pinned by params.json
ACTIVATIONS = ("relu", "identity")
BOOSTER_FILE = "booster.txt"
XGBOOST_FILE = "xgboost.json"

FloatArray = npt.NDArray[np.float64]


def _floats(values: npt.ArrayLike) -> list[Any]:
    array = np.asarray(values, dtype=np.float64)
    if not np.isfinite(array).all():
        raise InvalidInputError("model parameters contain NaN or infinity")
    return array.tolist()  # type: ignore[no-any-return]  # Python floats: repr round-trips


def linear_params(
    feature_names: tuple[str, ...], mean: FloatArray, scale: FloatArray, coef: FloatArray,
    intercept: float,
) -> dict[str, Any]:  # fmt: skip
    """The ``params.json`` document of a standardized logistic regression."""
    return {
        "format": FORMAT,
        "kind": "logistic_regression",
        "feature_names": list(feature_names),
        "mean": _floats(mean),
        "scale": _floats(scale),
        "coef": _floats(coef),
        "intercept": float(intercept),
    }


def mlp_params(
    feature_names: tuple[str, ...], mean: FloatArray, scale: FloatArray,
    weights: list[FloatArray], biases: list[FloatArray], activations: list[str],
) -> dict[str, Any]:  # fmt: skip
    """The ``params.json`` document of a standardized multi-layer perceptron."""
    return {
        "format": FORMAT,
        "kind": "mlp",
        "feature_names": list(feature_names),
        "mean": _floats(mean),
        "scale": _floats(scale),
        "layers": [
            {"weights": _floats(w), "bias": _floats(b)}
            for w, b in zip(weights, biases, strict=True)
        ],
        "activations": list(activations),
    }


def lightgbm_params(
    feature_names: tuple[str, ...], booster_text: str, num_trees: int
) -> dict[str, Any]:
    """The ``params.json`` document of a LightGBM booster; it pins ``booster.txt`` by hash."""
    return {
        "format": FORMAT,
        "kind": "lightgbm",
        "feature_names": list(feature_names),
        "booster_file": BOOSTER_FILE,
        "booster_sha256": hashlib.sha256(booster_text.encode()).hexdigest(),
        "num_trees": num_trees,
        "objective": "binary",
    }


def xgboost_params(
    feature_names: tuple[str, ...], model_json: bytes, num_trees: int
) -> dict[str, Any]:
    """The ``params.json`` document of an XGBoost booster; it pins ``xgboost.json`` by hash."""
    return {
        "format": FORMAT,
        "kind": "xgboost",
        "feature_names": list(feature_names),
        "booster_file": XGBOOST_FILE,
        "booster_sha256": hashlib.sha256(model_json).hexdigest(),
        "num_trees": num_trees,
        "objective": "binary:logistic",
    }


def dumps(params: dict[str, Any]) -> bytes:
    """The canonical bytes of a parameter document (sorted keys, no spaces, trailing newline)."""
    return (
        json.dumps(params, sort_keys=True, separators=(",", ":"), allow_nan=False) + "\n"
    ).encode()


def _standardize(params: dict[str, Any], features: npt.ArrayLike) -> FloatArray:
    x = np.asarray(features, dtype=np.float64)
    width = len(params["feature_names"])
    if x.ndim != 2 or x.shape[1] != width:
        raise InvalidInputError(f"the model takes {width} features per row, got shape {x.shape}")
    return np.asarray((x - np.asarray(params["mean"])) / np.asarray(params["scale"]), np.float64)


def linear_logit(params: dict[str, Any], features: npt.ArrayLike) -> FloatArray:
    """Logits of a ``logistic_regression`` document."""
    z = _standardize(params, features)
    return np.asarray(z @ np.asarray(params["coef"]) + params["intercept"], dtype=np.float64)


def mlp_logit(params: dict[str, Any], features: npt.ArrayLike) -> FloatArray:
    """Logits of an ``mlp`` document."""
    h = _standardize(params, features)
    for layer, activation in zip(params["layers"], params["activations"], strict=True):
        h = h @ np.asarray(layer["weights"]) + np.asarray(layer["bias"])
        if activation == "relu":
            h = np.maximum(h, 0.0)
    return np.asarray(h[:, 0], dtype=np.float64)


def check_params(params: dict[str, Any], name: str = "params.json") -> None:
    """Raise :class:`VerificationError` when a document is not a well-formed parameter file."""
    problems = []
    if params.get("format") != FORMAT:
        problems.append(f"format is {params.get('format')!r}, expected {FORMAT!r}")
    if params.get("kind") not in KINDS:
        problems.append(f"unknown kind {params.get('kind')!r}")
    names = params.get("feature_names")
    if not isinstance(names, list) or not names:
        problems.append("feature_names missing")
    elif params.get("kind") in ("logistic_regression", "mlp"):
        width = len(names)
        for key in ("mean", "scale"):
            if len(params.get(key, ())) != width:
                problems.append(f"{key} does not have {width} values")
        if params.get("kind") == "mlp" and any(
            a not in ACTIVATIONS for a in params.get("activations", ["?"])
        ):
            problems.append("unknown activation")
    if problems:
        raise VerificationError(f"{name} is not a valid parameter file: {'; '.join(problems)}")


def lightgbm_booster(booster_text: str) -> Any:
    """A LightGBM booster parsed from its text form (``booster.txt``)."""
    import lightgbm

    return lightgbm.Booster(model_str=booster_text)


def lightgbm_logit(booster: Any, features: npt.ArrayLike) -> FloatArray:
    """Raw scores (logits) of a LightGBM booster: the sum of its trees' leaf values."""
    x = np.asarray(features, dtype=np.float64)
    width = booster.num_feature()
    if x.ndim != 2 or x.shape[1] != width:
        raise InvalidInputError(f"the model takes {width} features per row, got shape {x.shape}")
    scores = booster.predict(x, raw_score=True, num_threads=1)
    return np.asarray(scores, dtype=np.float64)


def xgboost_booster(model_json: bytes) -> Any:
    """An XGBoost booster parsed from its JSON model (``xgboost.json``)."""
    import xgboost

    booster = xgboost.Booster()
    booster.load_model(bytearray(model_json))
    booster.set_param({"nthread": 1})
    return booster


def xgboost_logit(booster: Any, features: npt.ArrayLike) -> FloatArray:
    """Raw scores (margins) of an XGBoost booster; XGBoost computes in float32."""
    import xgboost

    x = np.asarray(features, dtype=np.float64)
    width = booster.num_features()
    if x.ndim != 2 or x.shape[1] != width:
        raise InvalidInputError(f"the model takes {width} features per row, got shape {x.shape}")
    matrix = xgboost.DMatrix(x, feature_names=booster.feature_names, nthread=1)
    scores = booster.predict(matrix, output_margin=True)
    return np.asarray(scores, dtype=np.float64)


def booster_of(kind: str, data: bytes) -> Any:
    """The parsed model file of a ``lightgbm`` or ``xgboost`` document."""
    return lightgbm_booster(data.decode()) if kind == "lightgbm" else xgboost_booster(data)


def booster_logit(kind: str, booster: Any, features: npt.ArrayLike) -> FloatArray:
    """Raw scores of a parsed ``lightgbm`` or ``xgboost`` model file."""
    if kind == "lightgbm":
        return lightgbm_logit(booster, features)
    return xgboost_logit(booster, features)


def sigmoid(logits: npt.ArrayLike) -> FloatArray:
    """Probabilities of logits (exact in the tails)."""
    from scipy.special import expit

    return np.asarray(expit(np.asarray(logits, dtype=np.float64)), dtype=np.float64)


def logit_of(probability: float) -> float:
    """The inverse of the sigmoid."""
    return math.log(probability / (1.0 - probability))
