"""Scoring: the model serving now, how it turns feature rows into logged decisions, hot swap.

A :class:`ServingModel` wraps a verified :class:`~chainml.models.artifacts.ModelArtifact` and
scores exactly what it logs. It first quantizes each record's features to the model's input
scales (integral features as they are, others as ``round(x * 2**20)``, the on-chain convention
of :mod:`chainml.inference.policy`); a fraction sent for an integral feature is refused with a
:class:`FeatureError` naming it, unless the model's policy declares ``input_rounding:
"nearest"``. Then it decides with the integer model of record (the model's ``policy.json``, the
contract's code): the logged score is the integer score, the label ``score >= THRESHOLD``, so
re-executing the model (or calling its contract) on the logged features reproduces the record.
The float logit and probability in the answer are computed from the same quantized features,
for people.

A model trained through a schema (:mod:`chainml.models.schema`) also takes **raw records**:
the user's own column names and raw values (text for categories, blanks as null).
:meth:`ServingModel.raw_rows` encodes them with the schema in the model's card, then quantizes
as above; the log commits the encoded integer features and, in ``metadata_hash``, the raw
record (:func:`record_hash`). The encoding runs here, off chain: a model's contract takes the
encoded integers. :class:`ModelSlot` holds the current model; swapping it is one reference
assignment, so a request is scored by exactly one model and its decision names that model.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from chainml.errors import InvalidInputError
from chainml.inference.batch import score_rows
from chainml.log.jsonl import metadata_hash as canonical_sha256  # the one canonical JSON hash
from chainml.log.record import ZERO32
from chainml.models.artifacts import ModelArtifact
from chainml.models.importers.encoding import OneHotEncoding
from chainml.models.schema import Schema, SchemaError
from chainml.service.encoding import PreparedRecords

FIXED_SCALE = 2**20  # input scale of real-valued features (the logged score is the integer model's)
_INT64_LIMIT = 2**63 - 1024  # the largest float64 below 2**63: quantized features are int64


class FeatureError(InvalidInputError):
    """A record's features do not fit the serving model; ``field`` locates them."""

    def __init__(self, field: tuple[str | int, ...], detail: str) -> None:
        self.field = field
        self.detail = detail
        super().__init__(f"{'.'.join(map(str, field))}: {detail}")


@dataclass(frozen=True)
class Scored:
    """Decisions on a block of rows, in float and in their logged (integer) form."""

    logits: npt.NDArray[np.float64]  # float logits of the quantized features (for people)
    probabilities: npt.NDArray[np.float64]
    labels: list[int]  # the integer model's decisions: score >= THRESHOLD
    fixed_features: npt.NDArray[np.int64]  # what was scored and is logged
    fixed_scores: list[int]  # the integer model's scores, logged


