"""The ``chainml demo`` command: a guided tour, one small step at a time.

Each step is a function that does one thing, prints one line and adds its facts to the
summary table; later features (models, the decision log, receipts) add steps of their own.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from chainml import contracts
from chainml.chain import CompiledContract, Contract, Env, Receipt, connect
from chainml.cli import console, demo_log, settings_of
from chainml.cli.summary import Summary
from chainml.errors import ContractRevertError, VerificationError
from chainml.log.decision_log import DecisionLog

EXPECTED_REVERT = "amount must be positive"


def compile_counter(cache_dir: Path, out: Console, summary: Summary) -> CompiledContract:
    """Compile ``Counter.vy``, or take it from the cache; say which."""
    started = time.perf_counter()
    compiled = contracts.load("Counter", cache_dir=cache_dir)
    seconds = time.perf_counter() - started
    origin = "from cache" if compiled.from_cache else "freshly compiled"
    out.print(f"[green]✓[/] Counter {origin} (vyper {compiled.compiler_version}, {seconds:.2f} s)")
    summary.add("compile", f"{origin} ({seconds:.2f} s)")
    return compiled


def deploy_counter(
    env: Env, compiled: CompiledContract, start: int, out: Console, summary: Summary
) -> tuple[Contract, Receipt]:
    """Deploy Counter(start); return the handle and the deployment receipt."""
    counter = env.deploy(compiled, start)
    assert counter.deployment is not None  # set by every deploy
    out.print(f"[green]✓[/] deployed Counter({start}) at {counter.address}")
    summary.add("contract address", counter.address)
    summary.add("gas used: deploy", f"{counter.deployment.gas_used:,}")
    return counter, counter.deployment


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
    decisions: Annotated[
        int, typer.Option("--decisions", min=1, help="How many decisions to log and anchor.")
    ] = 20_000,
    receipts: Annotated[
        int, typer.Option("--receipts", min=1, help="How many receipts to verify on chain.")
    ] = 25,
) -> None:
    """Exercise the chain, then log decisions, anchor them, and verify receipts on chain."""
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
        with DecisionLog.open(settings.data_dir) as log:
            demo_log.log_decisions(log, decisions, out, summary)
            anchorer = demo_log.anchor_head(env, log, out, summary)
            demo_log.verify_receipts(env, log, receipts, out, summary)
            demo_log.show_tampering(env, log, out, summary)
            demo_log.audit_log(anchorer, log, out, summary)
        summary.add("block number", env.block_number)
    out.print(summary.table())
