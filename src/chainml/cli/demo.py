"""The ``chainml demo`` command: a guided tour of the chain layer, one small step at a time.

Each step is a function that does one thing, prints one line and adds its facts to the
summary table; later features (models, the decision log, receipts) add steps of their own.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from chainml import contracts
from chainml.chain import CompiledContract, Contract, Env, Receipt, connect
from chainml.chain.abi import Function
from chainml.cli import console, settings_of
from chainml.errors import ChainError, ContractRevertError, VerificationError

EXPECTED_REVERT = "amount must be positive"


@dataclass
class Summary:
    """The facts the steps collected, shown as one table at the end."""

    rows: list[tuple[str, str]] = field(default_factory=list)

    def add(self, label: str, value: object) -> None:
        """Record one fact."""
        self.rows.append((label, str(value)))

    def table(self) -> Table:
        """The facts as a rich table."""
        table = Table(title="chainml demo", show_header=False, title_justify="left")
        table.add_column("fact", style="bold")
        table.add_column("value", overflow="fold")
        for label, value in self.rows:
            table.add_row(label, value)
        return table


def compile_counter(cache_dir: Path, out: Console, summary: Summary) -> CompiledContract:
    """Compile ``Counter.vy``, or take it from the cache; say which."""
    before = _cache_entries(cache_dir)
    started = time.perf_counter()
    compiled = contracts.load("Counter", cache_dir=cache_dir)
    seconds = time.perf_counter() - started
    after = _cache_entries(cache_dir)
    origin = "from cache" if after and after == before else "freshly compiled"
    out.print(f"[green]✓[/] Counter {origin} (vyper {compiled.compiler_version}, {seconds:.2f} s)")
    summary.add("compile", f"{origin} ({seconds:.2f} s)")
    return compiled


def _cache_entries(cache_dir: Path) -> dict[str, int]:
    # The compiler writes (or rewrites) an entry only when it compiled; a hit touches nothing.
    return {p.name: p.stat().st_mtime_ns for p in cache_dir.glob("Counter-*.json")}


def deploy_counter(
    env: Env, compiled: CompiledContract, start: int, out: Console, summary: Summary
) -> tuple[Contract, Receipt]:
    """Deploy Counter(start); return the handle and the deployment receipt."""
    constructor = next(item for item in compiled.abi if item.get("type") == "constructor")
    arguments = Function.from_abi(constructor).encode_arguments((start,))
    receipt = env.transact(None, compiled.bytecode + arguments)
    if receipt.contract_address is None:
        raise ChainError("deploying Counter created no contract")
    counter = env.at(receipt.contract_address, compiled)
    out.print(f"[green]✓[/] deployed Counter({start}) at {counter.address}")
    summary.add("contract address", counter.address)
    summary.add("gas used: deploy", f"{receipt.gas_used:,}")
    return counter, receipt


def send_increments(counter: Contract, count: int, out: Console, summary: Summary) -> None:
    """Send ``count`` increment() transactions, with a progress bar and a throughput figure."""
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn())
    last: Receipt | None = None
    started = time.perf_counter()
    with Progress(*columns, TimeElapsedColumn(), console=out) as progress:
        task = progress.add_task("increment()", total=count)
        for _ in range(count):
            last = counter.transact("increment")
            progress.advance(task)
    seconds = time.perf_counter() - started
    rate = count / seconds if seconds > 0 else float("inf")
    out.print(f"[green]✓[/] sent {count} transactions in {seconds:.2f} s ({rate:,.0f} tx/s)")
    summary.add("transactions sent", count)
    summary.add("throughput", f"{rate:,.0f} tx/s")
    if last is not None:
        summary.add("gas used: increment", f"{last.gas_used:,}")


def verify_count(
    counter: Contract, start: int, sent: int, from_block: int, out: Console, summary: Summary
) -> None:
    """Read the count and the Incremented events back; both must show every increment."""
    expected = start + sent
    count = counter.call("count")
    if count != expected:
        raise VerificationError(
            f"the counter reads {count}, expected {expected} (start {start} + {sent} increments)"
        )
    events = counter.events("Incremented", from_block=from_block)
    seen = [event["count"] for event in events]
    if seen != list(range(start + 1, expected + 1)):
        raise VerificationError(
            f"expected {sent} Incremented events counting {start + 1}..{expected}, "
            f"read {len(events)}"
        )
    out.print(f"[green]✓[/] final count: {count} (= {start} + {sent}), {len(events)} events")
    summary.add("final count", count)
    summary.add("events read", len(events))


def show_revert(counter: Contract, out: Console, summary: Summary) -> None:
    """add(0) must revert with its reason, and leave the count alone."""
    before = counter.call("count")
    try:
        counter.transact("add", 0)
    except ContractRevertError as err:
        if err.reason != EXPECTED_REVERT:
            raise VerificationError(
                f"add(0) reverted with {err.reason!r}, expected {EXPECTED_REVERT!r}"
            ) from err
        reason = err.reason
    else:
        raise VerificationError("add(0) was accepted, but Counter must reject it")
    if counter.call("count") != before:
        raise VerificationError("a reverted add(0) changed the count")
    out.print(f"[green]✓[/] add(0) reverted as ContractRevertError: {reason!r}")
    summary.add("revert caught", repr(reason))


def demo(
    ctx: typer.Context,
    transactions: Annotated[
        int,
        typer.Option(
            "--transactions", "-n", min=1, help="How many increment() transactions to send."
        ),
    ] = 200,
    start: Annotated[
        int, typer.Option("--start", min=0, help="The counter's initial value.")
    ] = 100,
) -> None:
    """Deploy a contract, transact, read events, verify the result and catch a revert."""
    settings = settings_of(ctx)
    out = console()
    summary = Summary()
    with connect(settings) as env:
        summary.add("chain", f"{env.backend.kind} (chain id {env.chain_id})")
        out.print(
            f"[green]✓[/] opened the {env.backend.kind} chain at {escape(env.backend.location)}"
        )
        compiled = compile_counter(settings.data_dir / "cache" / "vyper", out, summary)
        counter, deployed = deploy_counter(env, compiled, start, out, summary)
        send_increments(counter, transactions, out, summary)
        verify_count(counter, start, transactions, deployed.block_number, out, summary)
        show_revert(counter, out, summary)
        summary.add("block number", env.block_number)
    out.print(summary.table())
