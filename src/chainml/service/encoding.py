"""Decision records encoded in bulk: the leaf bytes of many decisions at once, with numpy.

The layout is :mod:`chainml.log.record`'s ABI tuple (ten head words, then the feature array);
building it word by word in Python costs more than scoring. A :class:`PreparedRecords` holds
every word of a block of records except the two the log assigns when it appends them (the
sequence and the timestamp); :meth:`PreparedRecords.leaves` fills those in and returns the
leaf data. ``tests/service/test_encoding.py`` checks the bytes against
:meth:`DecisionRecord.encode` and :meth:`DecisionRecord.decode`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from chainml.log.record import RECORD_VERSION
from chainml.log.store import Leaf

WORD = 32
HEAD_WORDS = 10  # words of the tuple before the feature array's length word
NUMPY_FROM = 64  # records: below this, encoding word by word is faster


def int_words(values: npt.NDArray[np.int64]) -> npt.NDArray[np.uint8]:
    """Signed int64 values as 32-byte big-endian two's-complement words: shape (..., 32)."""
    values = np.asarray(values, dtype=np.int64)
    out = np.zeros((*values.shape, WORD), dtype=np.uint8)
    big_endian = np.ascontiguousarray(values.reshape(-1).astype(">i8")).view(np.uint8)
    out[..., 24:] = big_endian.reshape(*values.shape, 8)
    out[values < 0, :24] = 0xFF
    return out


def _big_words(values: Sequence[int]) -> npt.NDArray[np.uint8]:
    joined = b"".join(v.to_bytes(WORD, "big", signed=True) for v in values)
    return np.frombuffer(joined, dtype=np.uint8).reshape(len(values), WORD)


def _bytes32(values: Sequence[bytes]) -> npt.NDArray[np.uint8]:
    return np.frombuffer(b"".join(values), dtype=np.uint8).reshape(len(values), WORD)


def commitments(features: npt.NDArray[np.int64]) -> list[bytes]:
    """SHA-256 of ``abi.encode(int256[] row)`` for each row (``commit_features``, in bulk)."""
    n, width = features.shape
    encoded = np.empty((n, 2 + width, WORD), dtype=np.uint8)
    encoded[:, 0] = int_words(np.array(WORD))
    encoded[:, 1] = int_words(np.array(width))
    encoded[:, 2:] = int_words(features)
    flat = encoded.reshape(n, -1)
    return [hashlib.sha256(row.tobytes()).digest() for row in flat]


class PreparedRecords:
    """Leaf data of ``n`` decisions, short of their sequence numbers and timestamp.

    Large blocks are encoded with numpy; a few records (a single request) word by word, where
    numpy's per-call overhead would cost more than it saves.
    """

    def __init__(
        self,
        model_id: bytes,
        features: npt.NDArray[np.int64],
        scores: Sequence[int],
        labels: Sequence[int],
        request_ids: Sequence[bytes],
        metadata_hashes: Sequence[bytes],
    ) -> None:
        # only the inputs are kept: encoding waits for :meth:`leaves`, so that it runs in the
        # log writer (another process), not on the event loop, and the inputs pickle small
        self.request_ids = list(request_ids)
        self.count = len(self.request_ids)
        self._inputs = (model_id, features, list(scores), list(labels), list(metadata_hashes))
        self._words: npt.NDArray[np.uint8] | None = None
        self._tails: list[bytes] | None = None

    def __reduce__(self) -> tuple[object, ...]:
        # the inputs only, features as raw bytes: pickling an ndarray costs the event loop
        # ~8 us, about as much as the rest of a single request's trip to the log writer
        model_id, features, scores, labels, metadata_hashes = self._inputs
        rows = np.ascontiguousarray(features, dtype=np.int64)
        return (
            _restored,
            (model_id, rows.tobytes(), rows.shape, scores, labels, self.request_ids,
             metadata_hashes),
        )  # fmt: skip

    def _encode(self) -> None:
        model_id, features, scores, labels, metadata_hashes = self._inputs
        n, width = features.shape
        request_ids = self.request_ids
        if n < NUMPY_FROM:
            self._tails = [
                _tail(model_id, row, score, label, rid, meta)
                for row, score, label, rid, meta in zip(
                    features.tolist(), scores, labels, request_ids, metadata_hashes, strict=True
                )
            ]
            return
        words = np.zeros((n, HEAD_WORDS + 2 + width, WORD), dtype=np.uint8)
        words[:, 0] = int_words(np.array(WORD))  # offset of the tuple
        words[:, 1] = int_words(np.array(RECORD_VERSION))
        words[:, 4] = np.frombuffer(model_id, dtype=np.uint8)
        words[:, 5] = _bytes32(commitments(features))
        words[:, 6] = int_words(np.array(HEAD_WORDS * WORD))  # offset of the features
        small = all(-(2**63) <= s < 2**63 for s in scores)
        words[:, 7] = int_words(np.array(scores, dtype=np.int64)) if small else _big_words(scores)
        words[:, 8] = int_words(np.array(labels, dtype=np.int64))
        words[:, 9] = _bytes32(request_ids)
        words[:, 10] = _bytes32(metadata_hashes)
        words[:, 11] = int_words(np.array(width))
        words[:, 12:] = int_words(features)
        self._words = words

    def leaves(self, first: int, now_ms: int) -> list[Leaf]:
        """The leaves of these records at sequence ``first`` onwards, decided at ``now_ms``."""
        if self._words is None and self._tails is None:
            self._encode()
        words = self._words
        if words is None:
            assert self._tails is not None
            stamp = _word(now_ms)
            return [
                (_PREFIX + _word(first + i) + stamp + tail, rid)
                for i, (tail, rid) in enumerate(zip(self._tails, self.request_ids, strict=True))
            ]
        words[:, 2] = int_words(np.arange(first, first + self.count, dtype=np.int64))
        words[:, 3] = np.frombuffer(_word(now_ms), dtype=np.uint8)
        flat = words.reshape(self.count, -1)
        return [(row.tobytes(), rid) for row, rid in zip(flat, self.request_ids, strict=True)]


def _restored(
    model_id: bytes,
    features: bytes,
    shape: tuple[int, int],
    scores: list[int],
    labels: list[int],
    request_ids: list[bytes],
    metadata_hashes: list[bytes],
) -> PreparedRecords:
    rows = np.frombuffer(features, dtype=np.int64).reshape(shape)
    return PreparedRecords(model_id, rows, scores, labels, request_ids, metadata_hashes)


def _word(value: int) -> bytes:
    return value.to_bytes(WORD, "big", signed=True)


_PREFIX = _word(WORD) + _word(RECORD_VERSION)  # the tuple's offset, the record version


def _tail(
    model_id: bytes, features: list[int], score: int, label: int, request_id: bytes, meta: bytes
) -> bytes:
    """Words 4 onwards of one record (model id ... features)."""
    feature_words = [_word(len(features)), *map(_word, features)]
    commitment = hashlib.sha256(_word(WORD) + b"".join(feature_words)).digest()
    head = [model_id, commitment, _word(HEAD_WORDS * WORD), _word(score), _word(label),
            request_id, meta]  # fmt: skip
    return b"".join(head + feature_words)
