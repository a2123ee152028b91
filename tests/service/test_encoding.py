"""Bulk record encoding: byte for byte what DecisionRecord.encode gives, on both paths."""

from __future__ import annotations

import hashlib
import pickle

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from chainml.log.record import DecisionRecord, commit_features
from chainml.service.encoding import NUMPY_FROM, PreparedRecords

INT64 = st.integers(-(2**63), 2**63 - 1)
INT256 = st.integers(-(2**255) + 100, 2**255 - 1)  # score - i stays in range


@settings(max_examples=40, deadline=None)
@given(
    rows=st.integers(1, NUMPY_FROM + 5).flatmap(
        lambda n: st.lists(st.lists(INT64, min_size=3, max_size=3), min_size=n, max_size=n)
    ),
    score=INT256,
    first=st.integers(0, 2**40),
    now=st.integers(0, 2**64 - 1),
)
def test_bulk_encoding_is_the_record_encoding(
    rows: list[list[int]], score: int, first: int, now: int
) -> None:
    n = len(rows)
    ids = [hashlib.sha256(b"%d" % i).digest() for i in range(n)]
    meta = [hashlib.sha256(b"m%d" % i).digest() for i in range(n)]
    scores = [score - i for i in range(n)]
    labels = [i % 2 for i in range(n)]
    model = hashlib.sha256(b"model").digest()
    prepared = PreparedRecords(model, np.array(rows, dtype=np.int64), scores, labels, ids, meta)
    shipped = pickle.loads(pickle.dumps(prepared))  # as the log-writer process receives it
    assert shipped.leaves(first, now) == prepared.leaves(first, now)
    for i, (data, request_id) in enumerate(prepared.leaves(first, now)):
        record = DecisionRecord(
            sequence=first + i,
            timestamp_ms=now,
            model_id=model,
            input_commitment=commit_features(rows[i]),
            score=scores[i],
            label=labels[i],
            request_id=ids[i],
            metadata_hash=meta[i],
            features=tuple(rows[i]),
        )
        assert data == record.encode()
        assert DecisionRecord.decode(data) == record
        assert request_id == ids[i]
