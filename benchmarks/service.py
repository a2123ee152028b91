"""Benchmark: the scoring service over real HTTP on loopback, next to the same model unlogged.

Two servers run side by side as separate processes on 127.0.0.1, each one uvicorn process
with one event loop (uvloop, httptools):

- **verifiable**: ``chainml serve`` — API key check, validation, scoring, every decision
  appended to the decision log and fsync'd (group commit) before the response, background
  anchoring on the embedded chain;
- **plain** (the baseline): the same model, the same request schema and scoring code behind a
  plain FastAPI endpoint, no log.

The load generator is pure Python: client processes, each with an asyncio event loop holding
keep-alive HTTP/1.1 connections (closed loop: a connection sends its next request when the
answer to the last one arrived). It measures single-record throughput and p50/p99 latency,
and batch throughput (decisions logged durably per second). The cost of verifiability is the
ratio of the plain throughput to the verifiable one.

    python benchmarks/service.py           # full run, writes benchmarks/results/service.json
    python benchmarks/service.py --quick   # smoke run (seconds), writes nothing unless --output

Servers are stopped by PID (SIGTERM, then SIGKILL). Targets on 2 cores: >= 1,500 single
requests/s with p99 <= 20 ms; batch >= 50,000 decisions/s; cost ratio <= 1.3.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

from fastapi import Response

from chainml.service.schemas import BatchRequest, ScoreRequest

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results" / "service.json"
API_KEY = "benchmark-api-key-0123456789"
HOST = "127.0.0.1"
TARGETS = {"single_rps": 1500.0, "single_p99_ms": 20.0, "batch_dps": 50_000.0, "ratio": 1.3}


# -- the model and the servers -------------------------------------------------------------


def train(data_dir: Path) -> tuple[str, list[list[float]]]:
    """A small logistic regression on simulated payments; returns its id and sample rows."""
    from chainml.models.artifacts import save_model
    from chainml.models.simulator import simulate_payments
    from chainml.models.train import train_model

    dataset = simulate_payments(4000, seed=7).dataset()
    artifact, _ = save_model(data_dir, train_model(dataset, "lr", seed=0, resamples=20))
    rows = [[float(v) for v in row] for row in dataset.features[:512]]
    return artifact.model_id, rows


def free_port() -> int:
    from chainml.chain.devnode import free_port as pick

    return int(pick())


def start_verifiable(
    data_dir: Path, model_id: str, port: int, log: Path
) -> subprocess.Popen[bytes]:
    command = [
        sys.executable,
        "-m",
        "chainml.cli.main",
        "--data-dir",
        str(data_dir),
        "serve",
        "--host",
        HOST,
        "--port",
        str(port),
        "--model",
        model_id,
        "--api-key",
        API_KEY,
        "--anchor-every",
        "20000",
        "--anchor-seconds",
        "5",
    ]
    return _spawn(command, log)


def start_plain(data_dir: Path, model_id: str, port: int, log: Path) -> subprocess.Popen[bytes]:
    command = [
        sys.executable,
        str(Path(__file__)),
        "--plain-server",
        str(data_dir),
        model_id,
        str(port),
    ]
    return _spawn(command, log)


def _spawn(command: list[str], log: Path) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHAINML_")}
    env["CHAINML_DURABILITY"] = "full"  # every decision fsync'd before its answer
    with log.open("wb") as out:
        return subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=REPO)


def stop(proc: subprocess.Popen[bytes]) -> None:
    """Stop a server by its PID: SIGTERM (clean shutdown), SIGKILL after 20 s."""
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()


def get_json(port: int, path: str) -> Any:
    with urllib.request.urlopen(f"http://{HOST}:{port}{path}", timeout=10) as answer:
        return json.loads(answer.read())


def wait_ready(port: int, proc: subprocess.Popen[bytes], log: Path, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"the server stopped:\n{log.read_text()}")
        try:
            get_json(port, "/healthz")
            return
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"the server did not answer within {timeout} s:\n{log.read_text()}")


def plain_server(data_dir: Path, model_id: str, port: int) -> None:
    """The baseline: the same model, schema and scoring code, no auth and no log."""
    from fastapi import FastAPI

    from chainml.models.artifacts import load_model
    from chainml.service.fastbody import FastBodyRoute, json_response
    from chainml.service.scoring import ServingModel
    from chainml.service.server import run_server

    model = ServingModel(load_model(data_dir, model_id))
    app = FastAPI()
    app.router.route_class = FastBodyRoute  # the service's body parsing, for a fair comparison

    def results(scored: Any, texts: list[str]) -> list[dict[str, Any]]:
        return [
            {
                "request_id": t,
                "score": float(p),
                "logit": float(z),
                "label": label,
                "decision": "hold" if label else "pass",
            }
            for t, p, z, label in zip(
                texts, scored.probabilities, scored.logits, scored.labels, strict=True
            )
        ]

    @app.post("/v1/score")
    async def score(body: ScoreRequest) -> Response:
        scored = model.score(model.rows([body.features], "features"))
        [result] = results(scored, [body.request_id or ""])
        result.update(model_id=model.model_id)
        return json_response(result)

    @app.post("/v1/score/batch")
    async def batch(body: BatchRequest) -> Response:
        scored = model.score(model.rows([r.features for r in body.records], "records"))
        texts = [r.request_id or "" for r in body.records]
        return json_response({"model_id": model.model_id, "results": results(scored, texts)})

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    run_server(app, HOST, port)


# -- the load generator ---------------------------------------------------------------------


def _request(path: str, body: bytes) -> bytes:
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {HOST}\r\nContent-Type: application/json\r\n"
        f"X-API-Key: {API_KEY}\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


async def _connection(
    port: int, path: str, make_body: Any, stop_at: float, latencies: list[float], errors: list[str]
) -> int:
    reader, writer = await asyncio.open_connection(HOST, port)
    done = 0
    try:
        while time.perf_counter() < stop_at:
            request = _request(path, make_body())
            started = time.perf_counter()
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n")[1:]:
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            body = await reader.readexactly(length)
            latencies.append(time.perf_counter() - started)
            status = int(head.split(b" ", 2)[1])
            if status != 200:
                errors.append(f"{status} {body[:200]!r}")
                break
            done += 1
    finally:
        writer.close()
    return done


def _client(job: tuple[int, str, str, int, int, float, float, int, list[list[float]]]) -> Any:
    port, path, prefix, connections, batch, start_at, stop_at, worker, rows = job
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    encoded = [json.dumps(row, separators=(",", ":")) for row in rows]
    counter = iter(range(10**12))

    def one() -> str:
        i = next(counter)
        return f'{{"request_id":"{prefix}-{worker}-{i}","features":{encoded[i % len(encoded)]}}}'

    def make_body() -> bytes:
        if batch == 0:
            return one().encode()
        return ('{"records":[' + ",".join(one() for _ in range(batch)) + "]}").encode()

    latencies: list[float] = []
    errors: list[str] = []

    async def main() -> int:
        await asyncio.sleep(max(0.0, start_at - time.time()))
        deadline = time.perf_counter() + (stop_at - start_at)
        counts = await asyncio.gather(
            *(
                _connection(port, path, make_body, deadline, latencies, errors)
                for _ in range(connections)
            )
        )
        return sum(counts)

    done = asyncio.run(main())
    return done, latencies, errors


def load(
    port: int,
    path: str,
    prefix: str,
    rows: list[list[float]],
    *,
    processes: int,
    connections: int,
    seconds: float,
    batch: int = 0,
) -> dict[str, Any]:
    """Drive ``path`` for ``seconds`` and report throughput and latency percentiles."""
    start_at = time.time() + 0.5
    jobs = [
        (port, path, prefix, connections, batch, start_at, start_at + seconds, w, rows)
        for w in range(processes)
    ]
    with mp.get_context("fork").Pool(processes) as pool:
        outcomes = pool.map(_client, jobs)
    requests = sum(o[0] for o in outcomes)
    latencies = sorted(x for o in outcomes for x in o[1])
    errors = [e for o in outcomes for e in o[2]]
    if errors:
        raise SystemExit(f"{len(errors)} requests failed, first: {errors[0]}")
    pick = lambda q: latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000  # noqa: E731
    per_request = max(batch, 1)
    return {
        "seconds": seconds,
        "concurrency": processes * connections,
        "requests": requests,
        "requests_per_s": requests / seconds,
        "decisions_per_s": requests * per_request / seconds,
        "p50_ms": pick(0.50),
        "p99_ms": pick(0.99),
        "max_ms": latencies[-1] * 1000 if latencies else None,
    }


# -- the benchmark ---------------------------------------------------------------------------


def run(quick: bool) -> dict[str, Any]:
    seconds = 3.0 if quick else 15.0
    batch = 200 if quick else 1000
    single = {"processes": 2, "connections": 8}
    batched = {"processes": 1, "connections": 4}
    out: dict[str, Any] = {
        "benchmark": "service",
        "quick": quick,
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
        "baseline": "the same model, request schema and scoring code behind a plain FastAPI "
        "endpoint without API key, log or anchoring (same uvicorn, uvloop, httptools)",
        "load": {
            "single": single,
            "batch": {**batched, "records_per_request": batch},
            "client": "pure-Python asyncio HTTP/1.1 keep-alive clients in separate "
            "processes, closed loop",
        },
    }
    with tempfile.TemporaryDirectory(prefix="chainml-bench-service-") as tmp:
        work = Path(tmp)
        data_dir = work / "data"
        model_id, rows = train(data_dir)
        out["model"] = {"id": model_id, "kind": "logistic_regression", "features": len(rows[0])}
        ports = {"verifiable": free_port(), "plain": free_port()}
        procs = {
            "verifiable": start_verifiable(
                data_dir, model_id, ports["verifiable"], work / "verifiable.log"
            ),
            "plain": start_plain(data_dir, model_id, ports["plain"], work / "plain.log"),
        }
        try:
            for name, proc in procs.items():
                wait_ready(ports[name], proc, work / f"{name}.log")
            _warm_up(ports, rows, quick)
            for name in ("plain", "verifiable"):
                out[name] = {
                    "single": load(
                        ports[name], "/v1/score", f"{name}-single", rows, seconds=seconds, **single
                    ),
                    "batch": load(
                        ports[name],
                        "/v1/score/batch",
                        f"{name}-batch",
                        rows,
                        seconds=seconds,
                        batch=batch,
                        **batched,
                    ),
                }
            health = get_json(ports["verifiable"], "/healthz")
            out["verifiable"]["log"] = {
                "size": health["log_size"],
                "anchored_size": health["anchored_size"],
            }
        finally:
            for proc in procs.values():
                stop(proc)
    v, p = out["verifiable"], out["plain"]
    out["ratio"] = {
        "single": p["single"]["requests_per_s"] / v["single"]["requests_per_s"],
        "batch": p["batch"]["decisions_per_s"] / v["batch"]["decisions_per_s"],
    }
    out["checks"] = {
        "single_rps": v["single"]["requests_per_s"] >= TARGETS["single_rps"],
        "single_p99_ms": v["single"]["p99_ms"] <= TARGETS["single_p99_ms"],
        "batch_dps": v["batch"]["decisions_per_s"] >= TARGETS["batch_dps"],
        "ratio": out["ratio"]["single"] <= TARGETS["ratio"],
    }
    return out


def _warm_up(ports: dict[str, int], rows: list[list[float]], quick: bool) -> None:
    """A first round for each server; the verifiable one also deploys its anchor contract."""
    for name, port in ports.items():
        load(port, "/v1/score", f"{name}-warm", rows, processes=1, connections=4, seconds=1.0)
    deadline = time.monotonic() + (60 if quick else 120)
    while time.monotonic() < deadline:  # the first anchor compiles and deploys the contract
        if get_json(ports["verifiable"], "/healthz")["anchored_size"] > 0:
            return
        time.sleep(0.5)


def report(out: dict[str, Any]) -> None:
    v, p = out["verifiable"], out["plain"]
    mark = lambda ok: "PASS" if ok else "MISS"  # noqa: E731
    checks = out["checks"]
    print(
        f"service benchmark ({'quick' if out['quick'] else 'full'}), "
        f"{out['machine']['cpus']} CPUs shared with the load generator"
    )
    print(f"{'':28}{'verifiable':>14}{'plain':>14}{'plain/verif.':>14}")
    print(
        f"{'single: requests/s':28}{v['single']['requests_per_s']:>14,.0f}"
        f"{p['single']['requests_per_s']:>14,.0f}{out['ratio']['single']:>14.2f}"
    )
    for q in ("p50_ms", "p99_ms"):
        print(
            f"{'single: ' + q.replace('_ms', ' ms'):28}{v['single'][q]:>14.2f}"
            f"{p['single'][q]:>14.2f}"
        )
    print(
        f"{'batch: decisions/s':28}{v['batch']['decisions_per_s']:>14,.0f}"
        f"{p['batch']['decisions_per_s']:>14,.0f}{out['ratio']['batch']:>14.2f}"
    )
    print(
        f"{'batch: p99 ms per request':28}{v['batch']['p99_ms']:>14.2f}"
        f"{p['batch']['p99_ms']:>14.2f}"
    )
    print(
        f"log: {v['log']['size']:,} decisions durably logged, {v['log']['anchored_size']:,} "
        "anchored"
    )
    print(f"{mark(checks['single_rps'])}  single >= {TARGETS['single_rps']:,.0f} requests/s")
    print(f"{mark(checks['single_p99_ms'])}  single p99 <= {TARGETS['single_p99_ms']:g} ms")
    print(f"{mark(checks['batch_dps'])}  batch >= {TARGETS['batch_dps']:,.0f} decisions/s")
    print(f"{mark(checks['ratio'])}  cost of verifiability (single) <= {TARGETS['ratio']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run of a few seconds")
    parser.add_argument("--output", type=Path, help=f"where to write JSON (full run: {RESULTS})")
    parser.add_argument(
        "--plain-server", nargs=3, metavar=("DATA_DIR", "MODEL_ID", "PORT"), help=argparse.SUPPRESS
    )
    args = parser.parse_args()
    if args.plain_server:
        data_dir, model_id, port = args.plain_server
        plain_server(Path(data_dir), model_id, int(port))
        return
    out = run(args.quick)
    report(out)
    target = args.output or (None if args.quick else RESULTS)
    if target is not None:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(out, indent=2) + "\n")
        print(f"wrote {target}")


if __name__ == "__main__":
    main()
