"""The DecisionLog facade: numbering, atomic batches, and the record-level audit."""

from __future__ import annotations

from pathlib import Path

import pytest

from chainml.errors import InvalidInputError
from chainml.log.decision_log import DecisionLog
from chainml.log.record import DecisionRecord, commit_features
from tests.log.test_anchor import decisions


@pytest.fixture(params=["sqlite", "postgres"])
def log(request: pytest.FixtureRequest, tmp_path: Path):
    if request.param == "postgres":
        from tests.pg import ThrowawayStore

        with DecisionLog(ThrowawayStore()) as shared:
            yield shared
        return
    with DecisionLog.open(tmp_path / "log", durability="normal") as opened:
        yield opened


def test_records_are_numbered_by_their_index(log: DecisionLog) -> None:
    first = log.append(decisions(0, 3))
    second = log.append(decisions(3, 2))
    assert [r.sequence for r in first + second] == [0, 1, 2, 3, 4]
    assert log.record(3) == second[0]
    assert log.index_of(second[1].request_id) == 4
    assert first[0].input_commitment == commit_features(first[0].features)
    assert log.audit().ok


def _append_often(path: Path, tag: str, rounds: int) -> None:
    with DecisionLog.open(path, durability="normal") as log:
        for i in range(rounds):
            log.append(decisions(50 * i, 50, tag))  # encoding 50 takes a while: a wide window


def test_two_processes_on_one_log_number_every_record_by_its_index(tmp_path: Path) -> None:
    # two `chainml serve` on one data directory: each appends while the other's leaves land
    # between its look at the size and its commit, unless the size is read inside the commit
    import multiprocessing

    path = tmp_path / "log"
    DecisionLog.open(path, durability="normal").close()
    spawn = multiprocessing.get_context("spawn")
    writers = [spawn.Process(target=_append_often, args=(path, t, 60)) for t in "ab"]
    for writer in writers:
        writer.start()
    for writer in writers:
        writer.join(120)
        assert writer.exitcode == 0
    with DecisionLog.open(path, durability="normal") as log:
        assert log.head().size == 6000
        assert [log.record(i).sequence for i in range(6000)] == list(range(6000))
        assert log.audit().ok
        with pytest.raises(InvalidInputError):  # each request id once, whoever logged it
            log.append(decisions(7, 1, "a"))


def test_a_failing_batch_appends_nothing(log: DecisionLog) -> None:
    log.append(decisions(0, 3))
    head = log.head()
    with pytest.raises(InvalidInputError):
        log.append(decisions(3, 2) + decisions(1, 1))  # request id of decision 1 again
    assert log.head() == head


def _raw(sequence: int, request: bytes) -> DecisionRecord:
    return DecisionRecord(
        sequence=sequence,
        timestamp_ms=1,
        model_id=bytes(32),
        input_commitment=bytes(32),
        score=0,
        label=0,
        request_id=request,
    )


def test_audit_catches_what_the_store_cannot(log: DecisionLog) -> None:
    log.append(decisions(0, 4))
    # Written behind the facade's back: a record numbered 9 at index 4, and one whose
    # indexed request id is not the one inside the record.
    log.store.append([(_raw(9, b"\x01" * 32).encode(), b"\x01" * 32)])
    log.store.append([(_raw(5, b"\x02" * 32).encode(), b"\x03" * 32)])
    log.store.append([(b"not a record", None)])
    report = log.audit()
    assert not report.ok and report.problem_count == 3
    assert [p.index for p in report.problems] == [4, 5, 6]
    assert "holds record 9" in report.problems[0].detail
    assert "request-id index" in report.problems[1].detail
    assert "not a decision record" in report.problems[2].detail
