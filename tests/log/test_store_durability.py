"""Durability of the SQLite log store: SIGKILL never loses an acknowledged append."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from chainml.log import merkle
from chainml.log.sqlite_store import SqliteLogStore
from tests.kill import run_then_kill
from tests.log.appender import data_of, request_id_of

APPENDER = Path(__file__).with_name("appender.py")
ROUNDS = 6


def _acknowledged(ack_file: Path) -> int:
    """The last size the appender acknowledged (a torn last line is ignored)."""
    if not ack_file.exists():
        return 0
    complete = ack_file.read_text().split("\n")[:-1]
    return int(complete[-1]) if complete else 0


def _run_and_kill(log_file: Path, ack_file: Path, seed: int, delay: float, log: Path) -> int:
    """Start the appender, let it run for ``delay`` seconds, SIGKILL it; return its start size."""
    return run_then_kill(APPENDER, [str(log_file), str(ack_file), str(seed)], delay, log)


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_sigkill_never_loses_an_acknowledged_append(tmp_path: Path) -> None:
    log_file, ack_file = tmp_path / "log.sqlite", tmp_path / "acknowledged.txt"
    rng = random.Random(20_240_612)
    for round_ in range(ROUNDS):
        acknowledged = _acknowledged(ack_file)
        log = tmp_path / f"appender-{round_}.log"
        start = _run_and_kill(log_file, ack_file, round_, rng.uniform(0.2, 1.2), log)
        # each restart finds at least every leaf acknowledged before the kill
        assert start >= acknowledged

    acknowledged = _acknowledged(ack_file)
    assert acknowledged > 0, "the appender acknowledged nothing: the test exercised no append"
    with SqliteLogStore(log_file) as store:
        size = store.size
        assert size >= acknowledged
        # every leaf that is there, acknowledged or not, is exactly what was appended at its index
        wrong = [i for i, data in store.iter_leaves() if data != data_of(i)]
        assert not wrong, f"{len(wrong)} leaves differ, first {wrong[:5]}"
        for i in random.Random(1).sample(range(size), min(size, 500)):
            expected = request_id_of(i)
            if expected is not None:
                assert store.index_of(expected) == i
        hashes = [merkle.leaf_hash(data_of(i)) for i in range(size)]
        assert store.root() == merkle.root(hashes)
        report = store.audit()
        assert report.ok, report.problems
        # and the log still takes appends after all those kills
        assert store.append([(data_of(size), request_id_of(size))]) == size
        assert store.root() == merkle.root([*hashes, merkle.leaf_hash(data_of(size))])
