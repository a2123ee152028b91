"""The decision record: what one logged decision says, as ABI-encoded leaf data and as JSON.

A record is encoded with the Ethereum ABI as one tuple, so a contract can decode it with
``abi_decode`` (and, for compact models, re-execute the decision from its features)::

    (uint8   version,           # 1
     uint64  sequence,          # the record's index in the log
     uint64  timestamp_ms,      # when the decision was made, ms since the Unix epoch
     bytes32 model_id,          # SHA-256 of the model artifact that decided
     bytes32 input_commitment,  # SHA-256 of abi.encode(int256[] features)
     int256[] features,         # the fixed-point features themselves, or empty
     int256  score,             # the model's fixed-point score (a logit)
     uint8   label,             # the decision, e.g. 0 = pass, 1 = hold
     bytes32 request_id,        # the caller's id for the request
     bytes32 metadata_hash)     # SHA-256 of any further metadata, or zero

The leaf hash is RFC 9162's SHA-256(0x00 || encoding). Encoding is canonical: ``decode``
rejects any bytes that ``encode`` would not have produced, so one record has one leaf hash.
"""

from __future__ import annotations

import functools
import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from eth_abi import decode
from eth_abi.exceptions import DecodingError

from chainml.errors import InvalidInputError
from chainml.log.merkle import leaf_hash

RECORD_VERSION = 1
RECORD_ABI_TYPE = "(uint8,uint64,uint64,bytes32,bytes32,int256[],int256,uint8,bytes32,bytes32)"
ZERO32 = bytes(32)
_INT256 = (-(2**255), 2**255 - 1)
_WORD = 32
_HEAD_WORDS = 10


def _word(value: int) -> bytes:
    return value.to_bytes(_WORD, "big", signed=True)


def encode_features(features: Sequence[int]) -> bytes:
    """``abi.encode(int256[] features)``: the canonical encoding of a feature vector."""
    parts = [_word(_WORD), _word(len(features))]
    parts.extend(_word(_check_int256(f, "feature")) for f in features)
    return b"".join(parts)


def commit_features(features: Sequence[int]) -> bytes:
    """The input commitment of a fixed-point feature vector: SHA-256 of its ABI encoding."""
    return _commit(tuple(features))


@functools.lru_cache(maxsize=4096)
def _commit(features: tuple[int, ...]) -> bytes:
    # Cached: building a record computes the commitment, and validating it checks it again.
    return hashlib.sha256(encode_features(features)).digest()


def request_id_from(text: str) -> bytes:
    """A request id as 32 bytes: ``0x`` + 64 hex digits as given, anything else hashed."""
    if text.startswith("0x") and len(text) == 66:
        try:
            return bytes.fromhex(text[2:])
        except ValueError:
            pass
    return hashlib.sha256(text.encode()).digest()


