"""Benchmark: the scoring service over real HTTP on loopback, next to the same model unlogged.

Two servers run side by side as separate processes on 127.0.0.1, each one uvicorn process
with one event loop (uvloop, httptools):

- **verifiable**: ``chainml serve`` — API key check, validation, scoring, every decision
  appended to the decision log and fsync'd (group commit) before the response, background
  anchoring on the embedded chain;
- **plain** (the baseline): the same model, the same request schema and scoring code behind a
  plain FastAPI endpoint, no log.

The load generator (benchmarks/loadgen.py) is pure Python: client processes on loopback, each
an asyncio event loop holding keep-alive HTTP/1.1 connections. Per server it measures:

- **closed loop** (a connection sends its next request when the last one was answered):
  single-record throughput with p50/p99, and batch throughput (decisions logged durably per
  second). Its latencies hide queueing (coordinated omission), so they flatter the service;
- **open loop** (requests arrive at a constant rate, latency counted from each request's
  intended send time, no slot skipped): the highest arrival rate at which p99 <= 20 ms, found
  by stepping the rate up (fractions of that server's closed-loop maximum) until p99 misses,
  then bisecting. Each step lasts at least the anchoring period, so anchors are in it.

The cost of verifiability is the ratio of the plain figures to the verifiable ones. The service
runs with durability ``full`` (every decision fsync'd before its answer) and anchoring every
20,000 decisions or 5 s on the embedded chain.

    python benchmarks/service.py          # full run (about 3 min): benchmarks/results/service.json
    python benchmarks/service.py --quick  # smoke run, tiny open-loop rates; no file unless --output

Servers are stopped by PID (SIGTERM, then SIGKILL). Targets on 2 cores: >= 1,500 single
requests/s arriving at a constant rate with p99 <= 20 ms; batch >= 50,000 decisions/s; cost
ratio <= 1.3.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import Response
from loadgen import HOST, Target, find_max_rate, round_rate, run_closed, run_open

from chainml.service.schemas import BatchRequest, ScoreRequest

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results" / "service.json"
API_KEY = "benchmark-api-key-0123456789"
DURABILITY = "full"  # every decision fsync'd before its answer
ANCHOR_EVERY, ANCHOR_SECONDS = 20_000, 5.0
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
    data_dir: Path,
    model_id: str,
    port: int,
    log: Path,
    anchor_every: int | None = ANCHOR_EVERY,
    anchor_seconds: float = ANCHOR_SECONDS,
    durability: str = DURABILITY,
) -> subprocess.Popen[bytes]:
    """``chainml serve`` pinned to ``model_id``; ``anchor_every`` None: anchoring off."""
    anchoring = (
        ["--no-anchor"]
        if anchor_every is None
        else ["--anchor-every", str(anchor_every), "--anchor-seconds", f"{anchor_seconds:g}"]
    )
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
        *anchoring,
    ]
    return _spawn(command, log, durability)


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


def _spawn(command: list[str], log: Path, durability: str = DURABILITY) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHAINML_")}
    env["CHAINML_DURABILITY"] = durability
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
    from chainml.service.app import without_telemetry
    from chainml.service.fastbody import FastBodyRoute, json_response
    from chainml.service.scoring import ServingModel
    from chainml.service.server import run_server, tune_interpreter

    model = ServingModel(load_model(data_dir, model_id))
    app = FastAPI(**without_telemetry())  # as the service
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

    tune_interpreter()  # as `chainml serve` does, so both sides run alike
    run_server(app, HOST, port)


# -- the benchmark ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Plan:
    """How long and how hard each part runs; `--quick` is the smoke-test plan."""

    quick: bool
    closed_seconds: float
    batch_records: int
    step_seconds: float  # one open-loop rate; at least the anchor period, so a step sees one
    ladder: tuple[float, ...]  # open-loop rates: fractions of the closed-loop maximum, or /s
    ladder_is_fraction: bool
    bisections: int
    drain: float

    @classmethod
    def make(cls, quick: bool, step_seconds: float | None) -> Plan:
        if quick:  # tiny fixed rates: exercises the open-loop path, measures nothing
            return cls(True, 2.0, 200, step_seconds or 1.0, (50.0, 100.0), False, 0, 1.0)
        ladder = (0.4, 0.6, 0.8, 1.0, 1.2)
        return cls(False, 10.0, 1000, step_seconds or 6.0, ladder, True, 2, 2.0)


SINGLE = {"processes": 2, "connections": 8}  # closed loop: 16 requests in flight at most
BATCHED = {"processes": 1, "connections": 4}
OPEN = {"processes": 2, "connections": 32}  # open loop: enough that a stall queues in the server


def run(plan: Plan) -> dict[str, Any]:
    out: dict[str, Any] = {
        "benchmark": "service",
        "quick": plan.quick,
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
        "baseline": "the same model, request schema and scoring code behind a plain FastAPI "
        "endpoint without API key, log or anchoring (same uvicorn, uvloop, httptools)",
        "durability": DURABILITY,
        "anchoring": {"every": ANCHOR_EVERY, "seconds": ANCHOR_SECONDS},
        "load": {
            "single": SINGLE,
            "batch": {**BATCHED, "records_per_request": plan.batch_records},
            "open": {
                **OPEN,
                "step_seconds": plan.step_seconds,
                "ladder": list(plan.ladder),
                "ladder_is_fraction_of_closed_max": plan.ladder_is_fraction,
                "bisections": plan.bisections,
                "p99_objective_ms": TARGETS["single_p99_ms"],
            },
            "client": "pure-Python asyncio HTTP/1.1 keep-alive clients in separate processes "
            "(benchmarks/loadgen.py): closed loop for throughput; open loop (constant arrival "
            "rate, latency from each request's intended send time) for what users see",
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
            _warm_up(ports, rows, plan.quick)
            for name in ("plain", "verifiable"):
                out[name] = _measure(plan, ports[name], name, rows)
            health = get_json(ports["verifiable"], "/healthz")
            out["verifiable"]["log"] = {
                "size": health["log_size"],
                "anchored_size": health["anchored_size"],
            }
        finally:
            for proc in procs.values():
                stop(proc)
    v, p = out["verifiable"], out["plain"]
    v_open, p_open = v["open"]["max_rate"], p["open"]["max_rate"]
    out["ratio"] = {
        "single": p["single"]["requests_per_s"] / v["single"]["requests_per_s"],
        "batch": p["batch"]["decisions_per_s"] / v["batch"]["decisions_per_s"],
        "open_max_rate": p_open / v_open if v_open and p_open else None,
    }
    out["checks"] = {
        "single_rps": v["single"]["requests_per_s"] >= TARGETS["single_rps"],
        "single_p99_ms": v["single"]["p99_ms"] <= TARGETS["single_p99_ms"],
        "open_rate_p99": (v_open or 0) >= TARGETS["single_rps"],
        "batch_dps": v["batch"]["decisions_per_s"] >= TARGETS["batch_dps"],
        "ratio": out["ratio"]["single"] <= TARGETS["ratio"],
    }
    return out


def _measure(plan: Plan, port: int, name: str, rows: list[list[float]]) -> dict[str, Any]:
    """Closed-loop single and batch throughput, then the open-loop rate search."""
    single = Target(port, "/v1/score", rows, f"{name}-single", api_key=API_KEY)
    batch = Target(port, "/v1/score/batch", rows, f"{name}-batch", plan.batch_records, API_KEY)
    result = {
        "single": run_closed(single, seconds=plan.closed_seconds, **SINGLE),
        "batch": run_closed(batch, seconds=plan.closed_seconds, **BATCHED),
    }
    scale = result["single"]["requests_per_s"] if plan.ladder_is_fraction else 1.0
    steps = iter(range(1000))

    def step(rate: float) -> dict[str, Any]:
        time.sleep(0.5)  # the previous step's backlog clears
        prefix = f"{name}-open-{next(steps)}"  # request ids are unique across the log
        opened = Target(port, "/v1/score", rows, prefix, api_key=API_KEY)
        return run_open(opened, rate, seconds=plan.step_seconds, drain=plan.drain, **OPEN)

    result["open"] = find_max_rate(
        step,
        [round_rate(f * scale) for f in plan.ladder],
        p99_ms=TARGETS["single_p99_ms"],
        bisections=plan.bisections,
    )
    return result


def _warm_up(ports: dict[str, int], rows: list[list[float]], quick: bool) -> None:
    """A first round for each server; the verifiable one also deploys its anchor contract."""
    for name, port in ports.items():
        warm = Target(port, "/v1/score", rows, f"{name}-warm", api_key=API_KEY)
        run_closed(warm, processes=1, connections=4, seconds=1.0)
    deadline = time.monotonic() + (60 if quick else 120)
    while time.monotonic() < deadline:  # the first anchor compiles and deploys the contract
        if get_json(ports["verifiable"], "/healthz")["anchored_size"] > 0:
            return
        time.sleep(0.5)


def report(out: dict[str, Any]) -> None:
    v, p = out["verifiable"], out["plain"]
    mark = lambda ok: "PASS" if ok else "MISS"  # noqa: E731
    checks, ratio, load = out["checks"], out["ratio"], out["load"]
    print(
        f"service benchmark ({'quick' if out['quick'] else 'full'}), "
        f"{out['machine']['cpus']} CPUs shared with the load generator, "
        f"durability {out['durability']}"
    )
    print(f"{'':34}{'verifiable':>14}{'plain':>14}{'plain/verif.':>14}")
    closed = load["single"]["processes"] * load["single"]["connections"]
    print(f"closed loop ({closed} connections, each sends when answered):")
    _row(
        "single: requests/s",
        v["single"]["requests_per_s"],
        p["single"]["requests_per_s"],
        ratio=ratio["single"],
    )
    for q in ("p50_ms", "p99_ms"):
        _row("single: " + q.replace("_ms", " ms"), v["single"][q], p["single"][q], ".2f")
    _row(
        "batch: decisions/s",
        v["batch"]["decisions_per_s"],
        p["batch"]["decisions_per_s"],
        ratio=ratio["batch"],
    )
    _row("batch: p99 ms per request", v["batch"]["p99_ms"], p["batch"]["p99_ms"], ".2f")
    objective = load["open"]["p99_objective_ms"]
    print(
        f"open loop (constant arrival rate, latency from each request's intended send time, "
        f"{load['open']['processes'] * load['open']['connections']} connections):"
    )
    v_open, p_open = v["open"], p["open"]
    label = f"max rate with p99 <= {objective:g} ms"
    print(
        f"{label:34}{_rate(v_open):>14}{_rate(p_open):>14}"
        + (f"{ratio['open_max_rate']:>14.2f}" if ratio["open_max_rate"] else "")
    )
    shares = [
        f"{s['max_rate'] / side['single']['requests_per_s']:.0%}" if s["max_rate"] else "-"
        for s, side in ((v_open, v), (p_open, p))
    ]
    print(f"{'  as share of closed-loop max':34}{shares[0]:>14}{shares[1]:>14}")
    at = [
        f"{s['at_max_rate']['p50_ms']:.1f} / {s['at_max_rate']['p99_ms']:.1f}"
        if s["at_max_rate"]
        else "-"
        for s in (v_open, p_open)
    ]
    print(f"{'  p50 / p99 ms at that rate':34}{at[0]:>14}{at[1]:>14}")
    for name, search in (("verifiable", v_open), ("plain", p_open)):
        steps = ", ".join(
            f"{s['rate']:,.0f}/s {s['p99_ms']:.1f}"
            + (f" ({s['unfinished']} unanswered)" if s["unfinished"] else "")
            for s in search["steps"]
        )
        print(f"  {name} steps (rate, p99 ms): {steps}")
    print(
        f"log: {v['log']['size']:,} decisions durably logged, {v['log']['anchored_size']:,} "
        "anchored"
    )
    print(f"{mark(checks['single_rps'])}  single >= {TARGETS['single_rps']:,.0f} requests/s")
    print(f"{mark(checks['single_p99_ms'])}  single p99 <= {TARGETS['single_p99_ms']:g} ms")
    print(
        f"{mark(checks['open_rate_p99'])}  open loop: p99 <= {objective:g} ms at "
        f">= {TARGETS['single_rps']:,.0f} arrivals/s"
    )
    print(f"{mark(checks['batch_dps'])}  batch >= {TARGETS['batch_dps']:,.0f} decisions/s")
    print(f"{mark(checks['ratio'])}  cost of verifiability (single) <= {TARGETS['ratio']}")


def _row(
    label: str, verifiable: float, plain: float, fmt: str = ",.0f", ratio: float | None = None
) -> None:
    tail = "" if ratio is None else f"{ratio:>14.2f}"
    print(f"{label:34}{verifiable:>14{fmt}}{plain:>14{fmt}}{tail}")


def _rate(search: dict[str, Any]) -> str:
    if search["max_rate"] is None:
        return "none met"
    return f"{search['max_rate']:,.0f}/s" + ("" if search["bounded"] else "+")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run of a few seconds")
    parser.add_argument("--output", type=Path, help=f"where to write JSON (full run: {RESULTS})")
    parser.add_argument(
        "--step-seconds",
        type=float,
        help="seconds per open-loop rate (default 6, at least the anchor period; quick: 1)",
    )
    parser.add_argument(
        "--plain-server", nargs=3, metavar=("DATA_DIR", "MODEL_ID", "PORT"), help=argparse.SUPPRESS
    )
    args = parser.parse_args()
    if args.plain_server:
        data_dir, model_id, port = args.plain_server
        plain_server(Path(data_dir), model_id, int(port))
        return
    started = time.monotonic()
    out = run(Plan.make(args.quick, args.step_seconds))
    out["wall_seconds"] = round(time.monotonic() - started, 1)
    report(out)
    print(f"took {out['wall_seconds']:.0f} s")
    target = args.output or (None if args.quick else RESULTS)
    if target is not None:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(out, indent=2) + "\n")
        print(f"wrote {target}")


if __name__ == "__main__":
    main()
