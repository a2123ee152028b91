"""Untrusted JSON: size and nesting depth bounded before the parser runs, values kept strict.

The standard library's parser recurses once per nesting level, and py-evm raises Python's
recursion limit to 100,000 at import, so a 200 KB document nested 100,000 levels deep
overflows the C stack and kills the process instead of raising. Every JSON that crosses a
trust boundary (request bodies, receipts, JSON Lines files) is parsed here: the depth is
counted by a scan that does not recurse, and the parsed values are held to what JSON means
(finite numbers, integers of bounded length, strings that are valid Unicode).
"""

from __future__ import annotations

import functools
import json
import math
import re
from typing import Any

from chainml.errors import InvalidInputError

#: Deeper than any document chainml reads or writes (receipts nest 3 levels).
MAX_DEPTH = 32
#: Decimal digits of the largest integer accepted: an int256 has at most 78.
MAX_INTEGER_DIGITS = 80

# A string runs to its closing quote or, unterminated, to the end: the match never fails
# half-way, so the scan stays linear (a failing string pattern backtracks quadratically).
_STRING_OR_BRACKET = re.compile(rb'"(?:[^"\\]|\\.)*"?|[\[\]{}]', re.DOTALL)


class JsonInputError(InvalidInputError):
    """A JSON document is too large, too deep, malformed, or holds a value JSON does not mean."""

    def __init__(self, what: str, detail: str) -> None:
        self.what = what
        self.detail = detail
        super().__init__(f"{what}: {detail}")


def nesting_depth(data: bytes) -> int:
    """The deepest nesting of arrays and objects in ``data``, brackets inside strings ignored.

    Linear in ``len(data)`` and never recursive, so it is safe on any input.
    """
    depth = deepest = 0
    for match in _STRING_OR_BRACKET.finditer(data):
        token = match.group()
        if token in (b"[", b"{"):
            depth += 1
            deepest = max(deepest, depth)
        elif token in (b"]", b"}"):
            depth -= 1
    return deepest


def loads(
    data: str | bytes,
    *,
    what: str,
    max_bytes: int,
    max_depth: int = MAX_DEPTH,
    max_integer_digits: int = MAX_INTEGER_DIGITS,
    unique_keys: bool = False,
) -> Any:
    """Parse untrusted JSON ``data`` (named ``what`` in errors) within the given bounds.

    Raises :class:`JsonInputError` for a document over ``max_bytes`` or ``max_depth``, for
    malformed JSON, ``NaN``/``Infinity``, numbers that overflow a float, integers longer than
    ``max_integer_digits`` digits and strings with lone surrogates. (A caller that checks
    ranges itself may allow longer integers, so that its own error names the field.) With
    ``unique_keys``, an object that names a key twice is refused too: parsers disagree on
    which of the two values counts.
    """
    raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data
    if len(raw) > max_bytes:
        raise JsonInputError(what, f"{len(raw):,} bytes is over the limit of {max_bytes:,}")
    if (depth := nesting_depth(raw)) > max_depth:
        raise JsonInputError(what, f"nested {depth} levels deep; at most {max_depth} allowed")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise JsonInputError(what, f"not UTF-8 ({err.reason} at byte {err.start})") from None
    try:
        value = json.loads(
            text,
            parse_int=functools.partial(_parse_int, max_digits=max_integer_digits),
            parse_float=_parse_float,
            parse_constant=_refuse_constant,
            object_pairs_hook=_unique_object if unique_keys else None,
        )
    except json.JSONDecodeError as err:
        raise JsonInputError(what, f"not JSON ({err.msg} at line {err.lineno})") from None
    except _BadValueError as err:
        raise JsonInputError(what, str(err)) from None
    _check_strings(value, what)
    return value


class _BadValueError(ValueError):
    pass


def _parse_int(text: str, max_digits: int) -> int:
    digits = len(text.lstrip("-"))
    if digits > max_digits:
        raise _BadValueError(f"an integer of {digits} digits (at most {max_digits})")
    return int(text)


def _parse_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise _BadValueError(f"the number {text[:40]} overflows a float")
    return value


def _unique_object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    value = dict(pairs)
    if len(value) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _BadValueError(f"the key {key[:40]!r} appears twice in one object")
            seen.add(key)
    return value


def _refuse_constant(name: str) -> float:
    raise _BadValueError(f"{name} is not a JSON number")


def _check_strings(value: Any, what: str) -> None:
    r"""Refuse strings that are not valid Unicode (lone surrogates, e.g. from ``\ud800``)."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            _check_text(item, what)
        elif isinstance(item, dict):
            for key, inner in item.items():
                _check_text(key, what)
                stack.append(inner)
        elif isinstance(item, list):
            stack.extend(item)


def _check_text(text: str, what: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise JsonInputError(what, f"a string holds a lone surrogate: {text[:40]!r}") from None
