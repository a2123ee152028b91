"""append_batch: repeated request ids fail alone, and cost one store append, not one per repeat."""

from __future__ import annotations

import hashlib
import pickle
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path

import numpy as np
import pytest

from chainml.errors import DataDirectoryError
from chainml.log.decision_log import DecisionLog
from chainml.log.store import DuplicateRequestIdError, Leaf
from chainml.service.encoding import PreparedRecords
from chainml.service.log_writer import (
    Logged,
    LogWriterError,
    _portable,
    append_batch,
    restored,
)

MODEL = hashlib.sha256(b"model").digest()


def rid(name: str) -> bytes:
    return hashlib.sha256(name.encode()).digest()


def request(*names: str) -> PreparedRecords:
    n = len(names)
    features = np.arange(3 * n, dtype=np.int64).reshape(n, 3)
    meta = [rid("meta")] * n
    return PreparedRecords(MODEL, features, [7] * n, [0] * n, [rid(x) for x in names], meta)


class Counted:
    """Counts the batches the store is given to append (each built and hashed whole)."""

    def __init__(self, log: DecisionLog) -> None:
        self.calls: list[int] = []
        original = log.store.append_all

        def append_all(batches: Callable[[int], Iterable[Sequence[Leaf]]]) -> int:
            def counted(first: int) -> Iterator[Sequence[Leaf]]:
                for batch in batches(first):
                    self.calls.append(len(batch))
                    yield batch

            return original(counted)

        log.store.append_all = append_all  # type: ignore[method-assign]


@pytest.fixture
def log(tmp_path: Path) -> DecisionLog:
    with DecisionLog.open(tmp_path / "data") as opened:
        yield opened


def test_in_batch_repeats_cost_one_append(log: DecisionLog) -> None:
    counted = Counted(log)
    k = 40
    batch = [request("a"), *[request("a") for _ in range(k)], request("b", "c"), request("c")]
    outcomes = append_batch(log, batch)
    assert counted.calls == [3]  # a, b, c: once, however many repeats
    assert isinstance(outcomes[0], Logged) and outcomes[0].first == 0
    for repeat in outcomes[1 : k + 1]:
        assert isinstance(repeat, DuplicateRequestIdError) and repeat.request_id == rid("a")
        assert repeat.index is None  # in flight, not yet logged
    assert outcomes[k + 1] == Logged(1, 2, outcomes[0].timestamp_ms)
    assert isinstance(outcomes[k + 2], DuplicateRequestIdError)
    assert log.head().size == 3


def test_already_logged_ids_cost_one_refused_append(log: DecisionLog) -> None:
    k = 30
    append_batch(log, [request(f"x{i}") for i in range(k)] + [request("y")])
    counted = Counted(log)
    batch = [request(f"x{i}") for i in range(k)] + [request("new"), request("z", "y")]
    outcomes = append_batch(log, batch)
    assert len(counted.calls) == 2  # one refused (it writes nothing), one that writes
    assert counted.calls[-1] == 1
    for i, repeat in enumerate(outcomes[:k]):
        assert isinstance(repeat, DuplicateRequestIdError) and repeat.index == i
    assert isinstance(outcomes[k], Logged) and outcomes[k].first == k + 1
    last = outcomes[k + 1]
    assert isinstance(last, DuplicateRequestIdError) and last.index == k
    assert log.head().size == k + 2


def test_a_request_repeating_its_own_id_fails_alone(log: DecisionLog) -> None:
    outcomes = append_batch(log, [request("p", "p"), request("q")])
    assert isinstance(outcomes[0], DuplicateRequestIdError)
    assert isinstance(outcomes[1], Logged) and log.head().size == 1


def test_outcomes_cross_the_pipe_with_their_family() -> None:
    sent = [
        DuplicateRequestIdError(rid("d"), 4),
        DataDirectoryError("/data", "decisions.sqlite is read-only"),  # 500, not a retryable 503
        RuntimeError("disk I/O error"),
    ]
    back = [restored(pickle.loads(pickle.dumps(_portable(o)))) for o in sent]
    assert isinstance(back[0], DuplicateRequestIdError) and back[0].index == 4
    assert isinstance(back[1], DataDirectoryError) and str(back[1]) == str(sent[1])
    assert isinstance(back[2], LogWriterError) and "disk I/O error" in str(back[2])
