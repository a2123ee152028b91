"""Rows for PostgreSQL's binary ``COPY``, packed in bulk: the fast path of an append.

psycopg's ``write_row`` adapts every value through its dumpers, about ten microseconds a leaf;
the binary COPY format is simple enough (a signature, then per row a field count and each field
as a length and its bytes, then a trailer; https://www.postgresql.org/docs/current/sql-copy.html)
that packing it here costs a fraction of that, and the server checks every row it receives.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable

SIGNATURE = b"PGCOPY\n\xff\r\n\x00" + b"\x00\x00\x00\x00" + b"\x00\x00\x00\x00"
TRAILER = b"\xff\xff"
_NULL = b"\xff\xff\xff\xff"
_LEAF_HEAD = struct.Struct("!hiqi").pack  # 4 fields; idx (int8); the length of hashes
_UPPER_ROW = struct.Struct("!hihiqi").pack  # 3 fields; level (int2); idx (int8); hash length
_LENGTH = struct.Struct("!i").pack
_ID_LENGTH = _LENGTH(32)


def leaf_rows(
    first: int, hashes: Iterable[bytes], ids: Iterable[bytes | None], datas: Iterable[bytes]
) -> bytes:
    """COPY data for ``leaves (idx, hashes, request_id, data)``, from index ``first`` on."""
    out = [SIGNATURE]
    add = out.extend
    for idx, (packed, request_id, data) in enumerate(zip(hashes, ids, datas, strict=True), first):
        add(
            (
                _LEAF_HEAD(4, 8, idx, len(packed)),
                packed,
                _NULL if request_id is None else _ID_LENGTH,
                b"" if request_id is None else request_id,
                _LENGTH(len(data)),
                data,
            )
        )
    out.append(TRAILER)
    return b"".join(out)


def upper_rows(nodes: Iterable[tuple[int, int, bytes]]) -> bytes:
    """COPY data for ``upper (level, idx, hash)``."""
    out = [SIGNATURE]
    for level, idx, value in nodes:
        out += (_UPPER_ROW(3, 2, level, 8, idx, len(value)), value)
    out.append(TRAILER)
    return b"".join(out)
