"""The wire form of ``GET /v1/log/entries`` answers: leaves as length-prefixed bytes, and bounds.

Shared by the service (which writes it) and the watchtower's API source (which reads it), so
neither depends on the other: each entry is a big-endian uint32 length followed by the leaf's
bytes, back to back.
"""

from __future__ import annotations

import struct

from chainml.errors import InvalidInputError

#: Most leaves one request may name.
MAX_ENTRIES = 10_000
#: An answer stops after this many bytes of leaf data (always at least one leaf).
MAX_RESPONSE_BYTES = 32 << 20
BINARY = "application/octet-stream"
_LENGTH = struct.Struct(">I")


def encode_binary(entries: list[bytes]) -> bytes:
    """The binary form: each entry as a big-endian uint32 length followed by its bytes."""
    parts: list[bytes] = []
    for data in entries:
        parts.append(_LENGTH.pack(len(data)))
        parts.append(data)
    return b"".join(parts)


def decode_binary(body: bytes, count_max: int = MAX_ENTRIES) -> list[bytes]:
    """Inverse of :func:`encode_binary`; InvalidInputError on a truncated or overlong body."""
    entries: list[bytes] = []
    view = memoryview(body)
    position, length = 0, len(body)
    while position < length:
        if len(entries) >= count_max:
            raise InvalidInputError(f"more than {count_max} entries in an answer")
        if position + 4 > length:
            raise InvalidInputError(f"entry {len(entries)} is truncated (no length)")
        (size,) = _LENGTH.unpack_from(view, position)
        position += 4
        if position + size > length:
            raise InvalidInputError(f"entry {len(entries)} is truncated ({size} bytes announced)")
        entries.append(bytes(view[position : position + size]))
        position += size
    return entries
