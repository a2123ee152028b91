"""Decision policies: the integer model of record and a threshold placed between two scores.

A model decides ``score_int >= THRESHOLD`` everywhere: in its contract, in the Python
reference, in the scoring service and in the card's metrics. :func:`decision_policy` builds
that rule at training time:

1. quantize the float parameters (:mod:`chainml.inference.quantize`) and score the validation
   rows with the integer model;
2. let the threshold rule (``f1``, ``fpr:R``, ``recall:R``, ``probability:P``) choose which
   validation rows to flag: a cut between two distinct integer scores, ``below < above``;
3. put ``THRESHOLD`` at their midpoint, so no validation row sits on it;
4. prove the quantization error ``E`` over the declared input box
   (:mod:`chainml.inference.precision`) and require ``margin >= 2E + 1``, where ``margin`` is
   the distance from the threshold to the nearer neighbour: then every validation row's exact
   logit is farther than ``E`` from the threshold, and so is every input the integer model and
   the exact float model could decide differently on. When it does not hold, precision is
   raised (more weight bits; the EVM computes on 256-bit words anyway) and steps 1-4 repeat.

A policy that cannot be proven within int256 is kept with ``proven: false`` and the numbers;
compiling it to a contract is refused (:func:`require_proven`).
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from fractions import Fraction
from typing import Any

import numpy as np
import numpy.typing as npt

from chainml.errors import InvalidInputError
from chainml.inference import precision
from chainml.inference.batch import score_rows
from chainml.inference.fixedpoint import FixedPointModel, InputSpec
from chainml.inference.quantize import (
    DEFAULT_WEIGHT_BITS,
    INPUT_BITS,
    lightgbm_trees,
    quantize_linear,
    quantize_mlp,
    quantize_trees,
    xgboost_trees,
)
from chainml.inference.serial import inputs_document, model_document, model_from_document
from chainml.models import metrics

POLICY_FORMAT = "chainml.policy/1"
POLICY_FILE = "policy.json"
REAL_SCALE = 2**20  # input scale of a feature that is not integral on the training data
MAX_WEIGHT_BITS = 200
ROUNDING = ("exact", "nearest")  # integral features: refuse fractions, or round them


def input_specs(names: Sequence[str], integral: Sequence[bool]) -> tuple[InputSpec, ...]:
    """Scale 1 for features integral on the training data, 2**20 otherwise; +-2**64 ranges."""
    return tuple(
        InputSpec(name, 1 if whole else REAL_SCALE, -(2**INPUT_BITS), 2**INPUT_BITS - 1)
        for name, whole in zip(names, integral, strict=True)
    )


def encode(inputs: Sequence[InputSpec], features: npt.ArrayLike) -> npt.NDArray[np.int64]:
    """Float rows as int64 rows: ``round(x * scale)`` (clipped to the ranges and to int64)."""
    x = np.asarray(features, dtype=np.float64)
    if x.ndim != 2 or x.shape[1] != len(inputs):
        raise InvalidInputError(f"expected rows of {len(inputs)} features, got {x.shape}")
    if not np.isfinite(x).all():
        raise InvalidInputError("features contain NaN or infinity")
    scales = np.array([float(s.scale) for s in inputs])
    low = np.array([float(max(s.low, -(2**63))) for s in inputs])
    high = np.array([float(min(s.high, 2**63 - 1024)) for s in inputs])
    encoded: npt.NDArray[np.int64] = np.clip(np.rint(x * scales), low, high).astype(np.int64)
    return encoded


def quantized_model(
    params: dict[str, Any], booster: Any, inputs: Sequence[InputSpec], weight_bits: int
) -> tuple[FixedPointModel, Fraction]:
    """The integer model of a native parameter document and its proven error E (score units).

    The threshold is left at 0; :func:`decision_policy` places it.
    """
    kind = params["kind"]
    inputs = tuple(inputs)
    if kind == "logistic_regression":
        args = (params["coef"], params["intercept"], params["mean"], params["scale"])
        linear = quantize_linear(*args[:2], *args[2:], inputs, 0.0, weight_bits)
        return linear, precision.linear_error(linear, *args)
    if kind == "mlp":
        if params["activations"][:-1] != ["relu"] * (len(params["layers"]) - 1):
            raise InvalidInputError(f"only ReLU hidden layers compile, got {params['activations']}")
        layers = [
            ([list(column) for column in zip(*layer["weights"], strict=True)], layer["bias"])
            for layer in params["layers"]  # stored [in][out]; the integer model wants [out][in]
        ]
        mlp = quantize_mlp(layers, params["mean"], params["scale"], inputs, 0.0, weight_bits)
        return mlp, precision.mlp_error(mlp, layers, params["mean"], params["scale"], weight_bits)
    if kind == "lightgbm":
        if booster is None:
            raise InvalidInputError("a LightGBM model needs its booster to be quantized")
        trees = lightgbm_trees(booster.dump_model())
        ensemble = quantize_trees(trees, 0.0, inputs, 0.0, weight_bits)
        return ensemble, precision.trees_error(ensemble, trees, 0.0)
    if kind == "xgboost":
        if booster is None:
            raise InvalidInputError("an XGBoost model needs its booster to be quantized")
        trees, bias = xgboost_trees(booster)
        ensemble = quantize_trees(trees, bias, inputs, 0.0, weight_bits)
        return ensemble, precision.trees_error(ensemble, trees, bias)
    raise InvalidInputError(f"no fixed-point form for model kind {kind!r}")


@dataclass(frozen=True)
class DecisionPolicy:
    """The integer model, its threshold between two validation scores, and the proof's numbers."""

    rule: str
    model: FixedPointModel  # its threshold is THRESHOLD
    below: int | None  # the highest validation score not flagged (None: every row flagged)
    above: int | None  # the lowest validation score flagged (None: no row flagged)
    error_bound: int  # E: |score - exact logit * scale| <= E over the declared input box
    weight_bits: int
    input_rounding: str = "exact"

    @property
    def threshold(self) -> int:
        """THRESHOLD: flag when ``score >= threshold``."""
        return self.model.threshold

    @property
    def score_scale(self) -> int:
        """Score / score_scale approximates the float logit."""
        return int(getattr(self.model, "score_scale", 1))

    @property
    def margin(self) -> int:
        """Distance (score units) from the threshold to the nearer validation neighbour."""
        sides = [self.above - self.threshold if self.above is not None else None,
                 self.threshold - self.below if self.below is not None else None]  # fmt: skip
        return min(s for s in sides if s is not None)

    @property
    def proven(self) -> bool:
        """True when ``margin >= 2E + 1``: no validation row within E of the threshold."""
        return self.margin >= 2 * self.error_bound + 1

    @property
    def threshold_logit(self) -> float:
        """The threshold as a float logit (for people; decisions use the integers)."""
        return self.threshold / self.score_scale

    def summary(self) -> dict[str, Any]:
        """The card's record of the policy: threshold, neighbours, margin, error, proof."""
        scale = self.score_scale
        return {
            "rule": self.rule,
            "decision": "flag when score_int >= threshold_int (integer model, policy.json)",
            "threshold_int": self.threshold,
            "score_scale": scale,
            "neighbours": {"below": self.below, "above": self.above},
            "margin_int": self.margin,
            "margin_logit": self.margin / scale,
            "error_bound_int": self.error_bound,
            "error_bound_logit": self.error_bound / scale,
            "proven": self.proven,
            "weight_bits": self.weight_bits,
            "input_scales": sorted({s.scale for s in self.model.inputs}),
            "input_rounding": self.input_rounding,
        }

    def document(self) -> dict[str, Any]:
        """The whole policy, integer model included (``policy.json``)."""
        return {
            "format": POLICY_FORMAT,
            **self.summary(),
            "inputs": inputs_document(self.model.inputs),
            "integer_model": model_document(self.model),
        }

    def to_bytes(self) -> bytes:
        """Canonical bytes of :meth:`document` (sorted keys, no spaces, trailing newline)."""
        text = json.dumps(self.document(), sort_keys=True, separators=(",", ":"))
        return (text + "\n").encode()

    def sha256(self) -> bytes:
        """SHA-256 of :meth:`to_bytes`."""
        return hashlib.sha256(self.to_bytes()).digest()


