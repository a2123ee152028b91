import hashlib

import pytest
from eth_abi import encode
from hypothesis import given, settings
from hypothesis import strategies as st

from chainml.errors import InvalidInputError
from chainml.log.merkle import leaf_hash
from chainml.log.record import (
    RECORD_ABI_TYPE,
    DecisionRecord,
    commit_features,
    encode_features,
    request_id_from,
)

int256 = st.integers(min_value=-(2**255), max_value=2**255 - 1)
b32 = st.binary(min_size=32, max_size=32)


@st.composite
def records(draw: st.DrawFn) -> DecisionRecord:
    features = tuple(draw(st.lists(int256, max_size=12)))
    commitment = commit_features(features) if features else draw(b32)
    return DecisionRecord(
        sequence=draw(st.integers(0, 2**64 - 1)),
        timestamp_ms=draw(st.integers(0, 2**64 - 1)),
        model_id=draw(b32),
        input_commitment=commitment,
        score=draw(int256),
        label=draw(st.integers(0, 255)),
        request_id=draw(b32),
        metadata_hash=draw(b32),
        features=features,
    )


def _as_tuple(r: DecisionRecord) -> tuple:
    return (
        r.version,
        r.sequence,
        r.timestamp_ms,
        r.model_id,
        r.input_commitment,
        list(r.features),
        r.score,
        r.label,
        r.request_id,
        r.metadata_hash,
    )


@settings(max_examples=200, deadline=None)
@given(records())
def test_encoding_is_the_abi_encoding_and_round_trips(record: DecisionRecord) -> None:
    data = record.encode()
    assert data == encode([RECORD_ABI_TYPE], [_as_tuple(record)])
    assert DecisionRecord.decode(data) == record
    assert record.leaf_hash == leaf_hash(data) == hashlib.sha256(b"\x00" + data).digest()
    assert DecisionRecord.from_json(record.to_json()) == record


@settings(max_examples=50, deadline=None)
@given(records(), st.data())
def test_any_flipped_bit_changes_the_leaf_or_is_rejected(record: DecisionRecord, data) -> None:
    encoded = bytearray(record.encode())
    position = data.draw(st.integers(0, len(encoded) * 8 - 1))
    encoded[position // 8] ^= 1 << (position % 8)
    try:
        other = DecisionRecord.decode(bytes(encoded))
    except InvalidInputError:
        return  # non-canonical or malformed: refused
    assert other != record and other.leaf_hash != record.leaf_hash


def test_features_commitment() -> None:
    assert encode_features([1, -2]) == encode(["int256[]"], [[1, -2]])
    assert commit_features([]) == hashlib.sha256(encode(["int256[]"], [[]])).digest()


def _valid(**changes: object) -> DecisionRecord:
    fields: dict[str, object] = {
        "sequence": 0,
        "timestamp_ms": 1,
        "model_id": bytes(32),
        "input_commitment": bytes(32),
        "score": -5,
        "label": 1,
        "request_id": b"\x01" * 32,
    }
    return DecisionRecord(**(fields | changes))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"label": 256}, "label"),
        ({"sequence": -1}, "sequence"),
        ({"timestamp_ms": 2**64}, "timestamp_ms"),
        ({"score": 2**255}, "int256"),
        ({"model_id": b"short"}, "model_id"),
        ({"features": (1, 2)}, "does not match"),
        ({"version": 2}, "version"),
    ],
)
def test_invalid_fields(changes: dict, message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        _valid(**changes)


def test_json_errors_name_the_field() -> None:
    document = _valid().to_json()
    del document["score"]
    with pytest.raises(InvalidInputError, match="score"):
        DecisionRecord.from_json(document)
    with pytest.raises(InvalidInputError, match="request_id"):
        DecisionRecord.from_json(_valid().to_json() | {"request_id": "0x1234"})


def test_garbage_is_not_a_record() -> None:
    with pytest.raises(InvalidInputError):
        DecisionRecord.decode(b"\x00" * 40)


def test_request_ids() -> None:
    explicit = "0x" + "ab" * 32
    assert request_id_from(explicit) == b"\xab" * 32
    assert request_id_from("order-17") == hashlib.sha256(b"order-17").digest()
