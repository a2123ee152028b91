"""Tests of chainml.chain.abi, chainml.chain.revert and LogFilter matching."""

from __future__ import annotations

import eth_abi
import pytest
from eth_abi import encode
from eth_utils import keccak, to_checksum_address
from hypothesis import given
from hypothesis import strategies as st

from chainml.chain.abi import Event, Function, canonical_type
from chainml.chain.backend import Log, LogFilter
from chainml.chain.revert import ERROR_SELECTOR, PANIC_SELECTOR, revert_error, revert_reason
from chainml.errors import ContractRevertError, InvalidInputError

ALICE = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
BOB = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"
TOKEN = "0x5FbDB2315678afecb367f032d93F642f64180aa3"


def fn(name: str, inputs: list[str], outputs: list[str], mutability: str = "view") -> Function:
    return Function.from_abi(
        {
            "type": "function",
            "name": name,
            "inputs": [{"name": f"a{i}", "type": t} for i, t in enumerate(inputs)],
            "outputs": [{"name": "", "type": t} for t in outputs],
            "stateMutability": mutability,
        }
    )


TRANSFER_FN = fn("transfer", ["address", "uint256"], ["bool"], "nonpayable")

TRANSFER_EVENT = Event.from_abi(
    {
        "type": "event",
        "name": "Transfer",
        "inputs": [
            {"name": "sender", "type": "address", "indexed": True},
            {"name": "receiver", "type": "address", "indexed": True},
            {"name": "value", "type": "uint256", "indexed": False},
        ],
    }
)


T0_TRANSFER = TRANSFER_EVENT.topic


def make_log(
    topics: tuple[bytes, ...], data: bytes = b"", address: str = TOKEN, block: int = 1
) -> Log:
    return Log(
        address=address,
        topics=topics,
        data=data,
        block_number=block,
        tx_hash=b"\x11" * 32,
        log_index=0,
    )


def address_topic(address: str) -> bytes:
    return b"\x00" * 12 + bytes.fromhex(address[2:])


# ---------------------------------------------------------------------------------------------
# functions


def test_transfer_selector() -> None:
    assert TRANSFER_FN.signature == "transfer(address,uint256)"
    assert TRANSFER_FN.selector.hex() == "a9059cbb"


def test_well_known_selectors() -> None:
    assert fn("balanceOf", ["address"], ["uint256"]).selector.hex() == "70a08231"
    assert fn("totalSupply", [], ["uint256"]).selector.hex() == "18160ddd"


def test_canonical_type_plain() -> None:
    assert canonical_type({"type": "uint256"}) == "uint256"
    assert canonical_type({"type": "bytes32[]"}) == "bytes32[]"


def test_canonical_type_expands_tuples() -> None:
    param = {
        "type": "tuple",
        "components": [
            {"name": "a", "type": "uint256"},
            {
                "name": "b",
                "type": "tuple[]",
                "components": [{"name": "x", "type": "address"}, {"name": "y", "type": "bool"}],
            },
        ],
    }
    assert canonical_type(param) == "(uint256,(address,bool)[])"


def test_canonical_type_tuple_arrays() -> None:
    components = [{"name": "x", "type": "int128"}, {"name": "y", "type": "bytes"}]
    assert canonical_type({"type": "tuple[]", "components": components}) == "(int128,bytes)[]"
    assert canonical_type({"type": "tuple[3]", "components": components}) == "(int128,bytes)[3]"
    assert canonical_type({"type": "tuple[2][]", "components": components}) == "(int128,bytes)[2][]"


def test_function_from_abi_with_tuple_signature_and_selector() -> None:
    item = {
        "type": "function",
        "name": "submit",
        "inputs": [
            {
                "name": "order",
                "type": "tuple",
                "components": [
                    {"name": "maker", "type": "address"},
                    {"name": "amounts", "type": "uint256[]"},
                ],
            }
        ],
        "outputs": [],
        "stateMutability": "nonpayable",
    }
    function = Function.from_abi(item)
    assert function.signature == "submit((address,uint256[]))"
    assert function.selector == bytes(keccak(text="submit((address,uint256[]))"))[:4]
    assert not function.is_read_only


def test_constructor_and_mutability_defaults() -> None:
    constructor = Function.from_abi({"type": "constructor", "inputs": [{"type": "uint256"}]})
    assert constructor.name == "constructor"
    assert constructor.input_types == ("uint256",)
    assert constructor.mutability == "nonpayable"
    assert fn("f", [], [], "view").is_read_only
    assert fn("f", [], [], "pure").is_read_only
    assert not fn("f", [], [], "payable").is_read_only


