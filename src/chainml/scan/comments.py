"""Removing comments from contract sources while keeping every byte offset and line.

The labelled corpus marks its bugs in comments, so no feature may ever see one. Each comment
byte becomes a space (newlines stay), so compiler source locations still point at the same
line and column of the original file.
"""

from __future__ import annotations

_SPACE = ord(" ")
_NEWLINE = ord("\n")


def strip_solidity_comments(source: bytes) -> bytes:
    """``source`` with ``//`` and ``/* */`` comments blanked; string literals untouched."""
    out = bytearray(source)
    i, n = 0, len(source)
    while i < n:
        c = source[i]
        if c in (0x22, 0x27):  # " or ': skip the literal, honouring escapes
            i = _skip_string(source, i)
        elif source.startswith(b"//", i):
            end = source.find(b"\n", i)
            end = n if end < 0 else end
            _blank(out, i, end)
            i = end
        elif source.startswith(b"/*", i):
            end = source.find(b"*/", i + 2)
            end = n if end < 0 else end + 2
            _blank(out, i, end)
            i = end
        else:
            i += 1
    return bytes(out)


def strip_vyper_comments(source: bytes) -> bytes:
    """``source`` with ``#`` comments blanked.

    Docstrings are literals and ``# pragma`` lines are directives: both are kept.
    """
    out = bytearray(source)
    i, n = 0, len(source)
    while i < n:
        c = source[i]
        if source.startswith((b'"""', b"'''"), i):
            end = source.find(source[i : i + 3], i + 3)
            i = n if end < 0 else end + 3
        elif c in (0x22, 0x27):
            i = _skip_string(source, i)
        elif c == ord("#") and not _is_pragma(source, i):
            end = source.find(b"\n", i)
            end = n if end < 0 else end
            _blank(out, i, end)
            i = end
        else:
            i += 1
    return bytes(out)


def _is_pragma(source: bytes, start: int) -> bool:
    # `# pragma version ...` and `#pragma nonreentrant` are compiler directives, not comments
    return source[start + 1 : start + 16].lstrip().startswith(b"pragma ")


def _skip_string(source: bytes, start: int) -> int:
    quote, i, n = source[start], start + 1, len(source)
    while i < n and source[i] != quote and source[i] != _NEWLINE:
        i += 2 if source[i] == ord("\\") else 1
    return i + 1


def _blank(out: bytearray, start: int, end: int) -> None:
    for k in range(start, end):
        if out[k] != _NEWLINE:
            out[k] = _SPACE