class ServingModel:
    """A stored model ready to score: feature order, input scales, integer model, threshold."""

    def __init__(self, artifact: ModelArtifact) -> None:
        self.artifact = artifact
        self.model_id = artifact.model_id
        self.model_id_bytes = bytes.fromhex(artifact.model_id[2:])
        self.feature_names = artifact.feature_names
        self.schema: Schema | None = artifact.schema  # raw record -> features (None: numeric)
        encoding = (artifact.card.get("imported") or {}).get("encoding")
        # an imported pipeline's own one-hot encoding: raw columns -> its features
        self.encoding = None if encoding is None else OneHotEncoding.from_document(encoding)
        self.threshold = artifact.threshold  # as a float logit, for people
        words = artifact.card.get("use", {}).get("decisions", {"1": "hold", "0": "pass"})
        self.decision_words = (str(words["0"]), str(words["1"]))  # by label
        policy = artifact.policy
        self.integer_model = policy.model  # the decision of record
        self.threshold_int = policy.threshold
        self._positions = {name: i for i, name in enumerate(self.feature_names)}
        self._scales = np.array([float(spec.scale) for spec in self.integer_model.inputs])
        # integral features refuse fractions unless the model declares rounding
        self._exact = np.array([spec.scale == 1 for spec in self.integer_model.inputs]) & (
            policy.input_rounding == "exact"
        )
        self._low = np.array([float(max(s.low, -_INT64_LIMIT)) for s in self.integer_model.inputs])
        self._high = np.array([float(min(s.high, _INT64_LIMIT)) for s in self.integer_model.inputs])

    def rows(
        self,
        features: Sequence[Sequence[float] | Mapping[str, Any]],
        where: str,
        *,
        part: str = "features",
    ) -> Any:
        """The records' features quantized to the model's inputs, as a float64 matrix.

        Each value is ``x_int / scale`` with ``x_int = round(x * scale)`` (exact doubles): what
        the integer model scores and the log records. FeatureError names a record whose
        features are missing, unknown, of the wrong count, a fraction for an integral feature
        (unless the model rounds) or outside the model's input range.
        """
        width = len(self.feature_names)
        matrix = np.empty((len(features), width), dtype=np.float64)
        for i, item in enumerate(features):
            field = (where, i, part) if where == "records" else (part,)
            if isinstance(item, Mapping):
                missing = [n for n in self.feature_names if n not in item]
                unknown = [n for n in item if n not in self._positions]
                if missing or unknown:
                    raise FeatureError(field, _name_problem(missing, unknown, width))
                values = [item[n] for n in self.feature_names]
                if part == "record" and not all(map(_is_number, values)):  # raw, unvalidated
                    raise FeatureError(field, "this model has no schema: send numbers")
                matrix[i] = values
            else:
                if len(item) != width:
                    raise FeatureError(
                        field,
                        f"the model {self.model_id[:10]}… takes {width} features, got {len(item)}",
                    )
                matrix[i] = item
        return self._quantized(matrix, where, part)

    def raw_rows(self, records: Sequence[Mapping[str, Any]], where: str) -> Any:
        """Raw records (column name -> raw value) encoded by the model's schema, then quantized.

        A model without a schema takes its feature names as columns, with numbers. FeatureError
        names every bad field of the first bad record.
        """
        if self.encoding is not None:
            return self.rows(self._one_hot(records, where), where, part="record")
        if self.schema is None:
            return self.rows(records, where, part="record")
        vectors = []
        for i, raw in enumerate(records):
            try:
                vectors.append(self.schema.encode_record(raw))
            except SchemaError as err:
                field = (where, i, "record") if where == "records" else ("record",)
                problems = "; ".join(f"{name}: {detail}" for name, detail in err.problems.items())
                raise FeatureError(field, problems) from err
        return self.rows(vectors, where, part="record")

    def _one_hot(self, records: Sequence[Mapping[str, Any]], where: str) -> Any:
        """Raw records encoded by an imported pipeline's OneHotEncoder (its columns, by name)."""
        assert self.encoding is not None
        columns = self.encoding.columns
        rows = []
        for i, raw in enumerate(records):
            field = (where, i, "record") if where == "records" else ("record",)
            missing = [name for name in columns if name not in raw]
            unknown = [name for name in raw if name not in columns]
            odd = [name for name in columns if name in raw and not _is_cell(raw[name])]
            if missing or unknown or odd:
                problems = [f"{name}: missing field" for name in missing]
                problems += [
                    f"{name}: unknown field (not a column of the model)" for name in unknown
                ]
                problems += [f"{name}: send a string or a number" for name in odd]
                raise FeatureError(field, "; ".join(problems))
            rows.append([str(raw[name]) for name in columns])
        try:
            return self.encoding.transform(rows)
        except InvalidInputError as err:  # an unknown category, refused by the encoder
            raise FeatureError((where, "record") if where == "records" else ("record",),
                               str(err)) from err  # fmt: skip

    def _quantized(self, matrix: npt.NDArray[np.float64], where: str, part: str) -> Any:
        scaled = matrix * self._scales  # exact: the scales are powers of two
        fixed = np.rint(scaled)
        fraction = (fixed != scaled) & self._exact
        outside = (fixed < self._low) | (fixed > self._high)
        bad = fraction | outside
        if bad.any():
            i, j = (int(v) for v in np.argwhere(bad)[0])
            field = (where, i, part) if where == "records" else (part,)
            name, value = self.feature_names[j], float(matrix[i, j])
            if fraction[i, j]:
                detail = (
                    f"feature {name!r} = {value!r} is not an integer: the model "
                    f"{self.model_id[:10]}… takes it as an integer (scale 1) and does not round"
                )
            else:
                spec = self.integer_model.inputs[j]
                detail = (
                    f"feature {name!r} = {value!r} is outside the model's input range "
                    f"[{max(spec.low, -_INT64_LIMIT) / spec.scale:g}, "
                    f"{min(spec.high, _INT64_LIMIT) / spec.scale:g}]"
                )
            raise FeatureError(field, detail)
        return fixed / self._scales

    def score(self, matrix: npt.NDArray[np.float64]) -> Scored:
        """Score rows (already quantized by :meth:`rows`) with the integer model of record."""
        fixed_features = np.rint(matrix * self._scales).astype(np.int64)
        fixed_scores = score_rows(self.integer_model, fixed_features)
        labels = [int(s >= self.threshold_int) for s in fixed_scores]
        logits = self.artifact.predict_logit(matrix)
        if not np.isfinite(logits).all():
            bad = int(np.flatnonzero(~np.isfinite(logits))[0])
            raise FeatureError(("features",), f"record {bad} drives the model's score to infinity")
        probabilities = 1.0 / (1.0 + np.exp(-np.clip(logits, -700.0, 700.0)))
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
    return canonical_sha256(metadata)


def record_hash(record: Mapping[str, Any], metadata: Mapping[str, Any] | None) -> bytes:
    """The ``metadata_hash`` of a decision on a raw record: what was scored, and the metadata.

    SHA-256 of the canonical JSON (sorted keys, no spaces, UTF-8 without escapes) of
    ``{"metadata": METADATA or null, "record": RECORD}``, with the record's raw values as
    they were sent. In Python: ``hashlib.sha256(json.dumps({"metadata": m, "record": r},
    sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()).digest()``.
    """
    return canonical_sha256({"metadata": metadata, "record": record})


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_cell(value: object) -> bool:
    """A raw value an imported encoder compares as text: a string or a finite number."""
    return isinstance(value, str) or (
        isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    )


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
