"""Benchmark: health probes against scoring at the same concurrency, and unauthenticated bodies.

One ``chainml serve`` (anchoring on, durability ``full``, as in benchmarks/service.py) on
127.0.0.1. A closed-loop load generator drives, in turn and at the same concurrency,
``POST /v1/score``, ``GET /livez``, ``GET /readyz`` and ``GET /healthz``; the ratio of each
probe's rate to the scoring rate is the figure of merit (issue 20: probes >= 10x scoring;
before issue 20, ``/healthz`` read SQLite in a thread and served 1,700-2,300 req/s with p99 up
to 72 ms at 64 connections, slower than scoring).

The baseline runs in the same run: the same benchmark against a server started from another
commit's source (``--baseline``, default ``bebc894``: probes answered at the ASGI edge, 7.4x
scoring when measured), so a noisy machine shifts both sides together. The server's CPU use
during each phase is printed: well below one core (its event loop) means the load generator,
not the server, set the rate; and its CPU time per request (main process: the event loop and
its threads, not the log writer), which the client does not bound. The clients are
benchmarks/loadgen.py's Python processes, or ``wrk`` with ``--client wrk`` (Debian's package;
a C client leaves the server more of the two cores).

Then a client sends unauthenticated 15 MiB bodies in a loop (headers, then the body in 64 KiB
pieces while watching for an answer): how long until the 401 and how much of the body had been
sent, and the median latency of normal scoring while it runs, next to the median without it
(issue 20, before: 401 after 1.45 s, and the median went from 2.9 ms to 626 ms).

    python benchmarks/probes.py                  # about 2 min
    python benchmarks/probes.py --client wrk     # wrk drives the closed loops
    python benchmarks/probes.py --quick          # a smoke run (no baseline)

The server is stopped by PID (SIGTERM, then SIGKILL).
"""

from __future__ import annotations

import argparse
import json
import os
import select
import socket
import statistics
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from baseline_tree import commit_of, source_tree, with_pythonpath
from loadgen import HOST, Target, have_wrk, run_closed, run_wrk
from service import API_KEY, free_port, start_verifiable, stop, train, wait_ready

PROBES = ("/livez", "/readyz", "/healthz")
TARGET_RATIO = 10.0
BODY_BYTES = 15 * 1024 * 1024
PIECE = 64 * 1024
BEFORE = {"healthz_rps": "1,700-2,300", "unauthenticated_401_ms": 1450, "median_ms": (2.9, 626)}
BASELINE = "bebc894"  # main before the probes were answered by the protocol
LOAD = {"processes": 2, "connections": 32}  # 64 connections


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def closed(target: Target, seconds: float, client: str, pid: int) -> dict[str, Any]:
    """One closed-loop run, with the server's CPU use (cores) while it ran."""
    before, started = _cpu_seconds(pid), time.perf_counter()
    if client == "wrk":
        connections = LOAD["processes"] * LOAD["connections"]
        result = run_wrk(target, connections=connections, seconds=seconds)
        busy = time.perf_counter() - started
    else:
        result = run_closed(target, seconds=seconds, **LOAD)
        busy = time.perf_counter() - started - 0.5  # run_closed starts its clients 0.5 s late
    result["server_cores"] = (_cpu_seconds(pid) - before) / busy
    result["server_cpu_us_per_request"] = 1e6 * result["server_cores"] / result["requests_per_s"]
    return result


def probe_rates(
    port: int, rows: list[list[float]], seconds: float, client: str, pid: int
) -> dict[str, Any]:
    """Closed-loop rate and latency of scoring and of each probe, at the same concurrency."""
    scoring = Target(port, "/v1/score", rows, f"probes-score-{port}", api_key=API_KEY)
    out: dict[str, Any] = {"/v1/score": closed(scoring, seconds, client, pid)}
    for path in PROBES:
        probe = Target(port, path, rows, "", method="GET")
        out[path] = closed(probe, seconds, client, pid)
    return out


def unauthenticated_upload(port: int) -> dict[str, float]:
    """One 15 MiB POST without a key: ms until the answer, bytes sent by then, the status."""
    head = (
        f"POST /v1/score HTTP/1.1\r\nHost: {HOST}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {BODY_BYTES}\r\n\r\n"
    ).encode()
    piece = b"1" * PIECE
    with socket.create_connection((HOST, port), timeout=30) as sock:
        started = time.perf_counter()
        sock.sendall(head)
        sent = 0
        while sent < BODY_BYTES:
            readable, _, _ = select.select([sock], [], [], 0)
            if readable:
                break
            try:
                sock.sendall(piece)
            except OSError:  # the server answered and closed: read what it said
                break
            sent += PIECE
        answer = sock.recv(65536)
        elapsed = (time.perf_counter() - started) * 1000
    status = int(answer.split(b" ", 2)[1]) if answer.startswith(b"HTTP/1.1 ") else 0
    return {"ms": elapsed, "body_bytes_sent": sent, "status": status}


