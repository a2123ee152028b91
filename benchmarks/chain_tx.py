"""Benchmark: sequential state-changing transactions on chainml's chain backends.

Sends ``--transactions`` ``Counter.increment()`` calls one after the other, each waiting for its
receipt, on (a) the embedded chain, (b) anvil over HTTP through the same chainml ``Env`` and
(c) the baseline, plain web3.py 8 over ``EthereumTesterProvider`` (py-evm). Every setup passes
an explicit gas limit, so no backend pays for gas estimation. For the embedded chain it also
measures the restart time after ``--history`` transactions and the disk use.

Run: ``.venv/bin/python benchmarks/chain_tx.py [--transactions N] [--history N] [--json PATH]``
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn
from rich.table import Table

from chainml import contracts
from chainml.chain import Contract, Env, Receipt, connect
from chainml.chain.costs import STATED_PRICES, signed_size
from chainml.chain.devnode import ANVIL_DEV_KEY, AnvilNode
from chainml.config import Secret, Settings

GAS = 100_000  # explicit limit on every increment, in all three setups
DEPLOY_GAS = 1_000_000
RESTARTS = 3
COLUMNS = ("backend", "transactions", "seconds", "tx/s", "vs baseline", "vs anvil", "count")
DEFAULT_JSON = Path(__file__).parent / "results" / "chain_tx.json"
console = Console()


def _progress() -> Progress:
    return Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=console,
    )


def _timed(progress: Progress, label: str, count: int, send_one: Callable[[], object]) -> float:
    """Call ``send_one`` ``count`` times (one transaction + its receipt); return the seconds."""
    task = progress.add_task(label, total=count)
    start = time.perf_counter()
    for _ in range(count):
        send_one()
        progress.advance(task)
    return time.perf_counter() - start


def _result(
    name: str, count: int, seconds: float, value: int, failed: int, blocks: int
) -> dict[str, Any]:
    return {
        "backend": name,
        "transactions": count,
        "seconds": seconds,
        "tx_per_s": count / seconds,
        "blocks": blocks,
        "counter": value,
        "verified": value == count and failed == 0,
    }


def _chainml_run(
    progress: Progress, name: str, env: Env, count: int, cache: Path
) -> tuple[dict[str, Any], Contract]:
    counter = env.deploy(contracts.load("Counter", cache), 0, gas=DEPLOY_GAS)
    first_block = env.block_number
    last: list[Receipt] = []

    def send_one() -> None:
        last[:] = [counter.transact("increment", gas=GAS)]  # waits; raises on a failed one

    seconds = _timed(progress, name, count, send_one)
    blocks = env.block_number - first_block
    result = _result(name, count, seconds, counter.call("count"), 0, blocks)
    if last:  # what one increment() costs at the stated fees of the report
        result["gas_used"] = last[0].gas_used
        result["tx_bytes"] = signed_size(counter.function("increment", 0).encode_call(()))
    return result, counter


def bench_embedded(
    progress: Progress, count: int, history: int, cache: Path, work: Path
) -> dict[str, Any]:
    """Throughput, then restart time after ``history`` transactions, then disk use."""
    settings = Settings(data_dir=work / "embedded")  # default durability: survives kill -9
    total = max(history, count)
    with connect(settings) as env:
        result, counter = _chainml_run(progress, "embedded", env, count, cache)
        more = total - count
        _timed(progress, "embedded history", more, lambda: counter.transact("increment", gas=GAS))

    samples, restart_ok = [], True
    for _ in range(RESTARTS):
        start = time.perf_counter()
        with connect(settings) as env:
            env.block_number  # noqa: B018 - one read completes the restart
            samples.append(time.perf_counter() - start)
            reopened = env.at(counter.address, contracts.load("Counter", cache))
            restart_ok &= reopened.call("count") == total
    disk = sum(p.stat().st_size for p in settings.data_dir.rglob("*") if p.is_file())
    result["restart"] = {
        "history": total,
        "seconds_median": statistics.median(samples),
        "samples": samples,
        "verified": restart_ok,
    }
    result["disk"] = {"bytes": disk, "bytes_per_tx": disk / (total + 1)}
    return result


def bench_anvil(progress: Progress, count: int, cache: Path, work: Path) -> dict[str, Any]:
    """The same chainml Env over JSON-RPC to a local anvil (auto-mining)."""
    with AnvilNode() as node:
        key = Secret(ANVIL_DEV_KEY)
        with connect(Settings(data_dir=work / "anvil", rpc=node.url, private_key=key)) as env:
            return _chainml_run(progress, "anvil", env, count, cache)[0]


def bench_baseline(progress: Progress, count: int, cache: Path) -> dict[str, Any]:
    """web3.py 8 + eth-tester (py-evm), the way most Python users test contracts today."""
    from web3 import EthereumTesterProvider, Web3

    compiled = contracts.load("Counter", cache)
    w3 = Web3(EthereumTesterProvider())
    w3.eth.default_account = w3.eth.accounts[0]
    factory = w3.eth.contract(abi=compiled.abi, bytecode=compiled.bytecode)
    deployed = w3.eth.wait_for_transaction_receipt(
        factory.constructor(0).transact({"gas": DEPLOY_GAS})
    )
    counter = w3.eth.contract(address=deployed["contractAddress"], abi=compiled.abi)
    statuses: list[int] = []

    def send_one() -> None:
        tx_hash = counter.functions.increment().transact({"gas": GAS})
        statuses.append(w3.eth.wait_for_transaction_receipt(tx_hash)["status"])

    first_block = w3.eth.block_number
    seconds = _timed(progress, "baseline", count, send_one)
    blocks = w3.eth.block_number - first_block
    value = counter.functions.count().call()
    return _result("baseline", count, seconds, value, statuses.count(0), blocks)


def _targets(results: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    embedded, anvil, baseline = (results[k]["tx_per_s"] for k in ("embedded", "anvil", "baseline"))
    restart = results["embedded"]["restart"]["seconds_median"]
    rows: list[tuple[str, float, str, Callable[[float], bool]]] = [
        ("embedded tx/s", embedded, ">= 250", lambda v: v >= 250),
        ("embedded / anvil", embedded / anvil, ">= 1.0", lambda v: v >= 1.0),
        ("embedded / baseline", embedded / baseline, ">= 10", lambda v: v >= 10),
        ("embedded restart (s)", restart, "< 2", lambda v: v < 2),
    ]
    return [{"target": t, "value": v, "threshold": th, "pass": ok(v)} for t, v, th, ok in rows]


def report(results: dict[str, dict[str, Any]], targets: list[dict[str, Any]]) -> None:
    anvil, baseline = results["anvil"]["tx_per_s"], results["baseline"]["tx_per_s"]
    table = Table(title=f"Sequential increment() with receipts, explicit gas={GAS:,}")
    for column in COLUMNS:
        table.add_column(column, justify="left" if column == "backend" else "right")
    for row in results.values():
        rate = row["tx_per_s"]
        table.add_row(
            row["backend"],
            f"{row['transactions']:,}",
            f"{row['seconds']:.2f}",
            f"{rate:,.0f}",
            f"{rate / baseline:.2f}x",
            f"{rate / anvil:.2f}x",
            "ok" if row["verified"] else "[red]WRONG",
        )
    console.print(table)
    restart, disk = results["embedded"]["restart"], results["embedded"]["disk"]
    console.print(
        f"embedded after {restart['history']:,} transactions: restart (connect + block_number) "
        f"median {restart['seconds_median']:.3f} s of {RESTARTS}; "
        f"counter {'ok' if restart['verified'] else '[red]WRONG'}; disk {disk['bytes'] / 2**20:.1f}"
        f" MiB ({disk['bytes_per_tx']:,.0f} B/tx)"
    )
    goals = Table(title="Targets")
    for column in ("target", "measured", "threshold", "result"):
        goals.add_column(column)
    for t in targets:
        verdict = "[green]PASS" if t["pass"] else "[red]MISS"
        goals.add_row(t["target"], f"{t['value']:,.2f}", t["threshold"], verdict)
    console.print(goals)
    blocks = ", ".join(f"{row['backend']} {row['blocks']:,}" for row in results.values())
    console.print(f"No backend estimates gas: every transaction carries gas={GAS:,}.")
    if "gas_used" in (anvil_row := results["anvil"]):
        gas, size = anvil_row["gas_used"], anvil_row["tx_bytes"]
        prices = ", ".join(
            f"{p.label} ({p.gas_price:,} wei/gas + {p.data_fee_per_byte:,} wei/byte): "
            f"{p.cost(gas, size) / 1e18:.3g} ETH"
            for p in STATED_PRICES
        )
        console.print(f"One increment() uses {gas:,} gas, {size} signed bytes; at {prices}.")
    console.print(f"Blocks mined for them: {blocks} (the embedded chain batches).")


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--transactions", type=int, default=2_000)
    parser.add_argument("--history", type=int, default=10_000)
    parser.add_argument("--json", type=Path, default=DEFAULT_JSON)
    args = parser.parse_args(argv)
    n = args.transactions

    with tempfile.TemporaryDirectory(prefix="chainml-bench-") as tmp:
        work = Path(tmp)
        cache = work / "vyper-cache"
        contracts.load("Counter", cache)  # compile once, outside every timed phase
        with _progress() as progress:
            results = {
                "embedded": bench_embedded(progress, n, args.history, cache, work),
                "anvil": bench_anvil(progress, n, cache, work),
                "baseline": bench_baseline(progress, n, cache),
            }
    targets = _targets(results)
    report(results, targets)
    document = {
        "benchmark": "chain_tx",
        "gas_limit": GAS,
        "gas_estimation": False,
        "baseline": "web3.py 8 Web3(EthereumTesterProvider()) transact + wait_for_receipt",
        "backends": results,
        "targets": targets,
        "machine": {
            "python": sys.version.split()[0],
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
        },
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(document, indent=2))
    console.print(f"results written to {args.json}")
    return document


if __name__ == "__main__":
    main()
