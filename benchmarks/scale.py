"""Benchmark: the PostgreSQL decision log next to SQLite, and service replicas sharing it.

One run, printed side by side, the baseline in the same run:

1. **appends**: ``--leaves`` leaves (default 1,000,000) of the size of a real decision record
   (a 3-feature ``DecisionRecord``, 480 bytes, as in benchmarks/log.py; random bytes) with
   random 32-byte request ids, appended in durable batches of 10,000 (one ``append``, one
   committed transaction each: SQLite ``durability="full"``, an fsync per commit; PostgreSQL
   ``synchronous_commit=on``), the same leaves to both stores. Records per second over the
   whole fill.
2. **proofs at the full size**: inclusion proofs of random leaves at the current size, and
   consistency proofs from random older sizes, through the public API (the size read each
   time), after a warm-up: p50 and p99 per store.
3. **replicas** (``chainml serve`` processes, pinned model, anchoring off so that every setup
   does the same work): one replica on SQLite (the default), one on PostgreSQL, two on one
   PostgreSQL log; closed-loop single-record throughput (16 requests in flight per replica)
   and batch decisions per second (1,000 records a request). Two replicas are compared with one
   on the same log.

Targets (issue 18): PostgreSQL appends >= 50,000 records/s; proofs at 1M leaves p99 <= 2 ms;
two replicas >= 1.6x one in single-request throughput (this machine has 2 cores, shared by
both replicas, PostgreSQL and the load generator: the ratio is bounded by that, reported as
measured) and batch decisions/s >= one replica. The machine is shared and noisy: numbers move
by tens of percent between runs.

    python benchmarks/scale.py                 # benchmarks/results/scale.json
    python benchmarks/scale.py --quick         # 50,000 leaves, 3 s loads: a smoke run
    CHAINML_TEST_POSTGRES=postgresql://...     # the server (default: root@127.0.0.1/test)
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import secrets
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from loadgen import HOST, Target, run_closed
from service import API_KEY, REPO, free_port, stop, train, wait_ready

from chainml.log.decision_log import Decision
from chainml.log.postgres_store import PostgresLogStore
from chainml.log.sqlite_store import SqliteLogStore
from chainml.log.store import Leaf, LogStore

SERVER = os.environ.get("CHAINML_TEST_POSTGRES", "postgresql://root@127.0.0.1:5432/test")
RESULTS = REPO / "benchmarks" / "results" / "scale.json"
BATCH = 10_000
TARGETS = {"pg_appends_per_s": 50_000.0, "proof_p99_ms": 2.0, "replica_ratio": 1.6}
SINGLE = {"processes": 2, "connections": 8}
BATCHED = {"processes": 1, "connections": 4}


def record_bytes() -> int:
    """The size of a real decision record with 3 features (what the benchmark appends)."""
    decision = Decision(b"\x11" * 32, 12345, 1, b"\x22" * 32, (7, -7, 42))
    return len(decision.to_record(123_456, 1_700_000_000_000).encode())


def batch_of(seed: int, size: int, data_bytes: int) -> list[Leaf]:
    rng = random.Random(seed)
    return [(rng.randbytes(data_bytes), rng.randbytes(32)) for _ in range(size)]


def drop_schema(schema: str) -> None:
    import psycopg

    with psycopg.connect(SERVER, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def pg_url(schema: str) -> str:
    return f"{SERVER}{'&' if '?' in SERVER else '?'}schema={schema}"


def quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


# -- 1 and 2: the stores ---------------------------------------------------------------------


def fill(store: LogStore, leaves: int, data_bytes: int, size: int) -> dict[str, float]:
    """Durable batches of ``size`` leaves; the time spent in ``append`` only."""
    spent = 0.0
    for k, at in enumerate(range(0, leaves, size)):
        batch = batch_of(k, min(size, leaves - at), data_bytes)
        started = time.perf_counter()
        store.append(batch)
        spent += time.perf_counter() - started
        print(f"\r  {at + len(batch):>9,} leaves", end="", file=sys.stderr, flush=True)
    print(file=sys.stderr)
    return {"leaves": leaves, "seconds": spent, "per_s": leaves / spent}


def proofs(store: LogStore, samples: int) -> dict[str, float]:
    size = store.size
    rng = random.Random(7)

    def timed(call: Callable[[], object], n: int) -> list[float]:
        for _ in range(min(500, n)):  # warm-up: connections, caches, pages
            call()
        found = []
        for _ in range(n):
            started = time.perf_counter()
            call()
            found.append((time.perf_counter() - started) * 1000)
        return found

    inclusion = timed(lambda: store.inclusion_proof(rng.randrange(size)), samples)
    consistency = timed(lambda: store.consistency_proof(rng.randrange(1, size)), samples // 4)
    return {
        "size": size,
        "inclusion_p50_ms": quantile(inclusion, 0.5),
        "inclusion_p99_ms": quantile(inclusion, 0.99),
        "consistency_p50_ms": quantile(consistency, 0.5),
        "consistency_p99_ms": quantile(consistency, 0.99),
    }


def stores(work: Path, leaves: int, samples: int, batch: int = BATCH) -> dict[str, Any]:
    data_bytes = record_bytes()
    out: dict[str, Any] = {"record_bytes": data_bytes, "batch": batch}
    schema = f"bench_{secrets.token_hex(6)}"
    try:
        opened: dict[str, Callable[[], LogStore]] = {
            "sqlite": lambda: SqliteLogStore(work / "log.sqlite", durability="full"),
            "postgres": lambda: PostgresLogStore(pg_url(schema)),
        }
        for name, open_store in opened.items():
            print(f"{name}: appending {leaves:,} leaves", file=sys.stderr)
            with open_store() as store:
                out[name] = {"appends": fill(store, leaves, data_bytes, batch)}
            with open_store() as store:  # reopened: proofs from a cold start, then warm
                out[name]["proofs"] = proofs(store, samples)
    finally:
        drop_schema(schema)
    return out


# -- 3: replicas ------------------------------------------------------------------------------


def start_replica(
    data_dir: Path, model_id: str, port: int, log: Path, url: str | None
) -> subprocess.Popen[bytes]:
    """``chainml serve`` pinned to ``model_id``, anchoring off, on ``url``'s log (None: SQLite)."""
    command = [sys.executable, "-m", "chainml.cli.main", "--data-dir", str(data_dir)]
    if url is not None:
        command += ["--log", url]
    command += ["serve", "--host", HOST, "--port", str(port), "--model", model_id]
    command += ["--api-key", API_KEY, "--no-anchor"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHAINML_")}
    env["CHAINML_DURABILITY"] = "full"
    with log.open("wb") as out:
        return subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=REPO)


