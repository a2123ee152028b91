"""``chainml contracts scan`` / ``train``: screen Solidity/Vyper sources or a deployed contract."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from chainml.cli import console, print_json, settings_of
from chainml.cli.log import open_log
from chainml.config import Settings

if TYPE_CHECKING:
    from chainml.scan.trained import TrainedModel

app = typer.Typer(help="Smart-contract screening: ML findings per category, logged as receipts.")

_ADDRESS = re.compile(r"^0x[0-9a-fA-F]{40}$")


@app.command()
def scan(
    ctx: typer.Context,
    target: Annotated[
        str, typer.Argument(help="A .sol/.vy file, a folder of them, or a 0x address.")
    ],
    model_path: Annotated[
        Path | None,
        typer.Option(
            "--model",
            help="A scan model JSON (default: the one trained for this data directory, "
            "trained on first use; see chainml contracts train).",
        ),
    ] = None,
    no_log: Annotated[
        bool, typer.Option("--no-log", help="Do not log the scan (no receipts).")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Scan contracts; each file's findings become a decision in the log, with its receipt."""
    from chainml.scan import load_model, scan_address, scan_path

    model = load_model(model_path) if model_path else _trained(settings_of(ctx)).model
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


@app.command()
def train(
    ctx: typer.Context,
    smartbugs: Annotated[
        Path | None,
        typer.Option(
            "--smartbugs",
            help="SmartBugs Curated's folder (default: $CHAINML_SMARTBUGS_DIR or "
            "<data dir>/smartbugs-curated).",
        ),
    ] = None,
    retrain: Annotated[
        bool, typer.Option("--retrain", help="Train even if a model for these inputs is cached.")
    ] = False,
) -> None:
    """Train the scan model (deterministic, minutes) and cache it in the data directory.

    Prints progress on stderr and a JSON summary: model id, cache path, input key, seconds.
    """
    result = _trained(settings_of(ctx), smartbugs, retrain=retrain, quiet=False)
    info = result.model.info
    print_json(
        {
            "model_id": "0x" + result.model.model_id.hex(),
            "path": str(result.path),
            "inputs_key": result.key,
            "cached": result.cached,
            "seconds": round(result.seconds, 1),
            "files": info.get("files"),
            "units": info.get("units"),
            "categories": {
                name: {"threshold": m.threshold, "trees": len(m.trees)}
                for name, m in result.model.categories.items()
            },
        }
    )


def _trained(
    settings: Settings, smartbugs: Path | None = None, *, retrain: bool = False, quiet: bool = True
) -> TrainedModel:
    """The cached model for the data directory; trained first (saying so on stderr)."""
    from chainml.scan.trained import default_inputs, model_file, trained_model

    inputs = default_inputs(settings.data_dir, smartbugs)
    err = Console(stderr=True, highlight=False, soft_wrap=True)
    key = inputs.key()
    if quiet and not model_file(settings.data_dir, key).is_file():
        err.print(
            "no scan model trained for these inputs yet: training one now (about 2 minutes, "
            "once; it is cached in the data directory; chainml contracts train does it ahead)"
        )
        quiet = False
    return trained_model(
        settings.data_dir,
        inputs,
        key=key,
        retrain=retrain,
        progress=None if quiet else (lambda text: err.print(f"[dim]{text}[/dim]")),
    )
