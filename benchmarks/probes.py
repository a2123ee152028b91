"""Benchmark: health probes against scoring at the same concurrency, and unauthenticated bodies.

One ``chainml serve`` (anchoring on, durability ``full``, as in benchmarks/service.py) on
127.0.0.1. The closed-loop load generator (benchmarks/loadgen.py) drives, in turn and at the
same concurrency, ``POST /v1/score``, ``GET /livez``, ``GET /readyz`` and ``GET /healthz``;
the ratio of each probe's rate to the scoring rate is the figure of merit (issue 20: probes
>= 10x scoring; before, ``/healthz`` read SQLite in a thread and served 1,700-2,300 req/s with
p99 up to 72 ms at 64 connections, slower than scoring).

Then a client sends unauthenticated 15 MiB bodies in a loop (headers, then the body in 64 KiB
pieces while watching for an answer): how long until the 401 and how much of the body had been
sent, and the median latency of normal scoring while it runs, next to the median without it
(issue 20, before: 401 after 1.45 s, and the median went from 2.9 ms to 626 ms).

    python benchmarks/probes.py           # about 1 min
    python benchmarks/probes.py --quick   # a smoke run

The server is stopped by PID (SIGTERM, then SIGKILL).
"""

from __future__ import annotations

import argparse
import json
import select
import socket
import statistics
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from loadgen import HOST, Target, run_closed
from service import API_KEY, free_port, start_verifiable, stop, train, wait_ready

PROBES = ("/livez", "/readyz", "/healthz")
TARGET_RATIO = 10.0
BODY_BYTES = 15 * 1024 * 1024
PIECE = 64 * 1024
BEFORE = {"healthz_rps": "1,700-2,300", "unauthenticated_401_ms": 1450, "median_ms": (2.9, 626)}


def probe_rates(port: int, rows: list[list[float]], seconds: float, load: dict[str, int]) -> dict:
    """Closed-loop rate and latency of scoring and of each probe, at the same concurrency."""
    scoring = Target(port, "/v1/score", rows, "probes-score", api_key=API_KEY)
    out: dict[str, Any] = {"/v1/score": run_closed(scoring, seconds=seconds, **load)}
    for path in PROBES:
        probe = Target(port, path, rows, "", method="GET")
        out[path] = run_closed(probe, seconds=seconds, **load)
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


def run(quick: bool) -> dict[str, Any]:
    seconds = 1.5 if quick else 5.0
    load = {"processes": 2, "connections": 32}
    out: dict[str, Any] = {"benchmark": "probes", "quick": quick, "concurrency": 64,
                           "before": BEFORE, "target_ratio": TARGET_RATIO}  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="chainml-bench-probes-") as tmp:
        work = Path(tmp)
        model_id, rows = train(work / "data")
        port = free_port()
        proc = start_verifiable(work / "data", model_id, port, work / "server.log")
        try:
            wait_ready(port, proc, work / "server.log")
            run_closed(Target(port, "/v1/score", rows, "warm", api_key=API_KEY),
                       processes=1, connections=4, seconds=1.0)  # fmt: skip
            out["rates"] = probe_rates(port, rows, seconds, load)
            out["unauthenticated"] = under_attack(port, rows, seconds)
        finally:
            stop(proc)
    scoring = out["rates"]["/v1/score"]["requests_per_s"]
    out["ratio"] = {path: out["rates"][path]["requests_per_s"] / scoring for path in PROBES}
    return out


def report(out: dict[str, Any]) -> None:
    print(f"closed loop, {out['concurrency']} connections (2 client processes)")
    print(f"{'endpoint':<12}{'req/s':>10}{'p50 ms':>9}{'p99 ms':>9}{'x scoring':>11}")
    for path, result in out["rates"].items():
        ratio = out["ratio"].get(path)
        shown = f"{ratio:.1f}" if ratio is not None else "1.0"
        print(f"{path:<12}{result['requests_per_s']:>10,.0f}{result['p50_ms']:>9.2f}"
              f"{result['p99_ms']:>9.2f}{shown:>11}")  # fmt: skip
    readyz = out["ratio"]["/readyz"]
    verdict = "met" if readyz >= out["target_ratio"] else "NOT met"
    print(f"target: probes >= {out['target_ratio']:g}x scoring (readyz {readyz:.1f}x: {verdict}); "
          f"before: /healthz {out['before']['healthz_rps']} req/s, below scoring")  # fmt: skip
    attack = out["unauthenticated"]
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
    parser.add_argument("--output", type=Path, help="where to write the results as JSON")
    args = parser.parse_args()
    out = run(args.quick)
    report(out)
    if args.output is not None:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(json.dumps(out, indent=2) + "\n")
        print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
