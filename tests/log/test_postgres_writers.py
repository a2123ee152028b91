"""Two writer processes on one PostgreSQL log, SIGKILLed under load: nothing acknowledged lost.

They stand for two `chainml serve` replicas sharing the log. Each appends batches as fast as it
can and acknowledges each after its commit; both are killed mid-stream, one after the other.
The log must then hold every acknowledged batch exactly where its append said, number every
record by its index (no gap, no duplicate), and hold nothing but whole batches.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from chainml.log.decision_log import DecisionLog
from chainml.log.postgres_store import PostgresLogStore
from tests.kill import REPO
from tests.log.pg_writer import BATCH
from tests.log.test_anchor import decisions
from tests.pg import fresh_schema, schema_url

WRITER = Path(__file__).with_name("pg_writer.py")


def _acknowledged(ack_file: Path) -> list[tuple[int, int]]:
    """The (round, first index) lines a writer acknowledged (a torn last line is ignored)."""
    if not ack_file.exists():
        return []
    lines = ack_file.read_text().split("\n")[:-1]
    return [(int(k), int(first)) for k, first in (line.split() for line in lines)]


def _start(url: str, tag: str, ack_file: Path, stderr: Path) -> subprocess.Popen[str]:
    environment = dict(os.environ, PYTHONPATH=f"{REPO / 'src'}{os.pathsep}{REPO}")
    with stderr.open("w") as err:
        proc = subprocess.Popen(
            [sys.executable, str(WRITER), url, tag, str(ack_file)],
            stdout=subprocess.PIPE,
            stderr=err,
            text=True,
            env=environment,
        )
    assert proc.stdout is not None
    ready = proc.stdout.readline().split()
    assert ready[:1] == ["ready"], f"{tag} did not start:\n{stderr.read_text()}"
    return proc


def _kill(proc: subprocess.Popen[str]) -> None:
    assert proc.poll() is None, "a writer stopped by itself"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    if proc.stdout is not None:
        proc.stdout.close()


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_two_writers_killed_under_load_lose_nothing_acknowledged(tmp_path: Path) -> None:
    with fresh_schema() as schema:
        url = schema_url(schema)
        PostgresLogStore(url).close()
        tags = ("a", "b")
        acks = {tag: tmp_path / f"{tag}.ack" for tag in tags}
        procs = {tag: _start(url, tag, acks[tag], tmp_path / f"{tag}.err") for tag in tags}
        try:
            time.sleep(2.0)
            _kill(procs["a"])  # mid-stream, while b keeps appending
            time.sleep(1.0)
            _kill(procs["b"])
        finally:
            for proc in procs.values():
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
        with DecisionLog(PostgresLogStore(url)) as log:
            size = log.head().size
            records = [log.record(i) for i in range(size)]
            # every record is numbered by its index: no gap, no duplicate, whoever wrote it
            assert [r.sequence for r in records] == list(range(size))
            batches: dict[str, list[int]] = {tag: [] for tag in tags}
            for first in range(0, size, BATCH):  # the log is whole batches, one after another
                ids = {r.request_id.rstrip(b"\0").decode() for r in records[first : first + BATCH]}
                tag = next(iter(ids))[0]
                k = int(min(i.split("-")[1] for i in ids)) // BATCH
                expected = {f"{tag}req-{i}" for i in range(k * BATCH, (k + 1) * BATCH)}
                assert ids == expected, f"batch at {first} is not one writer's whole round"
                batches[tag].append(k)
            for tag in tags:
                acknowledged = _acknowledged(acks[tag])
                assert len(acknowledged) > 3, f"{tag} acknowledged too little to test anything"
                # each writer's rounds are all there, in order, with at most one unacknowledged
                # round (committed, killed before its acknowledgement) at the end
                assert batches[tag] == list(range(len(batches[tag])))
                assert len(acknowledged) <= len(batches[tag]) <= len(acknowledged) + 1
                for k, first in acknowledged:  # exactly where the append said
                    request_id = decisions(k * BATCH, 1, tag)[0].request_id
                    assert log.index_of(request_id) == first
            report = log.audit()
            assert report.ok, report.problems
            assert log.append(decisions(0, 1, "c"))[0].sequence == size  # and it goes on
