"""Benchmark: the SQLite log store as the service uses it: group commits, bytes written, restart.

One run, one temporary directory on the disk under test (``--dir``, default the system temp dir):

1. **fill**: ``--decisions`` leaves of ~0.9 KB with random 32-byte request ids, appended in bulk
   through the store API (``append_all``, 10,000 leaves a transaction, ``durability="normal"``)
   so that 2M-5M decisions take minutes, not hours;
2. **commits**: reopened with ``durability="full"``, ``--commits`` batches of 100 and then of
   1,000 leaves, each one ``append`` (one durable transaction, as the log writer commits a group):
   per-batch latency p50/p99/max, and the bytes this process wrote to disk per decision, read
   from ``/proc/self/io`` ``write_bytes`` (WAL frames *and* checkpoints, which copy them into the
   database file again, so every page is counted as many times as it reaches the disk);
3. **baseline**: a raw ``write`` + ``fsync`` of one batch's bytes to a file in the same directory,
   same count, same run; the ratio commit p50 / fsync p50 is printed;
4. **restart**: the store closed and reopened, and the time to its first duplicate-checked
   append (what the first score after a restart waits for) and first ``index_of``.

Baseline from issue 20 (the store before this change, same kind of disk): commits of 100/1,000
records 0.25-2.5 s against a raw fsync of 0.2-4 ms; 21-22 KB written per decision on a fresh log,
27-56 KB at 2M; first score 1.7 s after a restart at 1.7M decisions, 3.8 s at 4.2M. Targets:
<= 3 KB per decision at 2M, first score <= 200 ms at 5M.

Run: ``.venv/bin/python benchmarks/log_store.py [--decisions N] [--commits K] [--json PATH]``
(``--decisions 2000000`` for the issue's figure). ``--baseline COMMIT`` first runs the same
measurement on that commit's store (its ``src/``, unpacked by ``benchmarks/baseline_tree.py``)
in a child process, then on this tree's, and prints the two side by side.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from chainml.log.sqlite_store import SqliteLogStore
from chainml.log.store import Leaf

RECORD_BYTES = 900
FILL_BATCH = 10_000
BATCHES = (100, 1_000)


def _write_bytes() -> int:
    for line in Path("/proc/self/io").read_text().splitlines():
        if line.startswith("write_bytes:"):
            return int(line.split()[1])
    raise RuntimeError("/proc/self/io has no write_bytes")


def _leaves(rng: random.Random, n: int) -> list[Leaf]:
    return [(rng.randbytes(RECORD_BYTES), rng.randbytes(32)) for _ in range(n)]


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def fill(path: Path, decisions: int, rng: random.Random) -> float:
    started = time.perf_counter()
    with SqliteLogStore(path, durability="normal") as store:
        done = store.size
        while done < decisions:
            step = min(decisions - done, 10 * FILL_BATCH)

            def batches(_: int, step: int = step) -> Iterator[list[Leaf]]:
                for at in range(0, step, FILL_BATCH):
                    yield _leaves(rng, min(FILL_BATCH, step - at))

            store.append_all(batches)
            done += step
            print(f"  filled {done:,}", file=sys.stderr, end="\r")
    return time.perf_counter() - started


def commits(path: Path, batch: int, count: int, rng: random.Random) -> dict[str, float]:
    payloads = [_leaves(rng, batch) for _ in range(count)]
    latencies = []
    with SqliteLogStore(path, durability="full") as store:
        store.append(_leaves(rng, 1))  # the open and first-use costs are measured elsewhere
        before = _write_bytes()
        for leaves in payloads:
            started = time.perf_counter()
            store.append(leaves)
            latencies.append(time.perf_counter() - started)
        written = _write_bytes() - before
    return {
        "batch": batch,
        "p50_ms": 1000 * statistics.median(latencies),
        "p99_ms": 1000 * _percentile(latencies, 0.99),
        "max_ms": 1000 * max(latencies),
        "bytes_per_decision": written / (batch * count),
    }


def raw_fsync(directory: Path, batch: int, count: int) -> dict[str, float]:
    block = os.urandom(batch * (RECORD_BYTES + 100))
    target = directory / "fsync-baseline"
    latencies = []
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        for _ in range(count):
            started = time.perf_counter()
            os.write(fd, block)
            os.fsync(fd)
            latencies.append(time.perf_counter() - started)
    finally:
        os.close(fd)
        target.unlink()
    return {
        "p50_ms": 1000 * statistics.median(latencies),
        "p99_ms": 1000 * _percentile(latencies, 0.99),
    }


def restart(path: Path, rng: random.Random) -> dict[str, float]:
    started = time.perf_counter()
    with SqliteLogStore(path, durability="full") as store:
        opened = time.perf_counter()
        store.append(_leaves(rng, 1))
        appended = time.perf_counter()
        store.indices_of([rng.randbytes(32)])
        looked = time.perf_counter()
    return {
        "open_ms": 1000 * (opened - started),
        "first_append_ms": 1000 * (appended - started),
        "first_lookup_ms": 1000 * (looked - appended),
    }


def baseline(args: argparse.Namespace) -> dict[str, Any]:
    """The same measurement of ``args.baseline``'s store, run in a child process."""
    from baseline_tree import commit_of, source_tree

    with source_tree(args.baseline) as tree, tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "baseline.json"
        command = [sys.executable, __file__, "--decisions", str(args.decisions), "--commits",
                   str(args.commits), "--seed", str(args.seed), "--json", str(out)]  # fmt: skip
        if args.dir is not None:
            command += ["--dir", str(args.dir)]
        env = {**os.environ, "PYTHONPATH": str(tree / "src")}
        subprocess.run(command, check=True, env=env)
        result: dict[str, Any] = json.loads(out.read_text())
    result["commit"] = commit_of(args.baseline)
    return result


