"""One JSON Lines decision: a line of ``chainml log append`` parsed and checked into a Decision.

A line is one JSON object::

    {"request_id": "order-17",            # required: a non-empty string
     "model_id": "0x…64 hex…",            # required unless a default model is given
     "score": -1234,                      # required: a JSON integer, int256
     "label": 1,                          # required: a JSON integer, uint8
     "features": [12, 0, 3],              # optional: JSON integers, each int256
     "input_commitment": "0x…64 hex…",    # optional: must match the features if both given
     "metadata": {"merchant": "m1"},      # optional: an object, logged as its SHA-256
     "timestamp_ms": 1700000000000}       # optional: uint64, ms since the epoch; else now

Parsing is strict, because a lenient parser logs something other than what was meant:
integers are JSON integers (not ``"12"``, ``12.0`` or ``true``), strings are strings, unknown
fields are refused (a misspelt ``"feature"`` would otherwise be dropped), so are keys given
twice in an object (which of the two would count?), and every value is
range-checked as the record encoding (:mod:`chainml.log.record`) checks it, so a line that
parses here is a line the log can write. Every refusal is an InvalidInputError naming the line
and the field. The JSON itself goes through :func:`chainml.bounded_json.loads` (size, depth,
finite numbers, integers of bounded length, valid Unicode).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from chainml import bounded_json
from chainml.errors import InvalidInputError
from chainml.log.decision_log import Decision
from chainml.log.record import ZERO32, commit_features, hex32, request_id_from

#: The longest line accepted, in bytes (a line of 10,000 int256 features fits).
MAX_LINE_BYTES = 1 << 20
#: Integers longer than this are refused while parsing; shorter ones out of range are refused
#: by the range checks, which name the field. (Python converts 4,300 digits at most.)
MAX_DIGITS = 1000
#: Bounds of the record's ABI types (see the layout in :mod:`chainml.log.record`).
INT256 = (-(2**255), 2**255 - 1)
UINT64 = (0, 2**64 - 1)
UINT8 = (0, 2**8 - 1)
FIELDS = frozenset(
    {
        "request_id",
        "model_id",
        "score",
        "label",
        "features",
        "input_commitment",
        "metadata",
        "timestamp_ms",
    }
)


class LineError(InvalidInputError):
    """Line ``line`` of a JSON Lines file is not a valid decision (``field`` names the culprit)."""

    def __init__(self, line: int, detail: str, field: str | None = None) -> None:
        self.line = line
        self.field = field
        self.detail = detail
        where = f"line {line}" if field is None else f"line {line}, {field}"
        super().__init__(f"{where}: {detail}")


def parse_line(data: bytes | str, number: int, default_model: bytes | None = None) -> Decision:
    """The decision on line ``number`` (``data``, one JSON object); LineError if it is not one.

    ``default_model`` is the model id of lines that give none.
    """
    try:
        item = bounded_json.loads(
            data,
            what="the line",
            max_bytes=MAX_LINE_BYTES,
            max_integer_digits=MAX_DIGITS,
            unique_keys=True,
        )
    except bounded_json.JsonInputError as err:
        raise LineError(number, err.detail) from None
    if not isinstance(item, dict):
        raise LineError(number, f"must be a JSON object, not {_kind(item)}")
    unknown = sorted(set(item) - FIELDS)
    if unknown:
        raise LineError(
            number, f"unknown field {unknown[0]!r} (known: {', '.join(sorted(FIELDS))})"
        )
    try:
        return _decision(item, default_model)
    except _FieldError as err:
        raise LineError(number, err.detail, err.field) from None


class _FieldError(Exception):
    def __init__(self, field: str, detail: str) -> None:
        super().__init__(field, detail)
        self.field = field
        self.detail = detail


def _decision(item: Mapping[str, Any], default_model: bytes | None) -> Decision:
    features = tuple(_features(item))
    commitment = _optional_hex32(item, "input_commitment")
    if commitment is not None and features and commit_features(features) != commitment:
        raise _FieldError("input_commitment", "does not match the features")
    return Decision(
        model_id=_model_id(item, default_model),
        score=_integer(item, "score", INT256),
        label=_integer(item, "label", UINT8),
        request_id=_request_id(item),
        features=features,
        input_commitment=commitment,
        metadata_hash=_metadata_hash(item),
        timestamp_ms=_integer(item, "timestamp_ms", UINT64) if "timestamp_ms" in item else None,
    )


def _integer(item: Mapping[str, Any], name: str, bounds: tuple[int, int]) -> int:
    if name not in item:
        raise _FieldError(name, "is missing")
    return _checked_int(item[name], name, bounds)


def _checked_int(value: Any, name: str, bounds: tuple[int, int]) -> int:
    # bool is an int subclass, and "12" or 12.0 are what a lenient parser would take for 12
    if isinstance(value, bool) or not isinstance(value, int):
        raise _FieldError(name, f"must be a JSON integer, not {_kind(value)}")
    low, high = bounds
    if not low <= value <= high:
        raise _FieldError(name, f"{_short(value)} is outside [{_short(low)}, {_short(high)}]")
    return value


def _features(item: Mapping[str, Any]) -> list[int]:
    features = item.get("features", [])
    if not isinstance(features, list):
        raise _FieldError("features", f"must be a list of JSON integers, not {_kind(features)}")
    return [_checked_int(f, f"features[{i}]", INT256) for i, f in enumerate(features)]


def _request_id(item: Mapping[str, Any]) -> bytes:
    if "request_id" not in item:
        raise _FieldError("request_id", "is missing")
    value = item["request_id"]
    if not isinstance(value, str) or not value:
        raise _FieldError("request_id", f"must be a non-empty string, not {_kind(value)}")
    return request_id_from(value)


def _model_id(item: Mapping[str, Any], default: bytes | None) -> bytes:
    given = _optional_hex32(item, "model_id")
    if given is not None:
        return given
    if default is None:
        raise _FieldError("model_id", "is missing (give it on each line or with --model-id)")
    return default


def _optional_hex32(item: Mapping[str, Any], name: str) -> bytes | None:
    if name not in item:
        return None
    try:
        return hex32(item[name], name)
    except InvalidInputError:
        raise _FieldError(name, "must be 0x followed by 64 hex digits") from None


def _metadata_hash(item: Mapping[str, Any]) -> bytes:
    if "metadata" not in item:
        return ZERO32
    metadata = item["metadata"]
    if not isinstance(metadata, dict):
        raise _FieldError("metadata", f"must be a JSON object, not {_kind(metadata)}")
    return metadata_hash(metadata)


def metadata_hash(metadata: Mapping[str, Any]) -> bytes:
    """SHA-256 of the canonical JSON of ``metadata`` (sorted keys, no spaces, UTF-8)."""
    canonical = json.dumps(metadata, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).digest()


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, str):
        return f"the string {_short(value)!r}"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return f"the number {value!r}"
    return "a list" if isinstance(value, list) else "an object"


def _short(value: int | str) -> str:
    text = str(value)
    return text if len(text) <= 40 else f"{text[:18]}…{text[-18:]} ({len(text)} characters)"