def test_encode_call_is_selector_plus_arguments() -> None:
    data = TRANSFER_FN.encode_call((BOB, 10**18))
    assert data[:4].hex() == "a9059cbb"
    assert data[4:] == encode(["address", "uint256"], [BOB, 10**18])
    assert len(data) == 4 + 64


@pytest.mark.parametrize("args", [(), (BOB,), (BOB, 1, 2)])
def test_encode_wrong_count_names_the_signature(args: tuple[object, ...]) -> None:
    with pytest.raises(InvalidInputError) as info:
        TRANSFER_FN.encode_arguments(args)
    message = str(info.value)
    assert "transfer(address,uint256)" in message
    assert f"got {len(args)}" in message


@pytest.mark.parametrize(
    "args",
    [
        (BOB, "ten"),
        (BOB, -1),
        (BOB, 2**256),
        ("not an address", 1),
        ("0x1234", 1),
        (BOB, 1.5),
    ],
    ids=["str-for-uint", "negative-uint", "overflow", "bad-address", "short-address", "float"],
)
def test_encode_wrong_type_names_the_signature(args: tuple[object, ...]) -> None:
    with pytest.raises(InvalidInputError, match=r"transfer\(address,uint256\)"):
        TRANSFER_FN.encode_arguments(args)


def test_decode_result_single_value_is_unwrapped() -> None:
    function = fn("count", [], ["uint256"])
    assert function.decode_result(encode(["uint256"], [42])) == 42


def test_decode_result_multiple_values_are_a_tuple() -> None:
    function = fn("info", [], ["uint256", "address", "string"])
    data = encode(["uint256", "address", "string"], [7, BOB.lower(), "hi"])
    assert function.decode_result(data) == (7, BOB, "hi")


def test_decode_result_without_outputs_is_none() -> None:
    function = fn("reset", [], [], "nonpayable")
    assert function.decode_result(b"") is None
    assert function.decode_result(encode(["uint256"], [1])) is None


def test_decode_result_normalizes_nested_values() -> None:
    function = fn("pair", [], ["address[]", "(uint256,address)"])
    data = encode(["address[]", "(uint256,address)"], [[ALICE.lower(), BOB.lower()], (3, BOB)])
    assert function.decode_result(data) == ((ALICE, BOB), (3, BOB))


@pytest.mark.parametrize("data", [b"", b"\x00" * 31, b"\x01"])
def test_decode_result_bad_data_names_the_signature(data: bytes) -> None:
    function = fn("count", [], ["uint256"])
    with pytest.raises(InvalidInputError, match=r"count\(\)"):
        function.decode_result(data)


# hypothesis round-trip: ABI encoding then decode_result gives the input back

ADDRESSES = st.binary(min_size=20, max_size=20).map(to_checksum_address)
VALUES = {
    "uint256": st.integers(min_value=0, max_value=2**256 - 1),
    "int256": st.integers(min_value=-(2**255), max_value=2**255 - 1),
    "bool": st.booleans(),
    "bytes32": st.binary(min_size=32, max_size=32),
    "address": ADDRESSES,
}
TYPED_VALUE = st.sampled_from(sorted(VALUES)).flatmap(
    lambda kind: st.tuples(st.just(kind), VALUES[kind])
)


@given(TYPED_VALUE)
def test_round_trip_single_value(typed: tuple[str, object]) -> None:
    kind, value = typed
    function = fn("get", [], [kind])
    wire_value = value.lower() if kind == "address" else value  # type: ignore[union-attr]
    assert function.decode_result(encode([kind], [wire_value])) == value


@given(st.lists(TYPED_VALUE, min_size=2, max_size=6))
def test_round_trip_several_values(typed: list[tuple[str, object]]) -> None:
    kinds = [kind for kind, _ in typed]
    values = tuple(value for _, value in typed)
    function = fn("get", [], kinds)
    decoded = function.decode_result(encode(kinds, list(values)))
    assert decoded == values
    for kind, item in zip(kinds, decoded, strict=True):
        if kind == "address":
            assert item == to_checksum_address(item)


@given(TYPED_VALUE)
def test_round_trip_through_encode_arguments(typed: tuple[str, object]) -> None:
    kind, value = typed
    setter = fn("set", [kind], [kind])
    assert setter.decode_result(setter.encode_arguments((value,))) == value


# ---------------------------------------------------------------------------------------------
# events


def test_transfer_event_topic() -> None:
    assert TRANSFER_EVENT.topic.hex() == (
        "ddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef"
    )


def test_event_decode_indexed_and_plain() -> None:
    log = make_log(
        topics=(TRANSFER_EVENT.topic, address_topic(ALICE), address_topic(BOB)),
        data=encode(["uint256"], [10**18 + 5]),
    )
    assert TRANSFER_EVENT.decode(log) == {"sender": ALICE, "receiver": BOB, "value": 10**18 + 5}


