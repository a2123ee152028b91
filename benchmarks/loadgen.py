"""Load generation over keep-alive HTTP/1.1 on loopback: closed loop and open loop.

**Closed loop** (`run_closed`): each connection sends its next request when the answer to the
last one arrived. It finds the maximum throughput, but its latencies hide queueing: while the
server stalls the clients stop sending, so the requests that would have arrived during a stall
are never measured (coordinated omission), and p99 looks better than what users see.

**Open loop** (`run_open`): requests arrive at a constant rate whether or not earlier answers
came back. Slot j of a run is due at t0 + j / rate (client processes take turns); a due
request waits for a free connection if every connection is busy, and its latency counts from
the slot's *intended* time to its answer, so the queueing a stall causes is in the numbers as a
user arriving at that moment would see it. No slot is skipped: slots still unanswered when the
run gives up count with the time they had waited (a lower bound) and are reported as
``unfinished``. The generator's own lateness (``dispatch_lag_p99_ms``: how late the scheduler
released a slot) is reported so a saturated client is visible; it is included in the latencies,
never subtracted.

`find_max_rate` steps the arrival rate up until p99 misses the objective, then bisects.

**wrk** (`run_wrk`, optional: Debian's `wrk`, where installed): the same closed loop driven by a
C client, for rates where the Python clients would use more CPU than the server they measure
(the health probes). Callers fall back to `run_closed` where it is absent.

Why our own generator: wrk2, the open-loop tool whose latency correction this follows, is not
packaged in Debian (bookworm has only wrk, which is closed loop) and vegeta/oha are in neither
Debian nor PyPI; locust paces each simulated user, so a stalled user sends late and its wait is
not counted, and it is heavy (gevent). Each client process runs one asyncio loop (uvloop where
installed) with its own keep-alive connections; processes start by fork and meet at a wall-clock
start time.
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing as mp
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

HOST = "127.0.0.1"


@dataclass(frozen=True)
class Target:
    """What to send: a JSON body per request built from sample rows (batch 0: one record)."""

    port: int
    path: str
    rows: list[list[float]]
    prefix: str
    batch: int = 0
    api_key: str = ""
    method: str = "POST"  # GET: the path without a body (probes), rows unused


@dataclass(frozen=True)
class _Job:
    target: Target
    worker: int
    processes: int
    connections: int
    start_at: float  # wall clock (time.time), shared by every process
    seconds: float
    rate: float = 0.0  # total arrival rate over all processes; 0: closed loop
    drain: float = 2.0  # open loop: how long to wait for answers after the last slot


def _bodies(target: Target, worker: int) -> Callable[[], bytes]:
    encoded = [json.dumps(row, separators=(",", ":")) for row in target.rows]
    counter = iter(range(10**12))
    key = f"X-API-Key: {target.api_key}\r\n" if target.api_key else ""

    def one() -> str:
        i = next(counter)
        features = encoded[i % len(encoded)]
        return f'{{"request_id":"{target.prefix}-{worker}-{i}","features":{features}}}'

    if target.method == "GET":
        fixed = f"GET {target.path} HTTP/1.1\r\nHost: {HOST}\r\n{key}\r\n".encode()
        return lambda: fixed

    def request() -> bytes:
        if target.batch == 0:
            body = one().encode()
        else:
            body = ('{"records":[' + ",".join(one() for _ in range(target.batch)) + "]}").encode()
        head = (
            f"POST {target.path} HTTP/1.1\r\nHost: {HOST}\r\nContent-Type: application/json\r\n"
            f"{key}Content-Length: {len(body)}\r\n\r\n"
        )
        return head.encode() + body

    return request


async def _exchange(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes
) -> tuple[int, bytes]:
    writer.write(request)
    head = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        if line[:15].lower() == b"content-length:":
            length = int(line[15:])
    body = await reader.readexactly(length)
    return int(head.split(b" ", 2)[1]), body


async def _closed(job: _Job, make: Callable[[], bytes]) -> tuple[int, list[float], list[str]]:
    latencies: list[float] = []
    errors: list[str] = []

    async def connection(stop_at: float) -> int:
        reader, writer = await asyncio.open_connection(HOST, job.target.port)
        done = 0
        try:
            while time.perf_counter() < stop_at:
                request = make()
                started = time.perf_counter()
                status, body = await _exchange(reader, writer, request)
                latencies.append(time.perf_counter() - started)
                if status != 200:
                    errors.append(f"{status} {body[:200]!r}")
                    break
                done += 1
        finally:
            writer.close()
        return done

    await asyncio.sleep(max(0.0, job.start_at - time.time()))
    stop_at = time.perf_counter() + job.seconds
    counts = await asyncio.gather(*(connection(stop_at) for _ in range(job.connections)))
    return sum(counts), latencies, errors


@dataclass
class _OpenOutcome:
    samples: list[tuple[float, float]]  # (intended time from t0, latency), seconds
    lags: list[float]  # how late the scheduler released each slot, seconds
    errors: list[str]
    slots: int
    unfinished: int


async def _open(job: _Job, make: Callable[[], bytes]) -> _OpenOutcome:
    connections = await asyncio.gather(
        *(asyncio.open_connection(HOST, job.target.port) for _ in range(job.connections))
    )
    t0 = time.perf_counter() + (job.start_at - time.time())
    # slot j of the run is due at t0 + j / rate; process w takes slots w, w + P, w + 2P, ...
    mine = range(job.worker, round(job.seconds * job.rate), job.processes)
    due = [t0 + j / job.rate for j in mine]
    slots = len(due)
    queue: asyncio.Queue[int | None] = asyncio.Queue()
    waiting: dict[int, float] = {}  # slot -> intended time, until answered
    out = _OpenOutcome([], [], [], slots, 0)

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while (slot := await queue.get()) is not None:
                status, body = await _exchange(reader, writer, make())
                done = time.perf_counter()
                intended = waiting.pop(slot)
                out.samples.append((intended - t0, done - intended))
                if status != 200:
                    out.errors.append(f"{status} {body[:200]!r}")
        except (OSError, asyncio.IncompleteReadError) as err:
            out.errors.append(f"connection lost: {err!r}")  # its slot stays in `waiting`

    servers = [asyncio.create_task(serve(r, w)) for r, w in connections]
    k = 0
    while k < slots:
        now = time.perf_counter()
        while k < slots and due[k] <= now:  # late slots go at once, never dropped
            waiting[k] = due[k]
            out.lags.append(now - due[k])
            queue.put_nowait(k)
            k += 1
        if k < slots:
            await asyncio.sleep(due[k] - time.perf_counter())
    for _ in servers:
        queue.put_nowait(None)
    _, pending = await asyncio.wait(servers, timeout=job.drain)
    gave_up = time.perf_counter()
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
    for _, writer in connections:
        writer.close()
    for intended in waiting.values():  # never skipped: counted with what it had waited
        out.samples.append((intended - t0, gave_up - intended))
    out.unfinished = len(waiting)
    return out


def _client(job: _Job) -> Any:
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    make = _bodies(job.target, job.worker)
    if job.rate > 0:
        return asyncio.run(_open(job, make))
    return asyncio.run(_closed(job, make))


def _pool_map(job: _Job) -> list[Any]:
    jobs = [replace(job, worker=w) for w in range(job.processes)]
    with mp.get_context("fork").Pool(job.processes) as pool:
        return pool.map(_client, jobs)


def _quantile(ordered: Sequence[float], q: float) -> float:
    """The q-quantile (nearest rank) of sorted seconds, in milliseconds."""
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000 if ordered else 0.0


def run_closed(
    target: Target, *, processes: int, connections: int, seconds: float
) -> dict[str, Any]:
    """Drive ``target`` closed loop for ``seconds``: throughput and latency percentiles."""
    job = _Job(target, 0, processes, connections, time.time() + 0.5, seconds)
    outcomes = _pool_map(job)
    requests = sum(o[0] for o in outcomes)
    latencies = sorted(x for o in outcomes for x in o[1])
    errors = [e for o in outcomes for e in o[2]]
    if errors:
        raise SystemExit(f"{len(errors)} requests failed, first: {errors[0]}")
    return {
        "seconds": seconds,
        "concurrency": processes * connections,
        "requests": requests,
        "requests_per_s": requests / seconds,
        "decisions_per_s": requests * max(target.batch, 1) / seconds,
        "p50_ms": _quantile(latencies, 0.50),
        "p99_ms": _quantile(latencies, 0.99),
        "max_ms": latencies[-1] * 1000 if latencies else None,
    }


def run_open(
    target: Target,
    rate: float,
    *,
    processes: int,
    connections: int,
    seconds: float,
    drain: float = 2.0,
    keep_samples: bool = False,
) -> dict[str, Any]:
    """Send to ``target`` at ``rate`` requests/s for ``seconds``; latency from intended time.

    ``keep_samples`` adds every request as ``[intended send time from the start, latency]``
    (seconds, ms), in send order, under ``samples``.
    """
    job = _Job(target, 0, processes, connections, time.time() + 0.5, seconds, rate, drain)
    outcomes: list[_OpenOutcome] = _pool_map(job)
    errors = [e for o in outcomes for e in o.errors]
    if errors:
        raise SystemExit(f"{len(errors)} requests failed, first: {errors[0]}")
    samples = [s for o in outcomes for s in o.samples]
    latencies = sorted(latency for _, latency in samples)
    lags = sorted(x for o in outcomes for x in o.lags)
    slots = sum(o.slots for o in outcomes)
    unfinished = sum(o.unfinished for o in outcomes)
    by_second: list[list[float]] = [[] for _ in range(max(1, int(seconds + 0.999)))]
    for at, latency in samples:
        by_second[min(len(by_second) - 1, max(0, int(at)))].append(latency)
    return {
        "rate": rate,
        "seconds": seconds,
        "connections": processes * connections,
        "requests": slots,
        "answered": slots - unfinished,
        "unfinished": unfinished,
        "p50_ms": _quantile(latencies, 0.50),
        "p90_ms": _quantile(latencies, 0.90),
        "p99_ms": _quantile(latencies, 0.99),
        "p999_ms": _quantile(latencies, 0.999),
        "max_ms": latencies[-1] * 1000 if latencies else 0.0,
        "dispatch_lag_p99_ms": _quantile(lags, 0.99),
        "p99_ms_by_second": [round(_quantile(sorted(s), 0.99), 2) for s in by_second],
        **(
            {"samples": [[round(at, 6), round(ms * 1000, 3)] for at, ms in sorted(samples)]}
            if keep_samples
            else {}
        ),
    }


def find_max_rate(
    measure: Callable[[float], dict[str, Any]],
    ladder: Sequence[float],
    *,
    p99_ms: float,
    bisections: int,
    floor: float = 1.0,
) -> dict[str, Any]:
    """The highest arrival rate whose open-loop p99 is within ``p99_ms``, with every step.

    Steps up ``ladder`` until a rate misses (p99 over the objective or any slot unanswered),
    halves down from the first rate if even that misses (twice at most, not below ``floor``),
    then bisects between the best rate that met it and the lowest that missed. ``max_rate``
    is None when no rate met it; ``bounded`` is False when the top of the ladder still met it.
    """

    def met(step: dict[str, Any]) -> bool:
        return bool(step["p99_ms"] <= p99_ms and step["unfinished"] == 0)

    steps: list[dict[str, Any]] = []
    best: dict[str, Any] | None = None
    miss: dict[str, Any] | None = None

    def probe(rate: float) -> bool:
        nonlocal best, miss
        step = measure(rate)
        steps.append(step)
        if met(step):
            if best is None or rate > best["rate"]:
                best = step
            return True
        if miss is None or rate < miss["rate"]:
            miss = step
        return False

    for rate in ladder:
        if not probe(rate):
            break
    for _ in range(2):
        if best is not None or miss is None or miss["rate"] / 2 < floor:
            break
        probe(round_rate(miss["rate"] / 2))
    for _ in range(bisections):
        if best is None or miss is None:
            break
        rate = round_rate((best["rate"] + miss["rate"]) / 2)
        if rate <= best["rate"] or rate >= miss["rate"]:
            break
        probe(rate)
    return {
        "p99_objective_ms": p99_ms,
        "max_rate": best["rate"] if best else None,
        "at_max_rate": best,
        "lowest_miss": miss["rate"] if miss else None,
        "bounded": miss is not None,
        "steps": steps,
    }


def round_rate(rate: float) -> float:
    """Rates on a readable grid: tens above 100/s, whole numbers below."""
    return float(round(rate, -1) if rate >= 100 else max(1, round(rate)))


_WRK_SCRIPT = """
local rows = {%(rows)s}
local method, path, key, prefix, batch = %(method)s, %(path)s, %(key)s, %(prefix)s, %(batch)d
local counter = 0
id = 0  -- each thread's own, set by setup() below
local threads = {}

