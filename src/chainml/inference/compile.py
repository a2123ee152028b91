"""From a stored model to its fixed-point twin, its contract, and how closely the two agree.

Input encoding: a feature that was integral on the training data (the payments simulator's
features, counts, amounts in cents) is passed as is (scale 1); any other feature is passed as
``round(x * 2**20)``. A power of two keeps ``x_int / scale`` an exact double, so a tree split on
the float model and on the integer model see the same number.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from chainml.errors import InvalidInputError
from chainml.inference.codegen import generate_vyper
from chainml.inference.fixedpoint import FixedPointModel, InputSpec
from chainml.inference.quantize import (
    INPUT_BITS,
    lightgbm_trees,
    quantize_linear,
    quantize_mlp,
    quantize_trees,
)
from chainml.models.artifacts import ModelArtifact
from chainml.models.metrics import average_precision

REAL_SCALE = 2**20


def input_specs(artifact: ModelArtifact) -> tuple[InputSpec, ...]:
    """One spec per feature: scale 1 for integral features, 2**20 otherwise."""
    schema = {f["name"]: f for f in artifact.card.get("features", [])}
    specs = []
    for name in artifact.feature_names:
        scale = 1 if schema.get(name, {}).get("integer", False) else REAL_SCALE
        specs.append(InputSpec(name, scale, -(2**INPUT_BITS), 2**INPUT_BITS - 1))
    return tuple(specs)


def fixed_point_model(
    artifact: ModelArtifact, inputs: Sequence[InputSpec] | None = None
) -> FixedPointModel:
    """The integer model of a stored logistic regression, MLP or LightGBM ensemble."""
    inputs = tuple(inputs) if inputs is not None else input_specs(artifact)
    if len(inputs) != len(artifact.feature_names):
        raise InvalidInputError(
            f"{len(inputs)} input specs for {len(artifact.feature_names)} features"
        )
    params: dict[str, Any] = artifact.params
    threshold = float(artifact.card["threshold"]["logit"])
    if artifact.kind == "logistic_regression":
        return quantize_linear(
            params["coef"], params["intercept"], params["mean"], params["scale"], inputs, threshold
        )
    if artifact.kind == "mlp":
        if params["activations"][:-1] != ["relu"] * (len(params["layers"]) - 1):
            raise InvalidInputError(f"only ReLU hidden layers compile, got {params['activations']}")
        layers = [
            ([list(column) for column in zip(*layer["weights"], strict=True)], layer["bias"])
            for layer in params["layers"]  # stored [in][out]; the integer model wants [out][in]
        ]
        return quantize_mlp(layers, params["mean"], params["scale"], inputs, threshold)
    if artifact.kind == "lightgbm":
        trees = lightgbm_trees(artifact.booster.dump_model())
        return quantize_trees(trees, 0.0, inputs, threshold)
    raise InvalidInputError(f"no fixed-point form for model kind {artifact.kind!r}")


def encode_rows(model: FixedPointModel, features: npt.ArrayLike) -> list[list[int]]:
    """Float feature rows as the integers the contract takes (rounded, clipped to the range)."""
    x = np.asarray(features, dtype=np.float64)
    if x.ndim != 2 or x.shape[1] != model.n_features:
        raise InvalidInputError(f"expected rows of {model.n_features} features, got {x.shape}")
    if not np.isfinite(x).all():
        raise InvalidInputError("features contain NaN or infinity")
    rows = []
    for row in x.tolist():
        encoded = []
        for value, spec in zip(row, model.inputs, strict=True):
            scaled = round(value * spec.scale)
            encoded.append(min(max(scaled, spec.low), spec.high))
        rows.append(encoded)
    return rows


@dataclass(frozen=True)
class Agreement:
    """How the integer model compares with its float twin on some labelled rows."""

    rows: int
    decision_agreement: float  # share of rows with the same decision
    max_score_error: float  # max |score / score_scale - float logit|
    pr_auc_float: float
    pr_auc_fixed: float

    @property
    def pr_auc_loss(self) -> float:
        """How much PR-AUC quantization costs (negative: it gained)."""
        return self.pr_auc_float - self.pr_auc_fixed


def agreement(
    artifact: ModelArtifact,
    model: FixedPointModel,
    features: npt.ArrayLike,
    labels: npt.ArrayLike,
) -> Agreement:
    """Compare decisions, scores and PR-AUC of the integer model and the float model."""
    x = np.asarray(features, dtype=np.float64)
    y = np.asarray(labels)
    logits = artifact.predict_logit(x)
    float_decisions = logits >= float(artifact.card["threshold"]["logit"])
    scale = float(getattr(model, "score_scale", 1))
    scores = np.array([model.score(row) for row in encode_rows(model, x)], dtype=object)
    fixed = np.array([float(s) / scale for s in scores])
    fixed_decisions = np.array([s >= model.threshold for s in scores])
    return Agreement(
        rows=len(y),
        decision_agreement=float(np.mean(fixed_decisions == float_decisions)),
        max_score_error=float(np.max(np.abs(fixed - logits))),
        pr_auc_float=average_precision(y, logits),
        pr_auc_fixed=average_precision(y, fixed),
    )


def contract_source(artifact: ModelArtifact, model: FixedPointModel) -> str:
    """The generated Vyper contract of a stored model."""
    return generate_vyper(model, artifact.model_id, f"{artifact.kind} {artifact.model_id[:10]}")