def compare(old: dict[str, Any], new: dict[str, Any]) -> None:
    """This tree's figures against the baseline's, as ratios."""
    print(f"this tree against {old['commit']} (same machine, same run; it is shared and noisy):")
    for o, n in zip(old["commits"], new["commits"], strict=True):
        print(
            f"  commits of {n['batch']:,}: p50 {n['p50_ms']:.2f} ms against {o['p50_ms']:.2f} "
            f"({n['p50_ms'] / o['p50_ms']:.2f}x), {n['bytes_per_decision']:,.0f} against "
            f"{o['bytes_per_decision']:,.0f} bytes written per decision"
        )
    n, o = new["restart"], old["restart"]
    print(
        f"  first append after a restart {n['first_append_ms']:.1f} ms against "
        f"{o['first_append_ms']:.1f}; fill {new['fill_s']:.1f} s against {old['fill_s']:.1f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--decisions", type=int, default=100_000)
    parser.add_argument("--commits", type=int, default=200, help="batches timed per batch size")
    parser.add_argument("--dir", type=Path, default=None)
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--seed", type=int, default=20)
    parser.add_argument("--baseline", help="a commit whose store to measure first, to compare")
    args = parser.parse_args()
    old = baseline(args) if args.baseline else None
    rng = random.Random(args.seed)
    console = Console()
    result: dict[str, Any] = {"decisions": args.decisions, "record_bytes": RECORD_BYTES}
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        path = Path(tmp) / "log.sqlite"
        before = _write_bytes()
        result["fill_s"] = fill(path, args.decisions, rng)
        result["fill_bytes_per_decision"] = (_write_bytes() - before) / max(1, args.decisions)
        result["commits"] = [commits(path, b, args.commits, rng) for b in BATCHES]
        result["fsync"] = [raw_fsync(Path(tmp), b, args.commits) for b in BATCHES]
        result["restart"] = restart(path, rng)
        result["file_bytes_per_decision"] = path.stat().st_size / args.decisions

    source = Path(sys.modules[SqliteLogStore.__module__].__file__ or "?").parents[2]
    table = Table(
        title=f"log store at {args.decisions:,} decisions of {RECORD_BYTES} bytes ({source})"
    )
    for column in ("batch", "commit p50", "commit p99", "max", "fsync p50", "ratio", "B/decision"):
        table.add_column(column, justify="right")
    for c, f in zip(result["commits"], result["fsync"], strict=True):
        table.add_row(
            str(c["batch"]),
            f"{c['p50_ms']:.2f} ms",
            f"{c['p99_ms']:.2f} ms",
            f"{c['max_ms']:.1f} ms",
            f"{f['p50_ms']:.2f} ms",
            f"{c['p50_ms'] / f['p50_ms']:.1f}x",
            f"{c['bytes_per_decision']:,.0f}",
        )
    console.print(table)
    r = result["restart"]
    console.print(
        f"fill {result['fill_s']:.1f} s ({result['fill_bytes_per_decision']:,.0f} B/decision "
        f"written in bulk); file {result['file_bytes_per_decision']:,.0f} B/decision; restart: "
        f"open {r['open_ms']:.1f} ms, first append {r['first_append_ms']:.1f} ms, first lookup "
        f"{r['first_lookup_ms']:.1f} ms (issue 20 baseline: 1.7 s at 1.7M, 3.8 s at 4.2M; "
        "target 200 ms at 5M)"
    )
    if old is not None:
        compare(old, result)
        result["baseline"] = old
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
