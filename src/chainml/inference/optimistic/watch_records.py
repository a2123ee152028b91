"""Decision records parsed in bulk for the watchtower: leaf hashes, fields, commitment checks.

The watchtower reads raw leaf data that the operator chose, so nothing here trusts it: a record
is read word by word as :mod:`chainml.log.record` lays it out (ten head words, the feature
count, the features), and every word the canonical encoding fixes (offsets, version, count,
the zero padding of small integers) is compared with what it must be. Records of one length
are stacked in one numpy array and checked together; a record whose feature or score words do
not fit in an int64 (legal, just rare) is flagged ``wide`` and parsed exactly by the caller.

The input commitment is SHA-256 of ``abi.encode(int256[] features)``, which is the word 32
followed by the record's own tail from the feature count on, so it is hashed straight from the
leaf bytes, without re-encoding.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from chainml.log.record import RECORD_VERSION

WORD = 32
HEAD_WORDS = 10  # words of the tuple before the feature count
_TAIL_AT = (1 + HEAD_WORDS) * WORD  # byte offset of the feature count word
MIN_RECORD = (2 + HEAD_WORDS) * WORD  # a record without features
_ARRAY_PREFIX = (WORD).to_bytes(WORD, "big")  # abi.encode(int256[]): offset word first
_LEAF_PREFIX = hashlib.sha256(b"\x00")


def leaf_hashes(entries: Sequence[bytes]) -> list[bytes]:
    """RFC 9162 leaf hashes SHA-256(0x00 || data) of every entry."""
    prefix = _LEAF_PREFIX
    out: list[bytes] = []
    append = out.append
    for data in entries:
        h = prefix.copy()
        h.update(data)
        append(h.digest())
    return out


def commitment_of(data: bytes) -> bytes:
    """SHA-256 of ``abi.encode(int256[] features)`` for the features a canonical record holds."""
    return hashlib.sha256(_ARRAY_PREFIX + data[_TAIL_AT:]).digest()


def _word(value: int) -> npt.NDArray[np.uint8]:
    return np.frombuffer(value.to_bytes(WORD, "big", signed=True), dtype=np.uint8)


def _int64_words(
    lanes: npt.NDArray[np.uint64],
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.bool_]]:
    """Each 32-byte big-endian two's-complement word as int64, and whether it fits.

    The word is four 8-byte lanes; it is an int64 exactly when the three high lanes are all
    zero bits (a non-negative low lane) or all one bits (a negative one), which reads the same
    in either byte order, so only the low lane is byte-swapped. ``lanes``: the words viewed
    as native uint64, four to a word (last axis).
    """
    value = lanes[..., 3].byteswap().view(np.int64)
    high_or = lanes[..., 0] | lanes[..., 1] | lanes[..., 2]
    high_and = lanes[..., 0] & lanes[..., 1] & lanes[..., 2]
    fits = np.where(value < 0, high_and == np.uint64(2**64 - 1), high_or == 0)
    return value, fits


@dataclass
class RecordGroup:
    """Records of one length (so one feature count), parsed together.

    ``positions`` index into the batch; the fields are arrays with one row per record.
    ``canonical`` is False for a record whose fixed words are wrong (it is malformed);
    ``wide`` for one whose features or score do not fit in int64 (parse it exactly).
    """

    n_features: int
    positions: npt.NDArray[np.int64]
    canonical: npt.NDArray[np.bool_]
    sequence_ok: npt.NDArray[np.bool_]
    wide: npt.NDArray[np.bool_]
    model_keys: list[bytes]  # the distinct model ids of the group
    model_index: npt.NDArray[np.int64]  # each record's model, as an index into model_keys
    commitment_ok: npt.NDArray[np.bool_]  # the features hash to the commitment
    features: npt.NDArray[np.int64]  # (records, n_features)
    scores: npt.NDArray[np.int64]
    labels: npt.NDArray[np.int64]


def parse_group(
    entries: Sequence[bytes], positions: npt.NDArray[np.int64], first_index: int
) -> RecordGroup:
    """Parse the records at ``positions`` of ``entries`` (all of one valid length).

    ``first_index`` is the log index of ``entries[0]``: a record's sequence must equal its index.
    """
    length = len(entries[int(positions[0])])
    words = length // WORD
    n_features = words - (2 + HEAD_WORDS)
    joined = b"".join([entries[int(p)] for p in positions])
    block = np.frombuffer(joined, dtype=np.uint8).reshape(len(positions), words, WORD)
    fixed = np.stack([_word(WORD), _word(RECORD_VERSION), _word(HEAD_WORDS * WORD)])
    canonical = (block[:, [0, 1, 6]] == fixed).all(axis=(1, 2))
    canonical &= (block[:, 11] == _word(n_features)).all(axis=1)
    # uint64 sequence and timestamp, uint8 label: their high bytes are zero
    canonical &= (block[:, 2:4, :24] == 0).all(axis=(1, 2))
    canonical &= (block[:, 8, :31] == 0).all(axis=1)
    sequences = block[:, 2, 24:].copy().view(">u8")[:, 0].astype(np.uint64)
    expected = (positions + first_index).astype(np.uint64)
    sequence_ok = sequences == expected
    lanes = block.view(np.uint64)  # (records, words, 4), no copy
    scores, score_fits = _int64_words(lanes[:, 7])
    features, feature_fits = _int64_words(lanes[:, 12:])
    wide = ~score_fits
    if n_features:
        wide |= ~feature_fits.all(axis=1)
    rows = block.shape[0]
    ids = np.ascontiguousarray(block[:, 4]).view(np.dtype("V32")).reshape(rows)
    keys, model_index = np.unique(ids, return_inverse=True)
    return RecordGroup(
        n_features=n_features,
        positions=positions,
        canonical=canonical,
        sequence_ok=sequence_ok,
        wide=wide,
        model_keys=[bytes(key) for key in keys],
        model_index=model_index.reshape(rows).astype(np.int64),
        commitment_ok=_commitments_ok(joined, length, block[:, 5]),
        features=features.reshape(rows, n_features),
        scores=scores,
        labels=block[:, 8, 31].astype(np.int64),
    )


def _commitments_ok(
    joined: bytes, length: int, commitments: npt.NDArray[np.uint8]
) -> npt.NDArray[np.bool_]:
    """Whether each record (``length`` bytes each in ``joined``) hashes to its commitment."""
    base = hashlib.sha256(_ARRAY_PREFIX)
    view = memoryview(joined)
    digests = bytearray()
    for offset in range(0, len(joined), length):
        h = base.copy()
        h.update(view[offset + _TAIL_AT : offset + length])
        digests += h.digest()
    computed = np.frombuffer(bytes(digests), dtype=np.uint8).reshape(-1, WORD)
    ok: npt.NDArray[np.bool_] = (computed == commitments).all(axis=1)
    return ok


def group_by_length(entries: Sequence[bytes]) -> tuple[dict[int, list[int]], list[int]]:
    """Positions of ``entries`` by byte length, and those of no record's length (malformed)."""
    groups: dict[int, list[int]] = {}
    bad: list[int] = []
    for position, data in enumerate(entries):
        length = len(data)
        if length < MIN_RECORD or length % WORD:
            bad.append(position)
        else:
            groups.setdefault(length, []).append(position)
    return groups, bad


def word_int(data: bytes, word: int) -> int:
    """Word ``word`` of ``data`` as a signed int256."""
    return int.from_bytes(data[word * WORD : (word + 1) * WORD], "big", signed=True)


def exact_features(data: bytes) -> list[int]:
    """The features of a canonical record as Python integers (any int256)."""
    count = len(data) // WORD - (2 + HEAD_WORDS)
    return [word_int(data, 2 + HEAD_WORDS + i) for i in range(count)]
