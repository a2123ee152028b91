"""chainml.bounded_json: round trips, the depth scan, every refusal, and linear time."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chainml.bounded_json import MAX_DEPTH, JsonInputError, loads, nesting_depth
from chainml.errors import InvalidInputError

# Valid Unicode text (no lone surrogates), including the characters JSON escapes.
_text = st.text(st.characters(exclude_categories=("Cs",)), max_size=20) | st.sampled_from(
    ['"', "\\", '\\"', "[", "]", "{", "}", '"[{', "\\u005b", "\n"]
)
_scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(10**80) + 1, 10**80 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | _text
)
_values = st.recursive(
    _scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_text, inner, max_size=4),
    max_leaves=30,
)


def true_depth(value: Any) -> int:
    """The nesting depth of a parsed value, by definition."""
    if isinstance(value, list):
        return 1 + max((true_depth(v) for v in value), default=0)
    if isinstance(value, dict):
        return 1 + max((true_depth(v) for v in value.values()), default=0)
    return 0


@settings(max_examples=300, deadline=None)
@given(value=_values, ascii_only=st.booleans(), indent=st.sampled_from([None, 1]))
def test_any_dumped_value_round_trips_and_its_depth_is_counted_exactly(
    value: Any, ascii_only: bool, indent: int | None
) -> None:
    document = json.dumps(value, ensure_ascii=ascii_only, indent=indent)
    assert nesting_depth(document.encode()) == true_depth(value)
    assert loads(document, what="doc", max_bytes=10**6) == value
    assert loads(document.encode(), what="doc", max_bytes=10**6) == value


@given(depth=st.integers(0, 60), decoy=_text)
def test_brackets_inside_strings_do_not_count(depth: int, decoy: str) -> None:
    quoted = json.dumps("[[[{{{" + decoy)
    document = "[" * depth + quoted + "]" * depth
    assert nesting_depth(document.encode()) == depth


@pytest.mark.parametrize(
    ("document", "detail"),
    [
        ("[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1), "nested 33 levels"),
        ("[" * 100_000 + "]" * 100_000, "nested 100000 levels"),
        ('{"a": ' * 40 + "1" + "}" * 40, "nested 40 levels"),
        ("[1, 2", "not JSON"),
        ("", "not JSON"),
        ("NaN", "NaN"),
        ("[-Infinity]", "-Infinity"),
        ("1e400", "overflows a float"),
        ("-1e400", "overflows a float"),
        ("9" * 81, "an integer of 81 digits"),
        ("-" + "9" * 5000, "an integer of 5000 digits"),
        ('"\\ud800"', "lone surrogate"),
        ('{"\\udfff": 1}', "lone surrogate"),
        (b'"\xff"', "not UTF-8"),
        (b'"\xed\xa0\x80"', "not UTF-8"),  # a surrogate encoded in UTF-8 bytes
    ],
)
def test_every_refusal_is_an_invalid_input_error(document: str | bytes, detail: str) -> None:
    with pytest.raises(JsonInputError) as caught:
        loads(document, what="the body", max_bytes=10**6)
    assert isinstance(caught.value, InvalidInputError)
    assert str(caught.value).startswith("the body: ") and detail in str(caught.value)


def test_the_size_is_checked_in_bytes_before_anything_else() -> None:
    assert loads('"ééé"', what="x", max_bytes=8) == "ééé"  # 8 bytes of UTF-8
    with pytest.raises(JsonInputError, match="10 bytes is over the limit of 8"):
        loads('"éééé"', what="x", max_bytes=8)


def test_keys_given_twice_are_refused_when_asked() -> None:
    document = '{"label": 0, "nested": {"a": 1, "b": 2}, "label": 1}'
    assert loads(document, what="x", max_bytes=100)["label"] == 1  # the standard's last wins
    with pytest.raises(JsonInputError, match="the key 'label' appears twice"):
        loads(document, what="x", max_bytes=100, unique_keys=True)
    with pytest.raises(JsonInputError, match="the key 'a' appears twice"):
        loads('[{"a": 1, "a": 1}]', what="x", max_bytes=100, unique_keys=True)
    assert loads('{"a": {"a": 1}}', what="x", max_bytes=100, unique_keys=True) == {"a": {"a": 1}}


def test_the_bounds_can_be_chosen() -> None:
    assert loads("[[1]]", what="x", max_bytes=10, max_depth=2) == [[1]]
    with pytest.raises(JsonInputError, match="nested 3 levels deep; at most 2"):
        loads("[[[1]]]", what="x", max_bytes=10, max_depth=2)
    assert loads("9" * 100, what="x", max_bytes=200, max_integer_digits=100) == int("9" * 100)
    with pytest.raises(JsonInputError, match=r"an integer of 5 digits \(at most 4\)"):
        loads("-12345", what="x", max_bytes=10, max_integer_digits=4)


@pytest.mark.parametrize(
    "document",
    [
        b'"' + b'\\"' * 500_000,  # one unterminated string of escaped quotes
        b'"\\' * 400_000,
        b'"' * 1_000_000,
        b"[" * 1_000_000,
    ],
)
def test_a_megabyte_of_pathological_input_is_scanned_and_refused(document: bytes) -> None:
    # Linear: a backtracking scan would take hours here; this one finishes within the test.
    with pytest.raises(JsonInputError):
        loads(document, what="x", max_bytes=2_000_000)


def test_a_megabyte_string_of_escaped_quotes_parses() -> None:
    document = b'"' + b'\\"' * 500_000 + b'"'
    assert nesting_depth(document) == 0
    assert loads(document, what="x", max_bytes=2_000_000) == '"' * 500_000