def under_attack(port: int, rows: list[list[float]], seconds: float) -> dict[str, Any]:
    """Scoring latency alone, then while unauthenticated 15 MiB uploads run in a loop."""
    load = {"processes": 1, "connections": 8}
    calm = run_closed(
        Target(port, "/v1/score", rows, "calm", api_key=API_KEY), seconds=seconds, **load
    )
    stop_at = time.monotonic() + seconds + 1.5
    uploads: list[dict[str, float]] = []

    def attack() -> None:
        while time.monotonic() < stop_at:
            uploads.append(unauthenticated_upload(port))

    attacker = threading.Thread(target=attack)
    attacker.start()
    stormy = run_closed(
        Target(port, "/v1/score", rows, "stormy", api_key=API_KEY), seconds=seconds, **load
    )
    attacker.join()
    return {
        "median_ms_without": calm["p50_ms"],
        "median_ms_with": stormy["p50_ms"],
        "uploads": len(uploads),
        "statuses": sorted({int(u["status"]) for u in uploads}),
        "refused_after_ms_median": statistics.median(u["ms"] for u in uploads),
        "refused_after_ms_max": max(u["ms"] for u in uploads),
        "body_bytes_sent_max": max(u["body_bytes_sent"] for u in uploads),
    }


def one_server(
    work: Path, model_id: str, rows: list[list[float]], name: str, args: Any, attack: bool
) -> dict[str, Any]:
    """Start a server from the source on PYTHONPATH, measure it, stop it."""
    seconds = 1.5 if args.quick else 5.0
    port = free_port()
    log = work / f"server-{name}.log"
    proc = start_verifiable(work / "data", model_id, port, log)
    try:
        wait_ready(port, proc, log)
        run_closed(Target(port, "/v1/score", rows, f"warm-{name}", api_key=API_KEY),
                   processes=1, connections=4, seconds=1.0)  # fmt: skip
        out: dict[str, Any] = {"rates": probe_rates(port, rows, seconds, args.client, proc.pid)}
        if attack:
            out["unauthenticated"] = under_attack(port, rows, seconds)
    finally:
        stop(proc)
    scoring = out["rates"]["/v1/score"]["requests_per_s"]
    out["ratio"] = {path: out["rates"][path]["requests_per_s"] / scoring for path in PROBES}
    return out


def run(args: Any) -> dict[str, Any]:
    if args.client == "wrk" and not have_wrk():
        raise SystemExit("--client wrk: wrk is not installed (apt-get install wrk)")
    baseline = None if args.quick or args.no_baseline else args.baseline
    out: dict[str, Any] = {"benchmark": "probes", "quick": args.quick, "client": args.client,
                           "concurrency": LOAD["processes"] * LOAD["connections"],
                           "before": BEFORE, "target_ratio": TARGET_RATIO}  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="chainml-bench-probes-") as tmp:
        work = Path(tmp)
        model_id, rows = train(work / "data")
        out["servers"] = {"this tree": one_server(work, model_id, rows, "new", args, True)}
        if baseline is not None:
            name = f"baseline {commit_of(baseline)}"
            out["baseline_commit"] = commit_of(baseline)
            with source_tree(baseline) as tree, with_pythonpath(tree):
                out["servers"][name] = one_server(work, model_id, rows, "old", args, False)
    return out


def report(out: dict[str, Any]) -> None:
    client = "wrk, 2 threads" if out["client"] == "wrk" else "2 Python client processes"
    print(f"closed loop, {out['concurrency']} connections ({client}); a shared, noisy 2-core "
          "machine: compare within the run")  # fmt: skip
    print(f"{'server':<20}{'endpoint':<12}{'req/s':>10}{'p50 ms':>9}{'p99 ms':>9}"
          f"{'x scoring':>11}{'server cores':>14}{'CPU us/req':>12}")  # fmt: skip
    for server, measured in out["servers"].items():
        for path, result in measured["rates"].items():
            ratio = measured["ratio"].get(path)
            shown = f"{ratio:.1f}" if ratio is not None else "1.0"
            print(f"{server:<20}{path:<12}{result['requests_per_s']:>10,.0f}"
                  f"{result['p50_ms']:>9.2f}{result['p99_ms']:>9.2f}{shown:>11}"
                  f"{result['server_cores']:>14.2f}"
                  f"{result['server_cpu_us_per_request']:>12,.0f}")  # fmt: skip
    mine = out["servers"]["this tree"]
    readyz = mine["ratio"]["/readyz"]
    verdict = "met" if min(mine["ratio"].values()) >= out["target_ratio"] else "NOT met"
    print(f"target: probes >= {out['target_ratio']:g}x scoring (lowest "
          f"{min(mine['ratio'].values()):.1f}x, readyz {readyz:.1f}x: {verdict}); before issue "
          f"20: /healthz {out['before']['healthz_rps']} req/s, below scoring")  # fmt: skip
    attack = mine["unauthenticated"]
    before_calm, before_stormy = out["before"]["median_ms"]
    print(f"unauthenticated 15 MiB bodies ({attack['uploads']}, answered {attack['statuses']}): "
          f"refused after {attack['refused_after_ms_median']:.1f} ms median "
          f"({attack['refused_after_ms_max']:.1f} max) with at most "
          f"{attack['body_bytes_sent_max'] / 1024:.0f} KiB of the body sent "
          f"(before: {out['before']['unauthenticated_401_ms']} ms, whole body read)")  # fmt: skip
    print(
        f"scoring median while they run: {attack['median_ms_with']:.2f} ms, without "
        f"{attack['median_ms_without']:.2f} ms (before: {before_stormy} ms vs {before_calm} ms)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run of a few seconds")
    parser.add_argument(
        "--client", choices=("python", "wrk"), default="python", help="the closed-loop clients"
    )
    parser.add_argument("--baseline", default=BASELINE, help="the commit to compare with")
    parser.add_argument("--no-baseline", action="store_true", help="measure this tree only")
    parser.add_argument("--output", type=Path, help="where to write the results as JSON")
    args = parser.parse_args()
    out = run(args)
    report(out)
    if args.output is not None:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(json.dumps(out, indent=2) + "\n")
        print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