def _optional_int(value: Any) -> int | None:
    if value is not None and type(value) is not int:
        raise InvalidInputError(f"a neighbour score is {value!r}, not an integer")
    return value


def policy_from_bytes(data: bytes, what: str = POLICY_FILE) -> DecisionPolicy:
    """Parse ``policy.json``; InvalidInputError when it is not a well-formed policy."""
    try:
        document = json.loads(data)
        if not isinstance(document, dict) or document.get("format") != POLICY_FORMAT:
            raise InvalidInputError(f"{what}: not a {POLICY_FORMAT} document")
        model = model_from_document(
            document["integer_model"], document["inputs"], int(document["threshold_int"])
        )
        neighbours = document["neighbours"]
        policy = DecisionPolicy(
            rule=str(document["rule"]),
            model=model,
            below=_optional_int(neighbours["below"]),
            above=_optional_int(neighbours["above"]),
            error_bound=int(document["error_bound_int"]),
            weight_bits=int(document["weight_bits"]),
            input_rounding=str(document["input_rounding"]),
        )
    except (ValueError, KeyError, TypeError) as err:
        raise InvalidInputError(f"{what}: malformed decision policy ({err})") from err
    if policy.to_bytes() != data:
        raise InvalidInputError(f"{what}: not in canonical form (or inconsistent numbers)")
    return policy