@dataclass(frozen=True)
class DecisionRecord:
    """One decision as logged; validated on construction."""

    sequence: int
    timestamp_ms: int
    model_id: bytes
    input_commitment: bytes
    score: int
    label: int
    request_id: bytes
    metadata_hash: bytes = ZERO32
    features: tuple[int, ...] = field(default=())
    version: int = RECORD_VERSION

    def __post_init__(self) -> None:
        if self.version != RECORD_VERSION:
            raise InvalidInputError(f"unknown decision record version {self.version}")
        for name in ("sequence", "timestamp_ms"):
            value = getattr(self, name)
            if not isinstance(value, int) or not 0 <= value < 2**64:
                raise InvalidInputError(f"{name} must be an integer in [0, 2^64), got {value!r}")
        if not isinstance(self.label, int) or not 0 <= self.label < 256:
            raise InvalidInputError(f"label must be an integer in [0, 256), got {self.label!r}")
        _check_int256(self.score, "score")
        for name in ("model_id", "input_commitment", "request_id", "metadata_hash"):
            value = getattr(self, name)
            if not isinstance(value, bytes) or len(value) != _WORD:
                raise InvalidInputError(f"{name} must be 32 bytes, got {value!r}")
        object.__setattr__(self, "features", tuple(self.features))
        for feature in self.features:
            _check_int256(feature, "feature")
        if self.features and commit_features(self.features) != self.input_commitment:
            raise InvalidInputError("input_commitment does not match the features")

    def encode(self) -> bytes:
        """The ABI encoding: the leaf data of this record in the log."""
        # Hand-rolled for speed (the log appends 100,000s a second); the tests check it
        # byte for byte against eth_abi.encode([RECORD_ABI_TYPE], ...).
        head = [
            _word(_WORD),  # offset of the (dynamic) tuple
            _word(self.version),
            _word(self.sequence),
            _word(self.timestamp_ms),
            self.model_id,
            self.input_commitment,
            _word(_HEAD_WORDS * _WORD),  # offset of features inside the tuple
            _word(self.score),
            _word(self.label),
            self.request_id,
            self.metadata_hash,
            _word(len(self.features)),
        ]
        head.extend(_word(f) for f in self.features)
        return b"".join(head)

    @classmethod
    def decode(cls, data: bytes) -> DecisionRecord:
        """Parse leaf data; anything that is not a canonical record is InvalidInputError."""
        try:
            (values,) = decode([RECORD_ABI_TYPE], data)
        except (DecodingError, OverflowError, ValueError) as err:
            raise InvalidInputError(f"not an ABI-encoded decision record: {err}") from err
        version, sequence, timestamp, model, commitment, features, score, label, rid, meta = values
        record = cls(
            sequence=sequence,
            timestamp_ms=timestamp,
            model_id=model,
            input_commitment=commitment,
            score=score,
            label=label,
            request_id=rid,
            metadata_hash=meta,
            features=tuple(features),
            version=version,
        )
        if record.encode() != data:
            raise InvalidInputError("decision record encoding is not canonical")
        return record

    @property
    def leaf_hash(self) -> bytes:
        """RFC 9162 leaf hash of the encoding."""
        return leaf_hash(self.encode())

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready form for humans; 256-bit integers are decimal strings."""
        return {
            "version": self.version,
            "sequence": self.sequence,
            "timestamp_ms": self.timestamp_ms,
            "model_id": "0x" + self.model_id.hex(),
            "input_commitment": "0x" + self.input_commitment.hex(),
            "features": [str(f) for f in self.features],
            "score": str(self.score),
            "label": self.label,
            "request_id": "0x" + self.request_id.hex(),
            "metadata_hash": "0x" + self.metadata_hash.hex(),
        }

    @classmethod
    def from_json(cls, document: object) -> DecisionRecord:
        """Inverse of :meth:`to_json`, strictly (see :meth:`fields_from_json`)."""
        return cls(**cls.fields_from_json(document))

    @staticmethod
    def fields_from_json(document: object) -> dict[str, Any]:
        """The constructor's arguments from a :meth:`to_json` document, types checked strictly.

        Every field must be present and of the type ``to_json`` writes: JSON integers (not
        strings, floats or booleans) for the small integers, decimal strings without leading
        zeros for the 256-bit ones, ``0x`` + 64 hex digits for hashes; unknown fields are
        refused. Any other shape is an InvalidInputError naming the field. Whether the values
        agree with each other (the commitment, the ranges) is left to the constructor.
        """
        document = exact_fields(document, "record", _JSON_FIELDS)
        features = document["features"]
        if not isinstance(features, list):
            raise InvalidInputError(
                f"record.features must be a list of decimal strings, got {shown(features)}"
            )
        return dict(
            version=_json_int(document["version"], "record.version"),
            sequence=_json_int(document["sequence"], "record.sequence"),
            timestamp_ms=_json_int(document["timestamp_ms"], "record.timestamp_ms"),
            model_id=hex32(document["model_id"], "record.model_id"),
            input_commitment=hex32(document["input_commitment"], "record.input_commitment"),
            features=tuple(_decimal(f, f"record.features[{i}]") for i, f in enumerate(features)),
            score=_decimal(document["score"], "record.score"),
            label=_json_int(document["label"], "record.label"),
            request_id=hex32(document["request_id"], "record.request_id"),
            metadata_hash=hex32(document["metadata_hash"], "record.metadata_hash"),
        )


_JSON_FIELDS = (
    "version",
    "sequence",
    "timestamp_ms",
    "model_id",
    "input_commitment",
    "features",
    "score",
    "label",
    "request_id",
    "metadata_hash",
)
# A decimal integer as to_json writes it: no sign but "-", no leading zeros, no "_" or spaces.
_DECIMAL = re.compile(r"-?(?:0|[1-9][0-9]{0,77})")


def exact_fields(document: object, name: str, expected: tuple[str, ...]) -> Mapping[str, Any]:
    """``document`` as a JSON object with exactly the ``expected`` keys (InvalidInputError)."""
    if not isinstance(document, Mapping):
        raise InvalidInputError(f"{name} must be a JSON object, got {shown(document)}")
    missing = [key for key in expected if key not in document]
    if missing:
        raise InvalidInputError(f"{name} is missing the field(s) {', '.join(missing)}")
    unknown = sorted(str(key) for key in document if key not in expected)
    if unknown:
        raise InvalidInputError(f"{name} has unknown field(s) {', '.join(unknown)}")
    return document


def shown(value: object) -> str:
    """A hostile value, shortened for an error message."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _json_int(value: object, name: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise InvalidInputError(f"{name} must be a JSON integer, got {shown(value)}")
    return value


def _decimal(value: object, name: str) -> int:
    if not isinstance(value, str) or not _DECIMAL.fullmatch(value) or value == "-0":
        raise InvalidInputError(f"{name} must be a decimal integer string, got {shown(value)}")
    return _check_int256(int(value), name)


def hex32(value: object, name: str) -> bytes:
    """Parse ``0x`` + 64 hex digits; anything else is an InvalidInputError naming ``name``."""
    if not isinstance(value, str) or not value.startswith("0x") or len(value) != 66:
        raise InvalidInputError(f"{name} must be 0x followed by 64 hex digits, got {shown(value)}")
    try:
        return bytes.fromhex(value[2:])
    except ValueError:
        raise InvalidInputError(f"{name} is not hexadecimal: {shown(value)}") from None


def _check_int256(value: object, name: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise InvalidInputError(f"{name} must be an integer, got {value!r}")
    if not _INT256[0] <= value <= _INT256[1]:
        raise InvalidInputError(f"{name} {value} does not fit in int256")
    return value