def load(ports: list[int], rows: list[list[float]], tag: str, seconds: float) -> dict[str, Any]:
    """Closed-loop single and batch load on every port at once; the totals."""
    out: dict[str, Any] = {}
    for kind, path, batch, shape in (
        ("single", "/v1/score", 0, SINGLE),
        ("batch", "/v1/score/batch", 1000, BATCHED),
    ):
        results: list[dict[str, Any]] = []

        def drive(port: int, kind: str = kind, path: str = path, batch: int = batch) -> None:
            target = Target(port, path, rows, f"{tag}-{kind}-{port}", batch, API_KEY)
            results.append(run_closed(target, seconds=seconds, **shape))  # noqa: B023

        threads = [threading.Thread(target=drive, args=(port,)) for port in ports]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        out[kind] = {
            "requests_per_s": sum(r["requests_per_s"] for r in results),
            "decisions_per_s": sum(r["decisions_per_s"] for r in results),
            "p99_ms": max(r["p99_ms"] for r in results),
            "per_replica": results,
        }
    return out


def replicas(work: Path, seconds: float) -> dict[str, Any]:
    first = work / "replica-0"
    model_id, rows = train(first)
    second = work / "replica-1"
    shutil.copytree(first, second)  # the same stored model; each replica its own directory
    schema = f"bench_{secrets.token_hex(6)}"
    url = pg_url(schema)
    setups: dict[str, list[tuple[Path, str | None]]] = {
        "one_sqlite": [(first, None)],
        "one_postgres": [(first, url)],
        "two_postgres": [(first, url), (second, url)],
    }
    out: dict[str, Any] = {"model": model_id, "seconds": seconds}
    try:
        for name, members in setups.items():
            print(f"replicas: {name}", file=sys.stderr)
            ports = [free_port() for _ in members]
            procs = [
                start_replica(d, model_id, p, work / f"{name}-{k}.log", u)
                for k, ((d, u), p) in enumerate(zip(members, ports, strict=True))
            ]
            try:
                for k, (proc, port) in enumerate(zip(procs, ports, strict=True)):
                    wait_ready(port, proc, work / f"{name}-{k}.log")
                load(ports, rows, f"{name}-warm", 1.0)
                out[name] = load(ports, rows, name, seconds)
            finally:
                for proc in procs:
                    stop(proc)
        with PostgresLogStore(url) as store:  # both replicas wrote one log, every record once
            out["two_postgres"]["log_audit_ok"] = store.audit().ok
    finally:
        drop_schema(schema)
    one, two = out["one_postgres"], out["two_postgres"]
    out["ratio"] = {
        "single": two["single"]["requests_per_s"] / one["single"]["requests_per_s"],
        "batch": two["batch"]["decisions_per_s"] / one["batch"]["decisions_per_s"],
    }
    return out


