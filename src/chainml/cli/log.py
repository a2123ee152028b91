"""The ``chainml log`` command group: the tree head and the audit; other verbs in sibling modules.

``append`` lives in :mod:`chainml.cli.log_append`, ``anchor`` in :mod:`chainml.cli.log_anchor`,
``prove`` and ``verify`` in :mod:`chainml.cli.log_receipts`; :mod:`chainml.cli.main` registers them.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.progress import Progress

from chainml.chain import connect
from chainml.chain.txmanager import TxStatus, statuses_in
from chainml.cli import console, print_json, settings_of
from chainml.errors import VerificationError
from chainml.log.anchor import Anchorer, log_contract
from chainml.log.decision_log import DecisionLog

app = typer.Typer(help="The tamper-evident decision log.", no_args_is_help=True)
_JSON = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]


def open_log(ctx: typer.Context) -> DecisionLog:
    """The decision log of the data directory the command runs on, at its durability.

    Read-only when the directory or the log file is not writable (a copy given to an
    auditor): reading commands work on it, and writing ones fail with exit 6.
    """
    settings = settings_of(ctx)
    return DecisionLog.open(settings.data_dir, durability=settings.durability, url=settings.log_url)


@app.command()
def head(ctx: typer.Context, as_json: _JSON = False) -> None:
    """The log's tree head and its latest anchor."""
    settings = settings_of(ctx)
    with open_log(ctx) as log:
        tree = log.head()
        anchor = log.store.latest_anchor()
    senders = statuses_in(settings.data_dir, settings.fee_policy())
    facts: dict[str, Any] = {
        "size": tree.size,
        "root": "0x" + tree.root.hex(),
        "anchored_size": anchor.size if anchor else 0,
        "pending": tree.size - (anchor.size if anchor else 0),
        "anchor": None
        if anchor is None
        else {
            "chain_id": anchor.chain_id,
            "contract": anchor.contract,
            "tx_hash": "0x" + anchor.tx_hash.hex(),
            "block_number": anchor.block_number,
        },
        "transactions": {name: _tx_facts(status) for name, status in senders},
    }
    if as_json:
        print_json(facts)
        return
    out = console()
    out.print(f"size     {tree.size}\nroot     0x{tree.root.hex()}")
    if anchor is None:
        out.print("anchored nothing yet (run `chainml log anchor`)")
    else:
        out.print(
            f"anchored {anchor.size} on chain {anchor.chain_id} at {anchor.contract} "
            f"(block {anchor.block_number}); {facts['pending']} pending"
        )

    for name, status in senders:
        out.print(_tx_line(name, status))


def _tx_facts(status: TxStatus) -> dict[str, Any]:
    blocked = status.blocked
    return {
        "pending": status.pending,
        "oldest_pending_seconds": round(status.oldest_pending_seconds, 1),
        "held_back": None
        if blocked is None
        else {"reason": blocked.reason, "needed": blocked.needed, "limit": blocked.limit},
        "stuck_for_seconds": round(status.stuck_for_seconds, 1),
        "spent_today_wei": status.spent_today_wei,
        "budget_left_wei": status.budget_left_wei,
        "fees_paid_wei": status.fees_paid_wei,
        "replacements": status.replacements,
        "resubmissions": status.resubmissions,
    }


def _tx_line(name: str, status: TxStatus) -> str:
    line = f"sender   {name}: {status.pending} in flight, {status.fees_paid_wei} wei paid"
    blocked = status.blocked
    if blocked is not None and blocked.reason == "fee_cap":
        line += (
            f"; [yellow]waiting for fees[/yellow] for {status.stuck_for_seconds:.0f} s: the "
            f"network asks {blocked.needed / 1e9:.3f} gwei, the cap is {blocked.limit / 1e9:.3f}"
        )
    elif blocked is not None:
        line += f"; [yellow]today's budget of {blocked.limit} wei is spent[/yellow]"
    return line


@app.command()
def audit(ctx: typer.Context, offline: Annotated[bool, typer.Option("--offline")] = False) -> None:
    """Recompute the log from its records; check every anchored head on chain."""
    with open_log(ctx) as log:
        with Progress(console=console(), transient=True) as progress:
            task = progress.add_task("auditing", total=log.store.size)
            report = log.audit(lambda done, total: progress.update(task, completed=done))
        if not report.ok:
            raise VerificationError(f"audit failed: {report.message}")
        anchors = log.store.anchors()
        checked = 0
        if anchors and not offline:
            with connect(settings_of(ctx)) as env:
                checked = _check_anchors(log, env)
        size = log.store.size
    console().print(
        f"[green]audit passed[/green]: {size} records, {len(anchors)} anchored heads "
        f"({checked} checked on chain)"
    )


def _check_anchors(log: DecisionLog, env: Any) -> int:
    """Every head the contract holds is a head of this log, and every recorded one is held."""
    contract = log_contract(env, log, deploy=False)
    # raises on a head the log does not have; a read-only copy is checked, not written
    Anchorer(log, contract).reconcile(from_block=0, record=not log.store.read_only)
    for record in log.store.anchors(env.chain_id, contract.address):
        on_chain = bytes(contract.roots(record.size))
        if on_chain != record.root:
            raise VerificationError(
                f"the log recorded an anchor of size {record.size} that contract "
                f"{contract.address} does not hold (it holds 0x{on_chain.hex()})"
            )
    return len(log.store.anchors(env.chain_id, contract.address))
