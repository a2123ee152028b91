"""The ``chainml chain`` command group: what chain chainml talks to, and with which accounts."""

from __future__ import annotations

import signal
import threading
from typing import Annotated, Any

import typer
from rich.table import Table

from chainml.chain import Env, connect
from chainml.cli import console, format_bytes, format_eth, iso_utc, print_json, settings_of
from chainml.errors import ChainError, ChainUnavailableError

app = typer.Typer(help="Inspect the chain chainml talks to.", no_args_is_help=True)

_JSON = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table (for scripts).")]


def chain_info(env: Env) -> dict[str, Any]:
    """The facts ``chain info`` shows, as plain JSON-ready values."""
    from chainml.chain.embedded import EmbeddedBackend

    block = env.block()
    backend = env.backend
    balance = None if env.read_only else env.balance()
    return {
        "backend": backend.kind,
        "chain_id": env.chain_id,
        "block_number": block.number,
        "block_timestamp": iso_utc(block.timestamp),
        "location": backend.location,  # a node URL comes back without credentials
        "data_dir": str(env.data_dir.resolve()) if env.data_dir else None,
        "default_account": None if env.read_only else env.sender,
        "balance_eth": None if balance is None else format_eth(balance),
        "balance_wei": None if balance is None else str(balance),
        "disk_usage_bytes": (
            backend.disk_usage() if isinstance(backend, EmbeddedBackend) else None
        ),
    }


def account_rows(env: Env) -> list[dict[str, Any]]:
    """The accounts ``env`` can sign for, with their balances; the first is the default."""
    rows = []
    for index, address in enumerate(env.accounts):
        balance = env.balance(address)
        rows.append(
            {
                "index": index,
                "address": address,
                "balance_eth": format_eth(balance),
                "balance_wei": str(balance),
            }
        )
    return rows


@app.command("info")
def info(ctx: typer.Context, as_json: _JSON = False) -> None:
    """Backend, chain id, latest block, location, default account and disk use."""
    with connect(settings_of(ctx)) as env:
        facts = chain_info(env)
    if as_json:
        print_json(facts)
        return
    table = Table(title="chain", show_header=False, title_justify="left")
    table.add_column("field", style="bold")
    table.add_column("value", overflow="fold")
    table.add_row("backend", facts["backend"])
    table.add_row("chain id", str(facts["chain_id"]))
    table.add_row("latest block", f"{facts['block_number']}  ({facts['block_timestamp']})")
    table.add_row("location", facts["location"])
    table.add_row("data directory", facts["data_dir"] or "-")
    if facts["default_account"] is None:
        table.add_row("default account", "none: read-only (no signing key configured)")
    else:
        table.add_row("default account", facts["default_account"])
        table.add_row("balance", f"{facts['balance_eth']} ETH")
    if facts["disk_usage_bytes"] is not None:
        table.add_row("database size", format_bytes(facts["disk_usage_bytes"]))
    console().print(table)


@app.command("accounts")
def accounts(ctx: typer.Context, as_json: _JSON = False) -> None:
    """The accounts chainml can sign for (index, address, balance)."""
    with connect(settings_of(ctx)) as env:
        rows = account_rows(env)
    if as_json:
        print_json(rows)
        return
    table = Table(title="accounts", title_justify="left")
    table.add_column("#", justify="right")
    table.add_column("address", no_wrap=True)
    table.add_column("balance (ETH)", justify="right")
    for row in rows:
        suffix = "  (default)" if row["index"] == 0 else ""
        table.add_row(str(row["index"]), row["address"] + suffix, row["balance_eth"])
    console().print(table)


@app.command("mine")
def mine(
    ctx: typer.Context,
    blocks: Annotated[int, typer.Argument(metavar="N", min=1, help="How many blocks.")],
) -> None:
    """Mine N empty blocks (development chains only: embedded or anvil)."""
    with connect(settings_of(ctx)) as env:
        try:
            env.mine(blocks)
        except ChainUnavailableError:
            raise
        except ChainError as err:
            raise ChainError(
                f"cannot mine on chain {env.chain_id} at {env.backend.location}: only development "
                "chains (the embedded chain, anvil) mine on request; real networks make blocks "
                "on their own schedule"
            ) from err
        latest = env.block_number
    console().print(f"mined {blocks} block(s); latest block {latest}")


@app.command("serve")
def serve(
    ctx: typer.Context,
    port: Annotated[
        int,
        typer.Option("--port", min=0, max=65535, help="Port on 127.0.0.1 (0: any free port)."),
    ] = 8545,
) -> None:
    """Serve the embedded chain as a JSON-RPC dev node on 127.0.0.1 until SIGINT/SIGTERM.

    web3.py, cast or a wallet can use it; other chainml commands on the same data directory
    go through it while it runs.
    """
    from chainml.chain.opening import serve_embedded

    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in _STOP_SIGNALS}
    try:
        env, url = serve_embedded(settings_of(ctx), port)
        with env:
            out = console()
            out.print(f"serving the embedded chain at {url}")
            out.print(f"chain id {env.chain_id}; data directory {env.data_dir}")
            out.print(f"default account {env.sender}; {len(env.accounts)} accounts in all")
            out.print(f"their keys come from {env.data_dir}/mnemonic (development only)")
            out.print("stop with Ctrl-C or SIGTERM")
            while not stop.wait(0.5):
                pass
        console().print("stopped; every transaction is sealed in the data directory")
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
