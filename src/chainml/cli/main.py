"""The ``chainml`` root command: global options, the exit-code table and the ``main()`` entry.

``main()`` is the console script. It maps every :class:`~chainml.errors.ChainMLError` to a
one-line message on stderr and the error's ``exit_code``; usage errors exit 2 (typer/click);
anything else is a bug and exits 1, with the traceback only when ``CHAINML_DEBUG=1``.
"""

from __future__ import annotations

import os
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, NoReturn
from urllib.parse import urlsplit

import typer
from rich.console import Console

from chainml.cli import (
    chain,
    contracts,
    data,
    demo,
    fl,
    gov,
    guard,
    log,
    log_anchor,
    log_append,
    log_optimistic,
    log_receipts,
    log_tiles,
    model,
    model_import,
    model_registry,
    monitor,
    onchain,
    serve,
    watch,
    zk,
)
from chainml.config import load_settings
from chainml.errors import EXIT_CODES, ChainMLError, InvalidInputError


def _exit_code_epilog() -> str:
    rows = "\n".join(f"  {code}  {meaning}" for code, meaning in sorted(EXIT_CODES.items()))
    return f"[bold]Exit codes[/bold]\n{rows}"


app = typer.Typer(
    name="chainml",
    help="Machine-learning models and their decisions, verifiable on Ethereum-compatible chains.",
    epilog=_exit_code_epilog(),
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode="rich",
    pretty_exceptions_enable=False,
)
app.add_typer(chain.app, name="chain")
log.app.command("append")(log_append.append)
log.app.command("anchor")(log_anchor.anchor)
log.app.command("forget-anchor")(log_anchor.forget_anchor)
log.app.command("prove")(log_receipts.prove)
log.app.command("verify")(log_receipts.verify)
log.app.command("identity")(log_receipts.identity)
log.app.command("export")(log_tiles.export)
log.app.command("mirror")(log_tiles.mirror)
log.app.command("challengeable")(log_optimistic.challengeable)
log.app.command("status")(log_optimistic.status)
log.app.command("challenge")(log_optimistic.challenge)
app.add_typer(log.app, name="log")
app.add_typer(data.app, name="data")
model.app.command("register")(model_registry.register)
model.app.command("show")(model_registry.show)
model.app.command("list")(model_registry.list_)
model.app.command("import")(model_import.import_)
app.add_typer(model.app, name="model")
app.add_typer(gov.app, name="gov")
app.add_typer(onchain.app, name="onchain")
app.add_typer(guard.app, name="guard")
app.command("serve")(serve.serve)
app.add_typer(contracts.app, name="contracts")
app.command("demo")(demo.demo)
app.command("watch", epilog=watch.EPILOG)(watch.watch)
app.command("monitor")(monitor.monitor)
app.add_typer(fl.app, name="fl")
app.add_typer(zk.app, name="zk")


def _show_version(value: bool) -> None:
    if value:
        from chainml import __version__

        typer.echo(f"chainml {__version__}")
        raise typer.Exit()


def _rpc_url_problem(value: str) -> str | None:
    """Why ``value`` (one URL or several, comma-separated) is no node URL list, or None.

    Names the offending URL without credentials or query string.
    """
    urls = [part.strip() for part in value.split(",") if part.strip()]
    if not urls:
        return "no node URL given (e.g. http://127.0.0.1:8545)"
    for url in urls:
        parts = urlsplit(url)
        if parts.scheme in ("http", "https") and parts.hostname:
            continue
        from chainml.chain.endpoints import redact_url

        return (
            f"{redact_url(url)!r} is not an http:// or https:// node URL "
            "(e.g. http://127.0.0.1:8545)"
        )
    return None


def _check_network_option(value: str | None) -> str | None:
    if value is not None:
        from chainml.chain.networks import NETWORKS

        if value.strip().lower() not in NETWORKS:
            raise typer.BadParameter(
                f"unknown network {value!r}; known: {', '.join(sorted(NETWORKS))}"
            )
    return value


def _check_rpc_option(value: str | None) -> str | None:
    if value is not None and (problem := _rpc_url_problem(value)):
        raise typer.BadParameter(problem)
    return value


@app.callback()
def root(
    ctx: typer.Context,
    data_dir: Annotated[
        Path | None,
        typer.Option(
            "--data-dir",
            metavar="PATH",
            help="Data directory (chain, caches). Default: $CHAINML_DATA_DIR or ./.chainml",
        ),
    ] = None,
    rpc: Annotated[
        str | None,
        typer.Option(
            "--rpc",
            metavar="URL[,URL...]",
            callback=_check_rpc_option,
            help="JSON-RPC node URL, or several of one chain comma-separated (failover). "
            "Default: $CHAINML_RPC, else the embedded chain.",
        ),
    ] = None,
    network: Annotated[
        str | None,
        typer.Option(
            "--network",
            metavar="NAME",
            callback=_check_network_option,
            help="A public network preset (mainnet, sepolia, base, base-sepolia, optimism, "
            "op-sepolia, arbitrum, arbitrum-sepolia, polygon, ...): pins the chain id, sets "
            "confirmations, fee defaults and explorer links. Default: $CHAINML_NETWORK.",
        ),
    ] = None,
    log: Annotated[
        str | None,
        typer.Option(
            "--log",
            metavar="URL",
            help="The decision log's store: postgresql://user@host/db[?schema=NAME] for a log "
            "several services share (docs/scale.md). Default: $CHAINML_LOG_URL, else the "
            "SQLite file in the data directory.",
        ),
    ] = None,
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            is_eager=True,
            callback=_show_version,
            help="Print the chainml version and exit.",
        ),
    ] = False,
) -> None:
    """Machine-learning models and their decisions, verifiable on Ethereum-compatible chains."""
    if ctx.resilient_parsing:  # shell completion: do not read the environment
        return
    from chainml.chain.networks import apply_network

    settings = load_settings().with_overrides(
        data_dir=data_dir, rpc=rpc, network=network, log_url=log
    )
    if settings.rpc is not None and (problem := _rpc_url_problem(settings.rpc)):
        raise InvalidInputError(f"CHAINML_RPC / chainml.toml: {problem}")  # checked before use
    ctx.obj = apply_network(settings)


def main(argv: Sequence[str] | None = None) -> NoReturn:
    """Run the CLI and exit with the status of the one exit-code table."""
    command = typer.main.get_command(app)
    stderr = Console(stderr=True, highlight=False, soft_wrap=True)
    try:
        # standalone: typer prints usage errors itself and exits 2 (SystemExit passes through)
        command.main(args=argv, prog_name="chainml", standalone_mode=True)
    except ChainMLError as err:
        stderr.print(f"error: {err}", style="bold red", markup=False)
        sys.exit(err.exit_code)
    except Exception as err:  # anything else is a bug: say so, and exit 1
        stderr.print(
            f"internal error: {type(err).__name__}: {err}\n"
            "This is a bug in chainml; please report it. "
            "Run again with CHAINML_DEBUG=1 to see the traceback.",
            style="bold red",
            markup=False,
        )
        if os.environ.get("CHAINML_DEBUG") == "1":
            traceback.print_exception(err, file=sys.stderr)
        sys.exit(1)
    sys.exit(0)  # not reached: standalone mode always exits


if __name__ == "__main__":
    main()
