"""RequestFilter: a Bloom filter over request ids, so a duplicate check rarely asks SQLite.

It answers "certainly not added" or "maybe added": an added id is always a candidate (no false
negatives); another one is with a probability below about 1.4% (16 bits an id at capacity, two
probes), and then costs only a lookup of the exact index. It grows by adding layers, each four
times the capacity of the one before, so the added ids are never needed again.

Bit positions come from Python's ``hash`` of the id: SipHash, keyed per process, so they are
well spread whatever the ids look like, and free, since a bytes object caches its hash and the
store hashes every id of a batch anyway to find repeats. The filter lives in memory only.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable

_BITS_PER_ID = 16
_GROWTH = 4
_MIN_CAPACITY = 1 << 18
_MAX_BITS_LOG2 = 32  # the two probes are the low and high 32 bits of the 64-bit hash


class RequestFilter:
    """A Bloom filter of request ids (bytes), sized for ``capacity`` ids to start with."""

    def __init__(self, capacity: int = 0) -> None:
        if sys.hash_info.width < 64:  # pragma: no cover - 64-bit platforms only in practice
            raise RuntimeError("RequestFilter needs 64-bit hashes")
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
        pending = list(ids)
        while pending:
            if self._room == 0:
                self._grow()
            now, pending = pending[: self._room], pending[self._room :]
            bits, mask = self._layers[-1]
            for request_id in now:
                h = hash(request_id)
                a, b = h & mask, (h >> 32) & mask
                bits[a >> 3] |= 1 << (a & 7)
                bits[b >> 3] |= 1 << (b & 7)
            self._room -= len(now)
            self.count += len(now)

    def candidates(self, ids: Iterable[bytes]) -> list[bytes]:
        """Those of ``ids`` that may have been added, in order: all that were, and few others."""
        layers = self._layers
        if len(layers) == 1:
            bits, mask = layers[0]
            # the first probe alone turns most ids away; the second only for those left
            first = [i for i in ids if bits[(a := hash(i) & mask) >> 3] >> (a & 7) & 1]
            return [i for i in first if bits[(b := hash(i) >> 32 & mask) >> 3] >> (b & 7) & 1]
        found = []
        for i in ids:
            h = hash(i)
            for bits, mask in layers:
                a, b = h & mask, (h >> 32) & mask
                if bits[a >> 3] >> (a & 7) & 1 and bits[b >> 3] >> (b & 7) & 1:
                    found.append(i)
                    break
        return found
