"""``chainml watch``: a watchtower over an operator's anchored log (optimistic verification)."""

from __future__ import annotations

import signal
import threading
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from chainml.chain import connect
from chainml.cli import console, print_json, settings_of
from chainml.inference.optimistic.watch_setup import open_watchtower
from chainml.inference.optimistic.watch_sources import LogDirSource, RecordSource, record_source
from chainml.inference.optimistic.watchtower import WatchReport
from chainml.log.trust import parse_trust_root

EPILOG = (
    "Exit codes: 0 every anchored record verified; 3 a wrong record was found (and challenged "
    "unless --no-challenge); 4 a head's records were withheld (or do not hash to its root); "
    "2 bad input; 6 an unusable checkpoint."
)


def watch(
    ctx: typer.Context,
    log_root: Annotated[
        str,
        typer.Option(
            "--log",
            metavar="[CHAIN_ID:]ADDRESS[:CODEHASH]",
            help="The anchored log contract to watch (a trust root).",
        ),
    ],
    source: Annotated[
        str | None,
        typer.Option(
            "--source",
            metavar="URL_OR_DIR",
            help="Where the records are: a chainml service URL (/v1/log/entries), a tiles "
            "directory or tiles+URL, or a data directory with a log. Default: this data "
            "directory's log.",
        ),
    ] = None,
    rpc: Annotated[
        str | None, typer.Option("--rpc", metavar="URL", help="The chain's node.")
    ] = None,
    registry_root: Annotated[
        str | None,
        typer.Option(
            "--registry",
            metavar="[CHAIN_ID:]ADDRESS[:CODEHASH]",
            help="Only for a plain DecisionLog (report only): the ModelRegistry whose "
            "approvals bind its records. A ChallengeableLog names its own.",
        ),
    ] = None,
    models: Annotated[
        Path | None,
        typer.Option(
            "--models",
            metavar="DIR",
            help="A data directory holding the approved models' artifacts. Default: this one.",
        ),
    ] = None,
    once: Annotated[
        bool, typer.Option("--once", help="Verify the heads anchored now, report, exit.")
    ] = False,
    interval: Annotated[
        float, typer.Option("--interval", min=0.1, help="Seconds between passes (not --once).")
    ] = 12.0,
    confirmations: Annotated[
        int, typer.Option("--confirmations", min=0, help="Blocks a head must be under.")
    ] = 0,
    no_challenge: Annotated[
        bool, typer.Option("--no-challenge", help="Report wrong records; send no challenge.")
    ] = False,
    api_key: Annotated[
        str | None,
        typer.Option("--api-key", envvar="CHAINML_WATCH_API_KEY", help="For a private API."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Re-verify every anchored batch (leaves, root, scores) and challenge the first wrong record.

    Resumes from its checkpoint (<data dir>/watch/), written after each verified head.
    """
    settings = settings_of(ctx).with_overrides(rpc=rpc)
    log = parse_trust_root(log_root, "--log")
    registry = None if registry_root is None else parse_trust_root(registry_root, "--registry")
    records = _source(source, settings.data_dir, api_key)
    try:
        with connect(settings) as env:
            tower = open_watchtower(
                env,
                log,
                records,
                settings.data_dir,
                registry=registry,
                models_dir=models,
                challenge=not no_challenge,
                confirmations=confirmations,
            )
            report = _run(tower, once, interval, quiet=as_json)
    finally:
        records.close()
    if as_json:
        print_json(report.to_json())
    else:
        _render(report)
    raise typer.Exit(report.exit_code)


def _source(text: str | None, data_dir: Path, api_key: str | None) -> RecordSource:
    if text is None:
        return LogDirSource(data_dir)
    return record_source(text, api_key)


def _run(tower: Any, once: bool, interval: float, *, quiet: bool) -> WatchReport:
    columns = (
        TextColumn("verifying"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("records"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console(), transient=True, disable=quiet) as progress:
        task = progress.add_task("verifying", total=None)

        def step(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        if once:
            report: WatchReport = tower.run_once(step)
            return report
        stop = threading.Event()
        last: list[WatchReport] = []
        previous = signal.signal(signal.SIGINT, lambda *_: stop.set())
        try:

            def passed(report: WatchReport) -> None:
                last.append(report)
                if report.heads or report.withheld or report.fault_count:
                    progress.console.print(_summary(report), soft_wrap=True)

            tower.watch(interval, stop.is_set, passed, step)
        finally:
            signal.signal(signal.SIGINT, previous)
        return _merged(tower, last)


def _merged(tower: Any, reports: list[WatchReport]) -> WatchReport:
    state = tower.state
    merged = WatchReport(state.log, state.chain_id, state.size)
    for report in reports:
        for name in ("heads", "records", "verified", "commitment_only", "unknown_model"):
            setattr(merged, name, getattr(merged, name) + getattr(report, name))
        merged.fault_count += report.fault_count
        merged.faults += report.faults
        merged.seconds += report.seconds
        merged.withheld = report.withheld
    return merged


def _summary(report: WatchReport) -> str:
    text = (
        f"{report.heads} head(s), {report.records:,} records checked up to size "
        f"{report.size:,} in {report.seconds:.2f} s ({report.records_per_second:,.0f} records/s)"
    )
    if report.fault_count:
        text += f"; [bold red]{report.fault_count} wrong record(s)[/bold red]"
    if report.withheld is not None:
        text += f"; [bold red]data withheld[/bold red] at head {report.withheld.size}"
    return text


def _render(report: WatchReport) -> None:
    out = console()
    out.print(_summary(report), soft_wrap=True)
    out.print(
        f"verified {report.verified:,}; commitment only (no features) "
        f"{report.commitment_only:,}; model artifact not held {report.unknown_model:,}",
        soft_wrap=True,
    )
    for fault in report.faults:
        challenge = fault.get("challenge", {})
        outcome = (
            "challenged: " + ", ".join(f"{k}={v}" for k, v in challenge.items())
            if challenge.get("submitted")
            else challenge.get("detail") or challenge.get("error") or "not challenged"
        )
        out.print(
            f"[red]fault[/red] record {fault['index']} (head {fault['head']}): "
            f"{fault['kind']}: {fault['detail']} ({outcome})",
            soft_wrap=True,
            markup=True,
        )
    if report.withheld is not None:
        w = report.withheld
        out.print(
            f"[red]data withheld[/red]: records [{w.previous_size}, {w.size}) of the head "
            f"anchored at block {w.block_number}: {w.detail}",
            soft_wrap=True,
        )
    if report.exit_code == 0:
        out.print("[green]every anchored record checked out[/green]")
