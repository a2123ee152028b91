"""RequestFilter: a Bloom filter over request ids, so a duplicate check rarely asks SQLite.

It answers "certainly not added" or "maybe added": an added id is always a candidate (no false
negatives); another one is with a probability below about 1.4% (16 bits an id at capacity, two
probes), and then costs only a lookup of the exact index. It grows by adding layers, each four
times the capacity of the one before, so the added ids are never needed again.

Bit positions come from the id's *key*, its first 8 bytes (:func:`request_key`), spread by a
multiplicative hash: the same in every process, so the filter can be saved with
:meth:`RequestFilter.dump` and loaded again with :meth:`RequestFilter.load` instead of being
rebuilt from every id at start-up. Ids are SHA-256 outputs in practice; ids chosen to share a key
only make each other candidates, which costs lookups, never a wrong answer.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Sequence
from hashlib import sha256

_BITS_PER_ID = 16
_GROWTH = 4
_MIN_CAPACITY = 1 << 18
_MAX_BITS_LOG2 = 32  # the two probes are the low and high 32 bits of the 64-bit hash
_MIX = 0x9E3779B97F4A7C15  # 2**64 / golden ratio, odd: spreads any key over all 64 bits
_MASK64 = (1 << 64) - 1
_MAGIC = b"chainml request filter 1\n"
_HEADER = struct.Struct(">QQQI")  # next capacity, room, count, number of layers
_ID_BYTES = 32
_VECTOR_FROM = 32  # ids: below this, a Python loop costs less than numpy's calls


def request_key(request_id: bytes) -> int:
    """The signed 64-bit key of a request id: its first 8 bytes (what the index stores)."""
    return int.from_bytes(request_id[:8], "big", signed=True)


def request_keys(request_ids: Sequence[bytes]) -> list[int]:
    """The keys of many request ids of 32 bytes at once (:func:`request_key` of each)."""
    if len(request_ids) < _VECTOR_FROM:
        return [request_key(i) for i in request_ids]
    import numpy as np

    joined = b"".join(request_ids)
    if len(joined) != _ID_BYTES * len(request_ids):  # not all 32 bytes: one at a time
        return [request_key(i) for i in request_ids]
    keys: list[int] = np.frombuffer(joined, dtype=">i8")[:: _ID_BYTES // 8].tolist()
    return keys


def pack_keys(keys: Iterable[int]) -> bytes:
    """Keys as 8-byte little-endian signed integers, one after another."""
    import numpy as np

    return np.fromiter(keys, dtype="<i8").tobytes()


class RequestFilter:
    """A Bloom filter of request ids (bytes), sized for ``capacity`` ids to start with."""

    def __init__(self, capacity: int = 0) -> None:
        self._layers: list[tuple[bytearray, int]] = []  # (bits, mask)
        self._room = 0  # ids the newest layer takes before the next one is added
        self._next = max(_MIN_CAPACITY, capacity)
        self.count = 0

    def _grow(self) -> None:
        log2 = min(_MAX_BITS_LOG2, (self._next * _BITS_PER_ID - 1).bit_length())
        self._layers.append((bytearray(1 << (log2 - 3)), (1 << log2) - 1))
        self._room = (1 << log2) // _BITS_PER_ID
        self._next *= _GROWTH

    def add(self, ids: Iterable[bytes]) -> None:
        """Add ``ids``."""
        self.add_keys([request_key(i) for i in ids])

    def add_keys(self, keys: Iterable[int]) -> None:
        """Add the ids whose keys (:func:`request_key`) are ``keys``."""
        self.add_packed_keys(pack_keys(keys))

    def add_packed_keys(self, packed: bytes) -> None:
        """Add the ids whose keys :func:`pack_keys` packed."""
        import numpy as np  # lazily: only a store that appends or checks ids needs it

        pending = np.frombuffer(packed, dtype="<u8")
        while len(pending):
            if self._room == 0:
                self._grow()
            now, pending = pending[: self._room], pending[self._room :]
            bits, mask = self._layers[-1]
            view = np.frombuffer(bits, dtype=np.uint8)
            h = now * np.uint64(_MIX)  # wraps modulo 2**64, as wanted
            for probe in (h & np.uint64(mask), (h >> np.uint64(32)) & np.uint64(mask)):
                byte, bit = probe >> np.uint64(3), probe & np.uint64(7)
                for k in range(8):  # the same bit for every byte of a pass: repeats are harmless
                    at = byte[bit == k]
                    view[at] |= np.uint8(1 << k)
            self._room -= len(now)
            self.count += len(now)

    def candidates(self, ids: Iterable[bytes]) -> list[bytes]:
        """Those of ``ids`` that may have been added, in order: all that were, and few others."""
        ids = list(ids)
        if len(ids) >= _VECTOR_FROM:
            return [ids[k] for k in self.candidate_positions(request_keys(ids))]
        layers = self._layers
        found = []
        for i in ids:
            h = request_key(i) * _MIX & _MASK64
            for bits, mask in layers:
                a, b = h & mask, (h >> 32) & mask
                if bits[a >> 3] >> (a & 7) & 1 and bits[b >> 3] >> (b & 7) & 1:
                    found.append(i)
                    break
        return found

    def candidate_positions(self, keys: Sequence[int]) -> list[int]:
        """The positions in ``keys`` of the ids that may have been added (:meth:`candidates`).

        The same bits as :meth:`candidates` probes, for a whole batch at once with numpy.
        """
        import numpy as np

        h = np.array(keys, dtype=np.int64).view(np.uint64) * np.uint64(_MIX)  # wraps, as wanted
        high = h >> np.uint64(32)
        hit = np.zeros(len(h), dtype=bool)
        for bits, mask in self._layers:
            view = np.frombuffer(bits, dtype=np.uint8)
            both = np.ones(len(h), dtype=bool)
            for probe in (h & np.uint64(mask), high & np.uint64(mask)):
                byte = view[(probe >> np.uint64(3)).astype(np.intp)]
                both &= ((byte >> (probe & np.uint64(7)).astype(np.uint8)) & 1).astype(bool)
            hit |= both
        positions: list[int] = np.flatnonzero(hit).tolist()
        return positions

    @property
    def size_bytes(self) -> int:
        """The bytes its bits take (what :meth:`dump` writes, about)."""
        return sum(len(bits) for bits, _ in self._layers)

    def copy(self) -> RequestFilter:
        """A copy that later additions to this one do not change."""
        found = RequestFilter()
        found._layers = [(bytearray(bits), mask) for bits, mask in self._layers]
        found._room, found._next, found.count = self._room, self._next, self.count
        return found

    def dump(self) -> bytes:
        """The filter as bytes, checksummed, for :meth:`load`."""
        parts: list[bytes | bytearray] = [
            _MAGIC,
            _HEADER.pack(self._next, self._room, self.count, len(self._layers)),
        ]
        for bits, mask in self._layers:
            parts += [struct.pack(">B", mask.bit_length()), bits]
        body = b"".join(parts)
        return body + sha256(body).digest()

    @classmethod
    def load(cls, raw: bytes) -> RequestFilter | None:
        """The filter :meth:`dump` wrote, or None if ``raw`` is not one (damaged, truncated)."""
        body, digest = raw[:-32], raw[-32:]
        if not body.startswith(_MAGIC) or sha256(body).digest() != digest:
            return None
        at = len(_MAGIC)
        try:
            capacity, room, count, layers = _HEADER.unpack_from(body, at)
        except struct.error:
            return None
        at += _HEADER.size
        found = cls()
        found._next, found._room, found.count = capacity, room, count
        for _ in range(layers):
            log2 = body[at] if at < len(body) else 0
            size = 1 << max(0, log2 - 3)
            if not 3 <= log2 <= _MAX_BITS_LOG2 or at + 1 + size > len(body):
                return None
            found._layers.append((bytearray(body[at + 1 : at + 1 + size]), (1 << log2) - 1))
            at += 1 + size
        return found if at == len(body) else None