def _cut(
    rule: str, labels: npt.ArrayLike, scores: Sequence[int], scale: int
) -> tuple[int | None, int | None]:
    """``(below, above)``: the validation scores on either side of the rule's cut."""
    distinct = sorted(set(scores))
    name, value = metrics.parse_rule(rule)
    if name == "probability":
        assert value is not None
        cut = Fraction(math.log(value / (1.0 - value))) * scale
        above = next((s for s in distinct if s >= cut), None)
    else:
        rank = {s: i for i, s in enumerate(distinct)}
        ranks = np.array([rank[s] for s in scores], dtype=np.float64)  # exact, order-preserving
        chosen = metrics.choose_threshold(rule, labels, ranks)
        above = distinct[int(chosen)] if chosen == int(chosen) else None
    if above is None:
        return distinct[-1], None
    position = distinct.index(above)
    return (distinct[position - 1] if position > 0 else None), above


def _place(below: int | None, above: int | None, error: int) -> int:
    if below is not None and above is not None:
        return (below + above) // 2 + 1  # below < T <= above, as far from both as integers go
    if above is None:
        assert below is not None
        return below + 2 * error + 1
    return above - 2 * error - 1


def decision_policy(
    params: dict[str, Any],
    booster: Any,
    inputs: Sequence[InputSpec],
    rule: str,
    validation_rows: npt.ArrayLike,
    validation_labels: npt.ArrayLike,
    *,
    input_rounding: str = "exact",
    weight_bits: int = DEFAULT_WEIGHT_BITS,
) -> DecisionPolicy:
    """The integer decision policy of a trained model (see the module docstring)."""
    if input_rounding not in ROUNDING:
        raise InvalidInputError(f"input rounding must be one of {', '.join(ROUNDING)}")
    metrics.parse_rule(rule)
    rows = encode(inputs, validation_rows)
    labels = np.asarray(validation_labels)
    policy: DecisionPolicy | None = None
    bits = weight_bits
    while bits <= MAX_WEIGHT_BITS:
        try:
            model, exact_error = quantized_model(params, booster, inputs, bits)
            error = precision.ceil(exact_error)
            scale = int(getattr(model, "score_scale", 1))
            below, above = _cut(rule, labels, score_rows(model, rows), scale)
            placed = replace(model, threshold=_place(below, above, error))  # type: ignore[type-var]
        except InvalidInputError:
            if policy is None:
                raise
            break  # more precision would overflow int256: keep the last policy, unproven
        policy = DecisionPolicy(rule, placed, below, above, error, bits, input_rounding)
        if policy.proven:
            return policy
        gap = (above - below) if above is not None and below is not None else 1
        needed = math.ceil(math.log2((4 * error + 4) / max(gap, 1)))
        bits += max(needed + 1, 8)
    assert policy is not None
    return policy


def require_proven(policy: DecisionPolicy, model_id: str) -> None:
    """Refuse to compile a policy whose margin does not exceed twice the proven error."""
    if not policy.proven:
        scale = policy.score_scale
        raise InvalidInputError(
            f"model {model_id}: the threshold margin {policy.margin / scale:.3g} (logit) is not "
            f"above twice the proven quantization error {policy.error_bound / scale:.3g} (logit) "
            f"over the declared input ranges, even at {policy.weight_bits} weight bits; two "
            "validation scores lie too close to the cut for an integer model to separate them "
            "within int256"
        )
