"""From a stored model to its integer model of record, its contract, and how it compares.

The integer model is not rebuilt here: it is the one in the model's ``policy.json``
(:mod:`chainml.inference.policy`), which the model id covers. Input encoding: a feature that was
integral on the training data is passed as is (scale 1); any other as ``round(x * 2**20)``. A
power of two keeps ``x_int / scale`` an exact double, so a tree split on the float model and on
the integer model see the same number.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from chainml.errors import InvalidInputError
from chainml.inference.batch import score_rows
from chainml.inference.codegen import generate_vyper
from chainml.inference.fixedpoint import FixedPointModel, InputSpec
from chainml.inference.policy import REAL_SCALE, encode
from chainml.models.artifacts import ModelArtifact
from chainml.models.metrics import average_precision

__all__ = ["REAL_SCALE", "Agreement", "agreement", "contract_source", "encode_rows",
           "fixed_point_model", "input_specs"]  # fmt: skip


def input_specs(artifact: ModelArtifact) -> tuple[InputSpec, ...]:
    """One spec per feature, as the model's decision policy declares them."""
    return artifact.policy.model.inputs


def fixed_point_model(
    artifact: ModelArtifact, inputs: Sequence[InputSpec] | None = None
) -> FixedPointModel:
    """The integer model of record of a stored model (from its ``policy.json``).

    ``inputs``, when given, must be the policy's own: another encoding would be another model.
    """
    model = artifact.policy.model
    if inputs is not None and tuple(inputs) != model.inputs:
        raise InvalidInputError(
            f"model {artifact.model_id[:10]}… declares its own inputs in its decision policy"
        )
    return model


def encode_rows(model: FixedPointModel, features: npt.ArrayLike) -> list[list[int]]:
    """Float feature rows as the integers the contract takes (rounded, clipped to the range)."""
    return encode(model.inputs, features).tolist()  # type: ignore[no-any-return]


@dataclass(frozen=True)
class Agreement:
    """How the integer model compares with its float twin on some labelled rows."""

    rows: int
    decision_agreement: float  # share of rows with the same decision
    max_score_error: float  # max |score / score_scale - float logit|
    pr_auc_float: float
    pr_auc_fixed: float
    near_threshold: int = 0  # rows whose float logit is within the proven error of the threshold
    outside_agreement: float = 1.0  # agreement on the other rows (the proof says 100%)
    disagreements: tuple[int, ...] = ()  # the first few disagreeing row indexes

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
    rows = encode(model.inputs, x)
    # the float model sees the features the integer model sees (x_int / scale)
    logits = artifact.predict_logit(rows / np.array([float(s.scale) for s in model.inputs]))
    scale = int(getattr(model, "score_scale", 1))
    threshold = model.threshold / scale
    float_decisions = logits >= threshold
    scores = score_rows(model, rows)
    fixed = np.array([s / scale for s in scores])
    fixed_decisions = np.array([s >= model.threshold for s in scores])
    error = artifact.policy.error_bound / scale
    near = np.abs(logits - threshold) <= error
    same = fixed_decisions == float_decisions
    outside = same[~near]
    return Agreement(
        rows=len(y),
        decision_agreement=float(np.mean(same)),
        max_score_error=float(np.max(np.abs(fixed - logits))),
        pr_auc_float=average_precision(y, logits),
        pr_auc_fixed=average_precision(y, fixed),
        near_threshold=int(near.sum()),
        outside_agreement=float(np.mean(outside)) if outside.size else 1.0,
        disagreements=tuple(int(i) for i in np.flatnonzero(~same)[:5]),
    )


def contract_source(artifact: ModelArtifact, model: FixedPointModel) -> str:
    """The generated Vyper contract of a stored model."""
    return generate_vyper(model, artifact.model_id, f"{artifact.kind} {artifact.model_id[:10]}")