# -- report -----------------------------------------------------------------------------------


def report(out: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    s = out["stores"]
    table = Table(title=f"log stores, {s['postgres']['proofs']['size']:,} leaves of "
                  f"{s['record_bytes']} bytes (noisy shared 2-core machine)")  # fmt: skip
    table.add_column("")
    for name in ("sqlite (baseline)", "postgres", "postgres / sqlite", "target"):
        table.add_column(name, justify="right")
    appends_target = f"{TARGETS['pg_appends_per_s']:,.0f}"
    rows = [
        ("durable appends /s", "appends", "per_s", appends_target, "{:,.0f}"),
        ("inclusion p50 ms", "proofs", "inclusion_p50_ms", "", "{:.3f}"),
        ("inclusion p99 ms", "proofs", "inclusion_p99_ms", f"{TARGETS['proof_p99_ms']}", "{:.3f}"),
        ("consistency p50 ms", "proofs", "consistency_p50_ms", "", "{:.3f}"),
        ("consistency p99 ms", "proofs", "consistency_p99_ms", "", "{:.3f}"),
    ]  # fmt: skip
    for label, part, key, target, fmt in rows:
        a, b = s["sqlite"][part][key], s["postgres"][part][key]
        table.add_row(label, fmt.format(a), fmt.format(b), f"{b / a:.2f}x", target)
    console.print(table)
    if "replicas" in out:
        r = out["replicas"]
        table = Table(title="chainml serve replicas (closed loop, anchoring off, fsync on)")
        table.add_column("")
        for name in ("one, sqlite", "one, postgres (baseline)", "two, postgres", "two / one"):
            table.add_column(name, justify="right")
        for label, kind, key in (
            ("single requests /s", "single", "requests_per_s"),
            ("single p99 ms", "single", "p99_ms"),
            ("batch decisions /s", "batch", "decisions_per_s"),
        ):
            a, b, c = (r[n][kind][key] for n in ("one_sqlite", "one_postgres", "two_postgres"))
            table.add_row(label, f"{a:,.1f}", f"{b:,.1f}", f"{c:,.1f}", f"{c / b:.2f}x")
        console.print(table)
        console.print(
            f"targets: two replicas >= {TARGETS['replica_ratio']}x one (single), batch >= 1x; "
            "both replicas, PostgreSQL and the load generator share 2 cores"
        )
    console.print(json.dumps(out["checks"]))


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--leaves", type=int, default=1_000_000)
    parser.add_argument("--samples", type=int, default=5_000)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--batch", type=int, default=BATCH, help="leaves per durable append")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--no-replicas", action="store_true")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    if args.quick:
        args.leaves, args.samples, args.seconds = 50_000, 1_000, 3.0
    out: dict[str, Any] = {
        "benchmark": "scale",
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "postgres": SERVER.split("@")[-1],
        "note": "shared 2-core machine, other jobs running: numbers are noisy",
    }
    with tempfile.TemporaryDirectory(prefix="chainml-bench-scale-") as tmp:
        out["stores"] = stores(Path(tmp), args.leaves, args.samples, args.batch)
        if not args.no_replicas:
            out["replicas"] = replicas(Path(tmp), args.seconds)
    pg = out["stores"]["postgres"]
    out["checks"] = {
        "pg_appends_per_s": pg["appends"]["per_s"] >= TARGETS["pg_appends_per_s"],
        "proof_p99_ms": pg["proofs"]["inclusion_p99_ms"] <= TARGETS["proof_p99_ms"],
    }
    if "replicas" in out:
        ratio = out["replicas"]["ratio"]
        out["checks"]["replica_ratio"] = ratio["single"] >= TARGETS["replica_ratio"]
        out["checks"]["replica_batch"] = ratio["batch"] >= 1.0
    report(out)
    path = args.json or (None if args.quick else RESULTS)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(out, indent=2) + "\n")
        print(f"written to {path}", file=sys.stderr)
    return out


if __name__ == "__main__":
    main()
