"""``chainml monitor``: score a chain's transactions as blocks arrive; alerts into the log."""

from __future__ import annotations

import contextlib
import json
import signal
import sys
import threading
from typing import Annotated, Any

import typer

from chainml.chain import connect
from chainml.cli import settings_of
from chainml.log.decision_log import DecisionLog
from chainml.monitor.alerts import AlertSink, json_lines
from chainml.monitor.blocks import source_for
from chainml.monitor.follow import Follower
from chainml.monitor.rules import RuleSet
from chainml.monitor.webhook import webhook


def monitor(
    ctx: typer.Context,
    from_block: Annotated[
        int,
        typer.Option(
            "--from", min=0, help="First block to score (ignored when a checkpoint exists)."
        ),
    ] = 0,
    rpc: Annotated[
        str | None, typer.Option("--rpc", metavar="URL", help="The chain's node.")
    ] = None,
    once: Annotated[
        bool, typer.Option("--once", help="Score up to the current head, then exit.")
    ] = False,
    interval: Annotated[
        float, typer.Option("--interval", min=0.05, help="Seconds between polls for new heads.")
    ] = 1.0,
    window: Annotated[
        int, typer.Option("--window", min=1, help="Blocks in the sliding feature window.")
    ] = 256,
    webhook_url: Annotated[
        str | None,
        typer.Option(
            "--webhook",
            metavar="URL",
            help="Also POST each alert here (retried; a failure is reported on stderr).",
        ),
    ] = None,
) -> None:
    """Follow the chain from --from, write each alert to the decision log, print it as JSON.

    Every alert is a decision record (model id = the rule set's hash, features committed,
    transaction hash in the metadata), so `chainml log prove` makes it a receipt. Progress is
    checkpointed in <data dir>/monitor/ after each block: a restarted monitor resumes there,
    and a reorg re-scores the replaced blocks. Alerts and events go to stdout, one JSON line
    each.
    """
    settings = settings_of(ctx).with_overrides(rpc=rpc)
    stopping = threading.Event()

    def stop(_signum: int, _frame: Any) -> None:
        stopping.set()

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, stop)
    out = json_lines(sys.stdout)
    subscribers = [out]
    if webhook_url is not None:
        failed = json_lines(sys.stderr)

        def report(message: dict[str, Any], why: str) -> None:
            failed({"type": "webhook_failed", "request_id": message["request_id"], "error": why})

        subscribers.append(webhook(webhook_url, on_failure=report))
    with connect(settings) as env, DecisionLog.open(settings.data_dir) as log:
        rules = RuleSet()
        state = settings.data_dir / "monitor"
        state.mkdir(parents=True, exist_ok=True)
        follower = Follower(
            source_for(env.backend),
            AlertSink(log, rules.model_id, subscribers),
            rules,
            env.chain_id,
            state / f"checkpoint-{env.chain_id}.json",
            start=from_block,
            window=window,
            on_event=out,
        )
        if once:
            stats = follower.step()
            summary = {"type": "summary", "next_block": follower.next_block, **vars(stats)}
            sys.stdout.write(json.dumps(summary, sort_keys=True) + "\n")
            return
        with contextlib.suppress(KeyboardInterrupt):
            follower.run(interval, stopping.is_set)