function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end

local function one()
  counter = counter + 1
  return '{"request_id":"' .. prefix .. '-w' .. id .. '-' .. counter .. '","features":'
    .. rows[counter %% #rows + 1] .. '}'
end

request = function()
  local headers = {}
  if key ~= "" then headers["X-API-Key"] = key end
  if method == "GET" then return wrk.format("GET", path, headers) end
  headers["Content-Type"] = "application/json"
  local body
  if batch == 0 then
    body = one()
  else
    local parts = {}
    for k = 1, batch do parts[k] = one() end
    body = '{"records":[' .. table.concat(parts, ",") .. ']}'
  end
  return wrk.format("POST", path, headers, body)
end

done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRK-JSON {"requests":%%d,"p50_us":%%d,"p99_us":%%d,"max_us":%%d,"status_errors":%%d,'
    .. '"socket_errors":%%d}\\n',
    summary.requests, latency:percentile(50), latency:percentile(99), latency.max,
    e.status, e.connect + e.read + e.write + e.timeout))
end
"""


def have_wrk() -> bool:
    """Whether the wrk load generator is installed."""
    return shutil.which("wrk") is not None


def run_wrk(
    target: Target, *, connections: int, seconds: float, threads: int = 2
) -> dict[str, Any]:
    """Drive ``target`` closed loop with wrk: the figures of :func:`run_closed`."""

    def lua(text: str) -> str:
        return json.dumps(text)  # a JSON string literal is a valid Lua string literal here

    rows = ",".join(lua(json.dumps(row, separators=(",", ":"))) for row in target.rows)
    script = _WRK_SCRIPT % {
        "rows": rows, "method": lua(target.method), "path": lua(target.path),
        "key": lua(target.api_key), "prefix": lua(target.prefix), "batch": target.batch,
    }  # fmt: skip
    with tempfile.NamedTemporaryFile("w", suffix=".lua") as file:
        file.write(script)
        file.flush()
        command = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds:g}s", "--timeout",
                   "10s", "-s", file.name, f"http://{HOST}:{target.port}{target.path}"]  # fmt: skip
        out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    line = next((x for x in out.splitlines() if x.startswith("WRK-JSON ")), None)
    if line is None:
        raise SystemExit(f"wrk printed no summary:\n{out}")
    found = json.loads(line.removeprefix("WRK-JSON "))
    if found["status_errors"] or found["socket_errors"]:
        raise SystemExit(f"wrk: {found['status_errors']} bad statuses, "
                         f"{found['socket_errors']} socket errors:\n{out}")  # fmt: skip
    requests = int(found["requests"])
    return {
        "seconds": seconds,
        "concurrency": connections,
        "requests": requests,
        "requests_per_s": requests / seconds,
        "decisions_per_s": requests * max(target.batch, 1) / seconds,
        "p50_ms": found["p50_us"] / 1000,
        "p99_ms": found["p99_us"] / 1000,
        "max_ms": found["max_us"] / 1000,
        "client": "wrk",
    }
