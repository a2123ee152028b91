"""The ``chainml demo`` command: the whole story on the embedded chain, in a few minutes.

Real fraud data (or the simulator when offline) -> models trained and evaluated honestly ->
registered and approved by a governance vote -> a compact model compiled into a contract that
screens payments inside a token -> a held-out stream scored through the scoring service, every
decision logged before its answer -> the log anchored on chain -> receipts verified, a forgery
rejected, the log audited -> a summary and an HTML report. Each step lives in its own module
(``demo_models``, ``demo_guard``, ``demo_service``, ``demo_log``, ``demo_report``).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from chainml.chain import connect
from chainml.cli import console, demo_guard, demo_log, demo_models, demo_service, settings_of
from chainml.cli.demo_report import write_report
from chainml.cli.summary import Summary
from chainml.log.decision_log import DecisionLog
from chainml.models.split import time_split


def demo(
    ctx: typer.Context,
    offline: Annotated[
        bool, typer.Option("--offline", help="Use the payments simulator, not the ULB data.")
    ] = False,
    transfers: Annotated[
        int, typer.Option("--transfers", min=10, help="Payments to screen on chain.")
    ] = 1_500,
    stream: Annotated[
        int | None,
        typer.Option("--stream", min=1, help="Held-out records to score (default: all of them)."),
    ] = None,
    receipts: Annotated[
        int, typer.Option("--receipts", min=1, help="How many receipts to verify on chain.")
    ] = 25,
    report: Annotated[
        Path | None,
        typer.Option("--report", help="Where to write the HTML report (default: in the data dir)."),
    ] = None,
) -> None:
    """Train, govern, run a model on chain, score through the service, anchor, verify, report."""
    settings = settings_of(ctx)
    data_dir = settings.data_dir
    out = console()
    summary = Summary()
    started = time.perf_counter()
    with connect(settings) as env:
        summary.add("chain", f"{env.backend.kind} (chain id {env.chain_id})")
        out.print(
            f"[green]✓[/] opened the {env.backend.kind} chain at {escape(env.backend.location)}"
        )
        data = demo_models.load_data(data_dir, offline, out, summary)
        best, models = demo_models.train_models(data_dir, data, out, summary)
        demo_models.approve(env, data_dir, best, out, summary)
        guard = demo_guard.screen_payments(data_dir, transfers, out, summary)
        held_out = time_split(data.dataset).test
        if stream is not None:
            held_out = held_out.take(slice(0, stream))
        result = demo_service.score_stream(env, data_dir, held_out, out, summary)
        with DecisionLog.open(data_dir) as log:
            anchorer = demo_log.anchor_head(env, log, out, summary)
            demo_log.verify_receipts(env, log, receipts, out, summary)
            demo_log.show_tampering(env, log, out, summary)
            demo_log.audit_log(anchorer, log, out, summary)
            summary.add("block number", env.block_number)
            summary.add("time", f"{time.perf_counter() - started:.0f} s")
            path = write_report(
                report or data_dir / "report.html", data_dir, env, log, models, guard, result,
                summary,
            )  # fmt: skip
    out.print(summary.table())
    out.print(f"[green]✓[/] report: {path}")
