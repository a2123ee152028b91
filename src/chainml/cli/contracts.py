"""``chainml contracts scan``: screen Solidity/Vyper sources or a deployed contract."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from chainml.cli import console, print_json, settings_of
from chainml.cli.log import open_log

app = typer.Typer(help="Smart-contract screening: ML findings per category, logged as receipts.")

_ADDRESS = re.compile(r"^0x[0-9a-fA-F]{40}$")


@app.command()
def scan(
    ctx: typer.Context,
    target: Annotated[
        str, typer.Argument(help="A .sol/.vy file, a folder of them, or a 0x address.")
    ],
    model_path: Annotated[
        Path | None, typer.Option("--model", help="A scan model JSON (default: the shipped one).")
    ] = None,
    no_log: Annotated[
        bool, typer.Option("--no-log", help="Do not log the scan (no receipts).")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Scan contracts; each file's findings become a decision in the log, with its receipt."""
    from chainml.scan import load_model, scan_address, scan_path

    model = load_model(model_path)
    if _ADDRESS.match(target):
        from chainml.chain import connect

        with connect(settings_of(ctx)) as env:
            report = scan_address(env, target, model=model)
    else:
        report = scan_path(Path(target), model=model)
    if not no_log:
        with open_log(ctx) as log:
            report.log_to(log)
    if as_json:
        print_json(report.to_json())
        return
    table = Table(title=f"scan of {target} ({len(report.files)} files, {report.seconds:.1f} s)")
    for column in ("file", "category", "function", "lines", "score"):
        table.add_column(column)
    for name, f in report.findings:
        table.add_row(
            name,
            f.category,
            f"{f.contract}.{f.function}",
            f"{f.first_line}-{f.last_line}",
            f"{f.score:.2f}",
        )
    console().print(table)
    for name, error in report.errors.items():
        console().print(f"[yellow]not scanned[/yellow] {name}: {error}")
    if not no_log:
        logged = [f.receipt["leaf_index"] for f in report.files if f.receipt]
        console().print(f"logged as decisions {logged} (chainml log prove INDEX for a receipt)")