def test_event_decode_mixed_order() -> None:
    event = Event.from_abi(
        {
            "type": "event",
            "name": "Scored",
            "inputs": [
                {"name": "score", "type": "int256", "indexed": False},
                {"name": "model", "type": "address", "indexed": True},
                {"name": "label", "type": "string", "indexed": False},
                {"name": "version", "type": "uint64", "indexed": True},
            ],
        }
    )
    log = make_log(
        topics=(event.topic, address_topic(BOB), encode(["uint64"], [3])),
        data=encode(["int256", "string"], [-12, "fraud"]),
    )
    assert event.decode(log) == {"score": -12, "model": BOB, "label": "fraud", "version": 3}
    assert event.topic == bytes(keccak(text="Scored(int256,address,string,uint64)"))


def test_event_decode_indexed_dynamic_gives_the_hash() -> None:
    event = Event.from_abi(
        {
            "type": "event",
            "name": "Named",
            "inputs": [{"name": "name", "type": "string", "indexed": True}],
        }
    )
    hashed = bytes(keccak(b"hello"))
    assert event.decode(make_log(topics=(event.topic, hashed))) == {"name": hashed}


@pytest.mark.parametrize("shape", ["missing-topic", "short-data"])
def test_event_decode_of_a_misshapen_log_is_invalid_input(shape: str) -> None:
    if shape == "missing-topic":
        log = make_log(topics=(T0_TRANSFER, address_topic(ALICE)), data=encode(["uint256"], [1]))
    else:
        log = make_log(topics=(T0_TRANSFER, address_topic(ALICE), address_topic(BOB)), data=b"")
    with pytest.raises(InvalidInputError):
        TRANSFER_EVENT.decode(log)


def test_topic_for_indexed_address() -> None:
    assert TRANSFER_EVENT.topic_for("receiver", BOB) == address_topic(BOB)
    assert TRANSFER_EVENT.topic_for("sender", ALICE.lower()) == address_topic(ALICE)


def test_topic_for_non_indexed_is_rejected() -> None:
    with pytest.raises(InvalidInputError, match="value") as info:
        TRANSFER_EVENT.topic_for("value", 1)
    assert "not indexed" in str(info.value)


def test_topic_for_unknown_argument_is_rejected() -> None:
    with pytest.raises(InvalidInputError, match="amount"):
        TRANSFER_EVENT.topic_for("amount", 1)


@pytest.mark.parametrize(
    ("kind", "value", "raw"), [("string", "hello", b"hello"), ("bytes", b"\x01\x02", b"\x01\x02")]
)
def test_topic_for_indexed_dynamic_value_is_keccak_of_the_value(
    kind: str, value: object, raw: bytes
) -> None:
    event = Event.from_abi(
        {
            "type": "event",
            "name": "Named",
            "inputs": [{"name": "key", "type": kind, "indexed": True}],
        }
    )
    assert event.topic_for("key", value) == bytes(keccak(raw))


# ---------------------------------------------------------------------------------------------
# revert reasons


def test_revert_reason_error_string() -> None:
    data = ERROR_SELECTOR + encode(["string"], ["amount must be positive"])
    assert revert_reason(data) == "amount must be positive"


def test_revert_reason_error_empty_string() -> None:
    assert revert_reason(ERROR_SELECTOR + encode(["string"], [""])) == ""


def test_revert_reason_panic_overflow() -> None:
    data = PANIC_SELECTOR + encode(["uint256"], [0x11])
    assert revert_reason(data) == "panic 0x11: arithmetic overflow or underflow"


def test_revert_reason_unknown_panic_code() -> None:
    reason = revert_reason(PANIC_SELECTOR + encode(["uint256"], [0x99]))
    assert reason == "panic 0x99: unknown panic code"


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\x08\xc3",
        ERROR_SELECTOR,
        ERROR_SELECTOR + b"\x00" * 10,
        (ERROR_SELECTOR + encode(["string"], ["a long reason, cut short"]))[:-40],
        PANIC_SELECTOR + b"\x00" * 31,
        bytes.fromhex("deadbeef") + encode(["uint256"], [1]),  # a custom error
        b"\xff" * 100,
    ],
    ids=[
        "empty",
        "short-selector",
        "error-selector-only",
        "error-truncated-head",
        "error-truncated-tail",
        "panic-truncated",
        "custom-error",
        "garbage",
    ],
)
def test_revert_reason_none_for_undecodable(data: bytes) -> None:
    assert revert_reason(data) is None


def test_revert_reason_none_for_invalid_utf8() -> None:
    data = ERROR_SELECTOR + encode(["bytes"], [b"\xff\xfe"])  # same layout as a string
    assert revert_reason(data) is None


