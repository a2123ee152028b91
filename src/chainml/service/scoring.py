"""Scoring: the model serving now, how it turns feature rows into logged decisions, hot swap.

A :class:`ServingModel` wraps a verified :class:`~chainml.models.artifacts.ModelArtifact`. It
scores rows in float64 with the model's native evaluator and gives each decision its logged
form: features as fixed-point integers (integral features as they are, others as
``round(x * 2**20)``, the on-chain convention of :mod:`chainml.inference.compile`), the logit
as ``round(logit * 2**20)``, the label ``logit >= threshold``. :class:`ModelSlot` holds the
current model; swapping it is one reference assignment, so a request is scored by exactly one
model and its decision names that model.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from chainml.errors import InvalidInputError
from chainml.log.record import ZERO32
from chainml.models.artifacts import ModelArtifact
from chainml.service.encoding import PreparedRecords

FIXED_SCALE = 2**20  # fixed-point scale of real-valued features and of the logged logit
_INT64_SAFE = 2**62


class FeatureError(InvalidInputError):
    """A record's features do not fit the serving model; ``field`` locates them."""

    def __init__(self, field: tuple[str | int, ...], detail: str) -> None:
        self.field = field
        self.detail = detail
        super().__init__(f"{'.'.join(map(str, field))}: {detail}")


@dataclass(frozen=True)
class Scored:
    """Decisions on a block of rows, in float and in their logged (integer) form."""

    logits: npt.NDArray[np.float64]
    probabilities: npt.NDArray[np.float64]
    labels: list[int]
    fixed_features: npt.NDArray[np.int64]
    fixed_scores: list[int]


class ServingModel:
    """A stored model ready to score: feature order, fixed-point scales, threshold."""

    def __init__(self, artifact: ModelArtifact) -> None:
        self.artifact = artifact
        self.model_id = artifact.model_id
        self.model_id_bytes = bytes.fromhex(artifact.model_id[2:])
        self.feature_names = artifact.feature_names
        self.threshold = artifact.threshold
        self._positions = {name: i for i, name in enumerate(self.feature_names)}
        schema = {f.get("name"): f for f in artifact.card.get("features", [])}
        self._scales = np.array(
            [1.0 if schema.get(n, {}).get("integer") else FIXED_SCALE for n in self.feature_names]
        )

    def rows(self, features: Sequence[Sequence[float] | Mapping[str, float]], where: str) -> Any:
        """A float64 matrix of the given records' features (FeatureError naming the bad one)."""
        width = len(self.feature_names)
        matrix = np.empty((len(features), width), dtype=np.float64)
        for i, item in enumerate(features):
            field = (where, i, "features") if where == "records" else ("features",)
            if isinstance(item, Mapping):
                missing = [n for n in self.feature_names if n not in item]
                unknown = [n for n in item if n not in self._positions]
                if missing or unknown:
                    raise FeatureError(field, _name_problem(missing, unknown, width))
                matrix[i] = [item[n] for n in self.feature_names]
            else:
                if len(item) != width:
                    raise FeatureError(
                        field,
                        f"the model {self.model_id[:10]}… takes {width} features, got {len(item)}",
                    )
                matrix[i] = item
        return matrix

    def score(self, matrix: npt.NDArray[np.float64]) -> Scored:
        """Score rows (already shaped by :meth:`rows`)."""
        logits = self.artifact.predict_logit(matrix)
        if not np.isfinite(logits).all():
            bad = int(np.flatnonzero(~np.isfinite(logits))[0])
            raise FeatureError(("features",), f"record {bad} drives the model's score to infinity")
        probabilities = 1.0 / (1.0 + np.exp(-np.clip(logits, -700.0, 700.0)))
        fixed_features = np.rint(matrix * self._scales).astype(np.int64)
        scaled = np.rint(logits * FIXED_SCALE)
        if np.abs(scaled).max(initial=0.0) < _INT64_SAFE:
            fixed_scores = scaled.astype(np.int64).tolist()
        else:
            fixed_scores = [int(v) for v in scaled]
        labels = (logits >= self.threshold).astype(np.int64).tolist()
        return Scored(logits, probabilities, labels, fixed_features, fixed_scores)

    def prepare(
        self, scored: Scored, request_ids: Sequence[bytes], metadata: Sequence[bytes]
    ) -> PreparedRecords:
        """The records to log for scored rows (the log adds sequence numbers and the time)."""
        return PreparedRecords(
            self.model_id_bytes, scored.fixed_features, scored.fixed_scores, scored.labels,
            request_ids, metadata,
        )  # fmt: skip


def metadata_hash(metadata: Mapping[str, Any] | None) -> bytes:
    """SHA-256 of canonical JSON (sorted keys, no spaces, UTF-8), or zero without metadata."""
    if metadata is None:
        return ZERO32
    canonical = json.dumps(metadata, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).digest()


def _name_problem(missing: list[str], unknown: list[str], width: int) -> str:
    parts = []
    if missing:
        parts.append(f"missing {', '.join(missing[:5])}{' …' if len(missing) > 5 else ''}")
    if unknown:
        parts.append(f"unknown {', '.join(unknown[:5])}{' …' if len(unknown) > 5 else ''}")
    return f"the model takes {width} named features: " + "; ".join(parts)


class ModelSlot:
    """The model serving now (None: no approved model); swapped atomically."""

    def __init__(self, model: ServingModel | None = None) -> None:
        self._model = model
        self._lock = threading.Lock()
        self.swaps = 0

    @property
    def current(self) -> ServingModel | None:
        """The serving model (read once per request)."""
        return self._model

    def swap(self, model: ServingModel | None) -> bool:
        """Serve ``model`` from now on; True when it differs from the current one."""
        with self._lock:
            before = self._model
            if (before and before.model_id) == (model and model.model_id):
                return False
            self._model = model
            self.swaps += 1
            return True
