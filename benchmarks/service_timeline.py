"""Benchmark: the service's latency over time at a fixed arrival rate, anchoring on and off.

``chainml serve`` (durability ``full``, anchoring on the embedded chain every 10,000 decisions,
the default) gets requests at one fixed arrival rate, open loop (benchmarks/loadgen.py: latency
from each request's *intended* send time, so a stall shows as the queue it causes). Every
request's send time and latency are recorded. The baseline is the same server with anchoring
off (``--no-anchor``) at the same rate. The plot shows p99 per second of both runs, with a
dotted line where an anchor landed (seen by polling ``/healthz``'s ``anchored_size``): an
anchor that stalls scoring shows as spikes on those lines.

    python benchmarks/service_timeline.py --rate 1500 --seconds 30 --plot timeline.png
    python benchmarks/service_timeline.py --rate 1500 --output timeline.json  # with samples
    python benchmarks/service_timeline.py --batch 1000 --rate 40  # 40 batches of 1,000 a second

It prints one table row per run: rate, anchoring, p50, p99, max, and the CPU time per 1,000
requests of the server's event loop (its main thread), its other threads and its children (log
writer, chain process): anchoring should cost the event loop nothing. Targets (issue 20, anchoring
on): no anchor-period spikes; p99 <= 20 ms at 60% of the closed-loop maximum (find it with
benchmarks/service.py). Servers are stopped by PID.

``--closed`` measures the closed-loop maximum instead (4 connections, each sending its next
request when answered; issue 20's target for batches of 1,000: >= 80,000 durable decisions/s,
anchoring on), of this tree and, in the same run, of a baseline commit's server (``--baseline``,
default ``bebc894``, the code before this work), in turns (this, baseline, this, baseline, ...
``--rounds`` times) so that a noisy machine shifts both alike. Besides decisions/s it prints the
CPU time per 1,000 decisions of each side (event loop, the server's other threads, its children:
log writer and chain process), which the machine's noise moves less than the rates:

    python benchmarks/service_timeline.py --closed --batch 1000 --seconds 10 --rounds 2
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from baseline_tree import commit_of, source_tree, with_pythonpath
from loadgen import Target, run_closed, run_open
from service import (
    API_KEY,
    DURABILITY,
    free_port,
    get_json,
    start_verifiable,
    stop,
    train,
    wait_ready,
)

ANCHOR_EVERY = 10_000  # the service's default
OPEN = {"processes": 2, "connections": 32}
CLOSED = {"processes": 1, "connections": 4}  # as benchmarks/service.py drives batches
BASELINE = "bebc894"  # main before this work on the batch path
TARGET_BATCH_DPS = 80_000  # issue 20: batches of 1,000, durable decisions/s


class AnchorWatch:
    """Polls ``/healthz`` in a thread; remembers when the anchored size grew (wall clock)."""

    def __init__(self, port: int, every: float = 0.2) -> None:
        self.port = port
        self.every = every
        self.seen: list[tuple[float, int]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> AnchorWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)

    def _run(self) -> None:
        last = None
        while not self._stop.wait(self.every):
            try:
                size = int(get_json(self.port, "/healthz")["anchored_size"])
            except OSError:
                continue
            if last is not None and size > last:
                self.seen.append((time.time(), size))
            last = size


SIDES = ("event loop", "server's other threads", "children")


def cpu_seconds(pid: int) -> tuple[float, float, float]:
    """CPU seconds used so far by ``pid``'s main thread (uvicorn's event loop), by its other
    threads, and by its live children (log writer, chain process) together."""

    def used(stat: Path) -> float:
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            return 0.0
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    children: set[int] = set()
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(OSError):
            children |= {int(c) for c in (task / "children").read_text().split()}
    loop = used(Path(f"/proc/{pid}/task/{pid}/stat"))
    return (
        loop,
        used(Path(f"/proc/{pid}/stat")) - loop,
        sum(used(Path(f"/proc/{c}/stat")) for c in children),
    )


def one_run(
    data_dir: Path, model_id: str, rows: list[list[float]], work: Path, args: Any, anchor: bool
) -> dict[str, Any]:
    """Start a server, warm it up, drive it at ``args.rate`` for ``args.seconds``, stop it."""
    name = "on" if anchor else "off"
    port, log = free_port(), work / f"anchoring-{name}.log"
    every = args.anchor_every if anchor else None
    proc = start_verifiable(
        data_dir, model_id, port, log, every, args.anchor_seconds, args.durability
    )
    try:
        wait_ready(port, proc, log)
        warm = Target(port, "/v1/score", rows, f"warm-{name}", api_key=API_KEY)
        run_closed(warm, processes=1, connections=4, seconds=1.0)
        deadline = time.monotonic() + 120
        while anchor and get_json(port, "/healthz")["anchored_size"] == 0:
            if time.monotonic() > deadline:  # the first anchor compiles and deploys
                raise SystemExit(f"no anchor within 120 s:\n{log.read_text()}")
            time.sleep(0.5)
        path = "/v1/score/batch" if args.batch else "/v1/score"
        target = Target(port, path, rows, f"timeline-{name}", batch=args.batch, api_key=API_KEY)
        with AnchorWatch(port) as watch:
            started = time.time() + 0.5  # run_open starts its clients half a second later
            cpu_before = cpu_seconds(proc.pid)
            result = run_open(
                target, args.rate, seconds=args.seconds, drain=2.0, keep_samples=True, **OPEN
            )
            cpu_after = cpu_seconds(proc.pid)
    finally:
        stop(proc)
    answered = max(1, result["answered"])
    result["cpu_ms_per_1000"] = {  # what serving costs the event loop, and the rest
        side: round((cpu_after[i] - cpu_before[i]) * 1000 / answered * 1000, 1)
        for i, side in enumerate(SIDES)
    }
    result["anchoring"] = name
    result["anchors_at"] = [[round(at - started, 3), size] for at, size in watch.seen]
    return result


def closed_run(
    data_dir: Path, model_id: str, rows: list[list[float]], work: Path, args: Any, name: str
) -> dict[str, Any]:
    """Start a server (from the source on PYTHONPATH), find its closed-loop rate, stop it."""
    port, log = free_port(), work / f"closed-{name}.log"
    proc = start_verifiable(
        data_dir, model_id, port, log, args.anchor_every, args.anchor_seconds, args.durability
    )
    try:
        wait_ready(port, proc, log)
        path = "/v1/score/batch" if args.batch else "/v1/score"
        prefix = f"closed-{name}-{port}"
        warm = Target(port, path, rows, f"warm-{prefix}", batch=args.batch, api_key=API_KEY)
        run_closed(warm, seconds=2.0, **CLOSED)
        target = Target(port, path, rows, prefix, batch=args.batch, api_key=API_KEY)
        cpu_before = cpu_seconds(proc.pid)
        result = run_closed(target, seconds=args.seconds, **CLOSED)
        cpu_after = cpu_seconds(proc.pid)
    finally:
        stop(proc)
    decisions = max(1, result["requests"] * max(args.batch, 1))
    result["cpu_ms_per_1000_decisions"] = {
        side: round((cpu_after[i] - cpu_before[i]) * 1000 / decisions * 1000, 1)
        for i, side in enumerate(SIDES)
    }
    result["server"] = name
    return result


def closed_main(args: Any) -> None:
    """This tree against the baseline commit, closed loop, in turns."""
    baseline = commit_of(args.baseline)
    names = ("this tree", f"baseline {baseline}")
    runs: list[dict[str, Any]] = []
    with (
        tempfile.TemporaryDirectory(prefix="chainml-bench-closed-") as tmp,
        source_tree(baseline) as tree,
    ):
        work = Path(tmp)
        for round_ in range(args.rounds):
            for name, source in zip(names, (None, tree), strict=True):
                data_dir = work / f"data-{round_}-{source is None}"  # a fresh log each run
                model_id, rows = train(data_dir)
                with with_pythonpath(source):
                    runs.append(closed_run(data_dir, model_id, rows, work, args, name))
    unit = f"batches of {args.batch:,}" if args.batch else "single requests"
    print(
        f"closed loop, {unit}, {CLOSED['connections']} connections, durability "
        f"{args.durability}, anchoring every {args.anchor_every:,} decisions or "
        f"{args.anchor_seconds:g} s; {args.rounds} rounds in turns; a shared, noisy 2-core "
        "machine: compare within the run"
    )
    print(
        "| server | decisions/s | p50 | p99 | CPU ms per 1,000 decisions: event loop, "
        "server's other threads, children (log writer, chain) | total |"
    )
    print("|---|---|---|---|---|---|")
    for run in runs:
        cpu = run["cpu_ms_per_1000_decisions"]
        print(
            f"| {run['server']} | {run['decisions_per_s']:,.0f} | {run['p50_ms']:.1f} ms | "
            f"{run['p99_ms']:.1f} ms | {', '.join(f'{cpu[side]:,.0f}' for side in SIDES)} | "
            f"{sum(cpu.values()):,.0f} |"
        )
    summary = {}
    for name in names:
        mine = [r for r in runs if r["server"] == name]
        summary[name] = {
            "decisions_per_s": statistics.median(r["decisions_per_s"] for r in mine),
            "cpu_ms_per_1000": statistics.median(
                sum(r["cpu_ms_per_1000_decisions"].values()) for r in mine
            ),
        }
    new, old = (summary[name] for name in names)
    print(
        f"median: this tree {new['decisions_per_s']:,.0f} decisions/s, baseline "
        f"{old['decisions_per_s']:,.0f} ({new['decisions_per_s'] / old['decisions_per_s']:.2f}x); "
        f"CPU per 1,000 decisions {new['cpu_ms_per_1000']:,.0f} ms against "
        f"{old['cpu_ms_per_1000']:,.0f} ({new['cpu_ms_per_1000'] / old['cpu_ms_per_1000']:.2f}x)"
        + (f"; target (issue 20): >= {TARGET_BATCH_DPS:,} decisions/s" if args.batch else "")
    )
    if args.output is not None:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        document = {"benchmark": "service_closed", "baseline": baseline, "runs": runs,
                    "summary": summary}  # fmt: skip
        args.output.write_text(json.dumps(document, indent=2) + "\n")
        print(f"wrote {args.output}")


def plot(runs: list[dict[str, Any]], path: Path, rate: float) -> None:
    """p99 per second of every run; dotted lines where an anchor landed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(10, 4.5))
    for run in runs:
        by_second = run["p99_ms_by_second"]
        ax.plot(range(len(by_second)), by_second, label=f"anchoring {run['anchoring']}")
        for at, _ in run["anchors_at"]:
            ax.axvline(at, color="grey", linestyle=":", linewidth=1)
    ax.set_xlabel("second of the run (intended send time)")
    ax.set_ylabel("p99 latency in that second (ms)")
    ax.set_title(f"chainml serve, open loop at {rate:,.0f} requests/s (dotted: an anchor landed)")
    ax.set_ylim(bottom=0)
    ax.legend()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=1500.0, help="arrivals per second")
    parser.add_argument("--seconds", type=float, default=30.0, help="length of each run")
    parser.add_argument("--anchor-every", type=int, default=ANCHOR_EVERY)
    parser.add_argument("--anchor-seconds", type=float, default=60.0)
    parser.add_argument(
        "--durability", choices=("full", "normal"), default=DURABILITY, help="the log's"
    )
    parser.add_argument(
        "--batch", type=int, default=0, help="records per request (0: single requests; then "
        "--rate counts batches per second)",
    )  # fmt: skip
    parser.add_argument("--only-on", action="store_true", help="skip the anchoring-off baseline")
    parser.add_argument(
        "--closed", action="store_true",
        help="closed-loop maximum of this tree against --baseline instead of a timeline",
    )  # fmt: skip
    parser.add_argument("--baseline", default=BASELINE, help="--closed: the commit to compare")
    parser.add_argument("--rounds", type=int, default=2, help="--closed: runs of each side")
    parser.add_argument("--plot", type=Path, help="where to write the p99 timeline (PNG)")
    parser.add_argument("--output", type=Path, help="where to write JSON with every sample")
    args = parser.parse_args()
    if args.closed:
        closed_main(args)
        return
    with tempfile.TemporaryDirectory(prefix="chainml-bench-timeline-") as tmp:
        work = Path(tmp)
        data_dir = work / "data"
        model_id, rows = train(data_dir)
        runs = [
            one_run(data_dir, model_id, rows, work, args, anchor)
            for anchor in ((True,) if args.only_on else (True, False))
        ]
    unit = f"batches of {args.batch:,}" if args.batch else "single requests"
    print(
        f"open loop, {unit}, {OPEN['processes'] * OPEN['connections']} connections, durability "
        f"{args.durability}, anchoring every {args.anchor_every:,} decisions or "
        f"{args.anchor_seconds:g} s; baseline: the same server with anchoring off"
    )
    print(
        "| arrival rate | anchoring | p50 | p99 | max | anchors | unanswered "
        "| CPU ms per 1,000 requests: event loop, server's other threads, children |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for run in runs:
        cpu = run["cpu_ms_per_1000"]
        print(
            f"| {run['rate']:,.0f}/s | {run['anchoring']} | {run['p50_ms']:.1f} ms | "
            f"{run['p99_ms']:.1f} ms | {run['max_ms']:.1f} ms | {len(run['anchors_at'])} | "
            f"{run['unfinished']} | {', '.join(f'{cpu[side]:,.0f}' for side in SIDES)} |"
        )
    if len(runs) == 2 and runs[1]["p99_ms"]:
        print(f"p99 on/off: {runs[0]['p99_ms'] / runs[1]['p99_ms']:.2f}")
    if args.plot is not None:
        plot(runs, args.plot, args.rate)
        print(f"wrote {args.plot}")
    if args.output is not None:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(json.dumps({"benchmark": "service_timeline", "runs": runs}) + "\n")
        print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
