"""benchmarks/loadgen.py: open-loop latencies count queueing from the intended send time."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[1]

# A tiny HTTP/1.1 server that answers every request at once, except that it stalls every
# connection for STALL seconds starting STALL_AT seconds after its first request.
STALL_AT, STALL = 0.5, 0.3
SERVER = f"""
import asyncio, sys, time
first = None
async def handle(reader, writer):
    global first
    try:
        while True:
            head = await reader.readuntil(b"\\r\\n\\r\\n")
            length = 0
            for line in head.split(b"\\r\\n")[1:]:
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            await reader.readexactly(length)
            now = time.monotonic()
            first = first or now
            stall_from = first + {STALL_AT}
            if stall_from <= now < stall_from + {STALL}:
                await asyncio.sleep(stall_from + {STALL} - now)
            writer.write(b"HTTP/1.1 200 OK\\r\\nContent-Length: 2\\r\\n\\r\\n{{}}")
    except (asyncio.IncompleteReadError, ConnectionError):
        writer.close()
async def main():
    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    print(server.sockets[0].getsockname()[1], flush=True)
    await asyncio.sleep(60)
asyncio.run(main())
"""


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("loadgen", REPO / "benchmarks" / "loadgen.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["loadgen"] = module  # the forked clients unpickle their jobs by this name
    spec.loader.exec_module(module)
    return module


loadgen = _load()


@pytest.fixture
def stalling_server() -> Iterator[int]:
    proc = subprocess.Popen([sys.executable, "-c", SERVER], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        yield int(proc.stdout.readline())
    finally:
        proc.kill()
        proc.wait()


def _target(port: int) -> Any:
    return loadgen.Target(port, "/v1/score", [[1.0, 2.0]], "t")


def test_open_loop_counts_the_queue_a_stall_builds(stalling_server: int) -> None:
    rate, seconds = 200, 1.5
    result = loadgen.run_open(
        _target(stalling_server), rate, processes=1, connections=4, seconds=seconds, drain=2.0
    )
    # every slot was sent and answered: none skipped while the server stalled
    assert result["requests"] == result["answered"] == rate * seconds
    assert result["unfinished"] == 0
    # the 60 slots due during the 300 ms stall waited for it; 40 of them more than 100 ms.
    # A closed loop with 4 connections records at most 4 such waits.
    slow = result["p90_ms"]
    assert result["p99_ms"] >= 200
    assert slow >= 100  # 40 of 300 samples (13%) are over 100 ms
    assert result["p50_ms"] < 50
    spikes = result["p99_ms_by_second"]
    assert spikes[0] >= 200 and spikes[1] < 50  # the stall is in the first second only


def test_open_loop_keeps_each_request_with_its_send_time(stalling_server: int) -> None:
    result = loadgen.run_open(
        _target(stalling_server),
        200,
        processes=1,
        connections=4,
        seconds=1.5,
        drain=2.0,
        keep_samples=True,
    )
    samples = result["samples"]  # [intended send time (s from the start), latency (ms)]
    assert len(samples) == result["requests"] == 300
    sent = [at for at, _ in samples]
    assert sent == sorted(sent) and sent[0] >= 0 and sent[-1] < 1.5
    worst_at, worst_ms = max(samples, key=lambda sample: sample[1])
    assert worst_ms == pytest.approx(result["max_ms"], abs=0.01)  # the stall's victims
    assert worst_ms >= 200
    assert 0.3 <= worst_at <= 1.0  # it began 0.5 s in and lasted 0.3 s
    assert "samples" not in loadgen.run_open(
        _target(stalling_server), 50, processes=1, connections=2, seconds=0.2, drain=1.0
    )


def test_closed_loop_hides_the_same_stall(stalling_server: int) -> None:
    """The control: why the open loop exists. Same server, same stall, closed loop."""
    result = loadgen.run_closed(_target(stalling_server), processes=1, connections=4, seconds=1.5)
    assert result["max_ms"] >= 200  # the stall happened ...
    assert result["p99_ms"] < 50  # ... but only 4 of thousands of samples saw it


def test_unanswered_slots_are_counted_not_skipped(stalling_server: int) -> None:
    # drain shorter than the stall: the slots stuck behind it are reported as unfinished and
    # count with the time they had waited, so p99 cannot look good
    result = loadgen.run_open(
        _target(stalling_server), 100, processes=1, connections=2, seconds=0.6, drain=0.05
    )
    assert result["requests"] == 60
    assert result["unfinished"] > 0
    assert result["answered"] + result["unfinished"] == 60
    assert result["max_ms"] >= 50


def test_open_loop_processes_share_the_rate_exactly(stalling_server: int) -> None:
    # 25 slots in 1 s over 2 processes: 13 + 12, not 2 x round(12.5)
    result = loadgen.run_open(
        _target(stalling_server), 25, processes=2, connections=2, seconds=1.0, drain=1.0
    )
    assert result["requests"] == result["answered"] == 25
    assert result["connections"] == 4


def _fake(p99_at: dict[float, float], unfinished: frozenset[float] = frozenset()) -> Any:
    seen: list[float] = []

    def measure(rate: float) -> dict[str, Any]:
        seen.append(rate)
        return {"rate": rate, "p99_ms": p99_at.get(rate, rate / 100), "unfinished": 0}

    measure.seen = seen  # type: ignore[attr-defined]
    return measure


def test_search_steps_up_then_bisects() -> None:
    measure = _fake({})  # p99 = rate / 100 ms: the objective of 20 ms is met up to 2,000/s
    found = loadgen.find_max_rate(measure, [500, 1000, 1500, 2500, 3000], p99_ms=20, bisections=2)
    assert measure.seen == [500, 1000, 1500, 2500, 2000, 2250]
    assert found["max_rate"] == 2000
    assert found["lowest_miss"] == 2250
    assert found["bounded"]
    assert found["at_max_rate"]["p99_ms"] == 20


def test_search_steps_down_when_the_first_rate_misses() -> None:
    measure = _fake({})
    found = loadgen.find_max_rate(measure, [8000, 9000], p99_ms=20, bisections=1)
    assert measure.seen == [8000, 4000, 2000, 3000]
    assert found["max_rate"] == 2000


def test_search_reports_unbounded_and_unanswered() -> None:
    found = loadgen.find_max_rate(_fake({}), [100, 200], p99_ms=20, bisections=2)
    assert found["max_rate"] == 200 and not found["bounded"]

    def lossy(rate: float) -> dict[str, Any]:  # a low p99 with unanswered slots is a miss
        return {"rate": rate, "p99_ms": 1.0, "unfinished": 1 if rate > 150 else 0}

    found = loadgen.find_max_rate(lossy, [100, 200], p99_ms=20, bisections=0)
    assert found["max_rate"] == 100 and found["lowest_miss"] == 200