@given(st.binary(max_size=300))
def test_revert_reason_never_raises_on_arbitrary_bytes(data: bytes) -> None:
    reason = revert_reason(data)
    assert reason is None or isinstance(reason, str)


@given(st.sampled_from([ERROR_SELECTOR, PANIC_SELECTOR]), st.binary(max_size=200))
def test_revert_reason_never_raises_behind_known_selectors(selector: bytes, tail: bytes) -> None:
    reason = revert_reason(selector + tail)
    assert reason is None or isinstance(reason, str)


@given(st.text(max_size=100))
def test_revert_reason_round_trips_any_text(text: str) -> None:
    assert revert_reason(ERROR_SELECTOR + encode(["string"], [text])) == text


def test_revert_error_carries_reason_and_data() -> None:
    data = ERROR_SELECTOR + encode(["string"], ["only the owner may reset"])
    error = revert_error(data, fallback="node message", tx_hash="0xabc")
    assert isinstance(error, ContractRevertError)
    assert error.reason == "only the owner may reset"
    assert error.data == data
    assert error.tx_hash == "0xabc"
    assert "only the owner may reset" in str(error)
    assert "0xabc" in str(error)


def test_revert_error_falls_back_only_without_data() -> None:
    assert revert_error(b"", fallback="out of gas").reason == "out of gas"
    undecodable = revert_error(b"\xde\xad\xbe\xef", fallback="out of gas")
    assert undecodable.reason is None
    assert "deadbeef" in str(undecodable)
    assert revert_error(b"").reason is None


# ---------------------------------------------------------------------------------------------
# LogFilter.matches

T0 = TRANSFER_EVENT.topic
T_ALICE = address_topic(ALICE)
T_BOB = address_topic(BOB)
TRANSFER_LOG = make_log(topics=(T0, T_ALICE, T_BOB), data=encode(["uint256"], [1]))


def test_empty_filter_matches_everything() -> None:
    assert LogFilter().matches(TRANSFER_LOG)
    assert LogFilter().matches(make_log(topics=()))


def test_address_match_is_case_insensitive() -> None:
    assert LogFilter(addresses=(TOKEN.lower(),)).matches(TRANSFER_LOG)
    assert LogFilter(addresses=(TOKEN.upper().replace("0X", "0x"),)).matches(TRANSFER_LOG)
    lower_log = make_log(topics=(T0,), address=TOKEN.lower())
    assert LogFilter(addresses=(TOKEN,)).matches(lower_log)


def test_addresses_are_alternatives() -> None:
    assert LogFilter(addresses=(ALICE, TOKEN)).matches(TRANSFER_LOG)
    assert not LogFilter(addresses=(ALICE, BOB)).matches(TRANSFER_LOG)


def test_topics_match_by_position() -> None:
    assert LogFilter(topics=((T0,),)).matches(TRANSFER_LOG)
    assert LogFilter(topics=((T0,), (T_ALICE,), (T_BOB,))).matches(TRANSFER_LOG)
    assert not LogFilter(topics=((T0,), (T_BOB,))).matches(TRANSFER_LOG)  # wrong position
    assert not LogFilter(topics=((T_ALICE,),)).matches(TRANSFER_LOG)


def test_none_is_a_wildcard() -> None:
    assert LogFilter(topics=(None, None, (T_BOB,))).matches(TRANSFER_LOG)
    assert LogFilter(topics=(None,)).matches(TRANSFER_LOG)
    assert not LogFilter(topics=(None, None, (T_ALICE,))).matches(TRANSFER_LOG)


def test_values_in_one_position_are_alternatives() -> None:
    assert LogFilter(topics=((T0,), (T_BOB, T_ALICE))).matches(TRANSFER_LOG)
    assert not LogFilter(topics=((T0,), (T_BOB, b"\x00" * 32))).matches(TRANSFER_LOG)


def test_more_filter_topics_than_log_topics_do_not_match() -> None:
    assert not LogFilter(topics=((T0,), None, None, None)).matches(TRANSFER_LOG)
    assert not LogFilter(topics=(None,)).matches(make_log(topics=()))


def test_address_and_topics_must_both_match() -> None:
    assert LogFilter(addresses=(TOKEN,), topics=((T0,),)).matches(TRANSFER_LOG)
    assert not LogFilter(addresses=(ALICE,), topics=((T0,),)).matches(TRANSFER_LOG)
    assert not LogFilter(addresses=(TOKEN,), topics=((T_BOB,),)).matches(TRANSFER_LOG)


def test_eth_abi_is_the_reference_encoder() -> None:
    # the hand-built topics above use the same layout eth_abi produces for an address
    assert address_topic(BOB) == eth_abi.encode(["address"], [BOB])
