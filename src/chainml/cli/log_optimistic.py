"""``chainml log challengeable``, ``log status`` and ``log challenge``: optimistic verification.

``challengeable`` makes a bonded ChallengeableLog the log's anchor contract (``log anchor``
then posts the bond and anchors there); ``status`` shows each anchored head's challenge window
and state; ``challenge`` turns a receipt into a fraud proof in one command. Exit codes: 0 a
fault proven and paid; 3 the record is correct (nothing to prove); 5 the chain refused (window
closed, head not anchored or already faulty); 2 bad input (no proof for that head, features
that do not match the commitment).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from chainml.chain import connect
from chainml.cli import console, format_eth, print_json, settings_of
from chainml.cli.log import open_log
from chainml.errors import InvalidInputError
from chainml.inference.optimistic import (
    DEFAULT_BOND,
    DEFAULT_WINDOW,
    ChallengeOutcome,
    HeadState,
    deploy_log,
    head_states,
)
from chainml.inference.optimistic.receipts import challenge_receipt
from chainml.log.anchor import log_contract
from chainml.log.anchor_contract import CHALLENGEABLE_NAME, adopt_contract, contract_kind
from chainml.log.decision_log import LOG_FILE, DecisionLog
from chainml.log.receipt_format import read_receipt

_JSON = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]
_STATE_STYLE = {HeadState.OPEN: "yellow", HeadState.FINAL: "green", HeadState.FAULTY: "red"}


def challengeable(
    ctx: typer.Context,
    registry: Annotated[
        str | None,
        typer.Option("--registry", metavar="ADDRESS", help="The ModelRegistry records obey."),
    ] = None,
    use: Annotated[
        str, typer.Option("--use", help="The use the log's models must be approved for.")
    ] = "",
    window: Annotated[
        int, typer.Option("--window", min=1, metavar="BLOCKS", help="Challenge window.")
    ] = DEFAULT_WINDOW,
    bond: Annotated[
        int, typer.Option("--bond", min=0, metavar="WEI", help="Bond required to anchor.")
    ] = DEFAULT_BOND,
    address: Annotated[
        str | None,
        typer.Option("--address", metavar="ADDRESS", help="Adopt this deployed log instead."),
    ] = None,
) -> None:
    """Anchor this log to a bonded, challengeable contract (deployed here, or --address)."""
    if (registry is None) == (address is None):
        raise InvalidInputError("give --registry (to deploy a new log) or --address (to adopt)")
    with open_log(ctx) as log, connect(settings_of(ctx)) as env:
        if address is None:
            assert registry is not None
            address = deploy_log(env, registry, use=use, window=window, required_bond=bond).address
        contract = adopt_contract(env, log, address)
        facts = (int(contract.window()), int(contract.required_bond()))
    console().print(
        f"this log now anchors to {CHALLENGEABLE_NAME} {contract.address} on chain "
        f"{env.chain_id}: window {facts[0]:,} blocks, bond {format_eth(facts[1])}; "
        "`chainml log anchor` posts the bond and anchors"
    )


def status(ctx: typer.Context, as_json: _JSON = False) -> None:
    """Each anchored head's challenge window and state (open, final, faulty)."""
    with open_log(ctx) as log, connect(settings_of(ctx)) as env:
        contract = log_contract(env, log, deploy=False)
        kind = contract_kind(log, env.chain_id)
        latest = env.block_number
        facts: dict[str, Any] = {
            "chain_id": env.chain_id,
            "contract": contract.address,
            "kind": kind,
            "block": latest,
            "log_size": log.head().size,
        }
        if kind == CHALLENGEABLE_NAME:
            heads = head_states(env, contract.address)
            facts |= {
                "bond_wei": int(contract.bond()),
                "required_bond_wei": int(contract.required_bond()),
                "window_blocks": int(contract.window()),
                "halted": bool(contract.halted()),
                "heads": [h.to_json() | {"blocks_left": h.blocks_left(latest)} for h in heads],
            }
        else:
            facts["heads"] = [
                {"size": a.size, "anchored_block": a.block_number, "state": "final"}
                for a in log.store.anchors(env.chain_id, contract.address)
            ]
    if as_json:
        print_json(facts)
        return
    _print_status(facts)


def _print_status(facts: dict[str, Any]) -> None:
    out = console()
    out.print(
        f"{facts['kind']} {facts['contract']} on chain {facts['chain_id']} "
        f"(block {facts['block']}); the log holds {facts['log_size']} decisions"
    )
    if facts["kind"] != CHALLENGEABLE_NAME:
        out.print(f"{len(facts['heads'])} anchored head(s); a DecisionLog has no challenge window")
        return
    halted = " [red]HALTED: a head was proven faulty[/red]" if facts["halted"] else ""
    out.print(
        f"bond {format_eth(facts['bond_wei'])} of {format_eth(facts['required_bond_wei'])} "
        f"required; window {facts['window_blocks']:,} blocks{halted}"
    )
    for head in facts["heads"]:
        state = HeadState(head["state"])
        left = f", {head['blocks_left']:,} blocks left" if state is HeadState.OPEN else ""
        out.print(
            f"  size {head['size']:>10,} (records {head['previous_size']:,}..{head['size'] - 1:,})"
            f"  anchored block {head['anchored_block']:,}  window to {head['window_end']:,}"
            f"  [{_STATE_STYLE[state]}]{state.value}[/{_STATE_STYLE[state]}]{left}"
        )


def challenge(
    ctx: typer.Context,
    receipt_file: Annotated[Path, typer.Argument(metavar="RECEIPT", help="A receipt JSON file.")],
    log_address: Annotated[
        str | None,
        typer.Option(
            "--log", metavar="ADDRESS", help="The ChallengeableLog (default: the receipt's)."
        ),
    ] = None,
    features: Annotated[
        str | None,
        typer.Option(
            "--features",
            metavar="X1,X2,...",
            help="The fixed-point features, for a record that carries only their commitment.",
        ),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Say what the challenge would prove; send nothing.")
    ] = False,
    as_json: _JSON = False,
) -> None:
    """Prove a receipt's decision wrong on chain: one transaction that re-executes the model."""
    document = read_receipt(receipt_file)
    values = _features(features)
    with connect(settings_of(ctx)) as env:
        local = _local_log(ctx)
        try:
            head, result = challenge_receipt(
                env,
                document,
                log_address=log_address,
                features=values,
                local_log=local,
                dry_run=dry_run,
            )
        finally:
            if local is not None:
                local.close()
    if isinstance(result, ChallengeOutcome):
        facts = result.to_json()
        message = (
            f"[green]fault proven[/green]: record {result.index} of head {result.size} "
            f"({result.reason.name.lower().replace('_', ' ')}); paid {format_eth(result.reward)} "
            f"to {result.challenger} in tx 0x{result.tx_hash.hex()} (gas {result.gas_used:,})"
        )
    else:
        facts = {"dry_run": True, "reason": result.name.lower(), "size": head.size}
        message = (
            f"dry run: the challenge would prove {result.name.lower().replace('_', ' ')} in "
            f"head {head.size}; nothing was sent"
        )
    if as_json:
        print_json(facts)
    else:
        console().print(message)


def _features(text: str | None) -> list[int] | None:
    if text is None:
        return None
    try:
        return [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise InvalidInputError(
            f"--features must be comma-separated integers, got {text[:60]!r}"
        ) from None


def _local_log(ctx: typer.Context) -> DecisionLog | None:
    """The data directory's log, read-only, when there is one (it proves any head)."""
    data_dir = settings_of(ctx).data_dir
    if not (data_dir / LOG_FILE).is_file():
        return None
    return DecisionLog.open(data_dir, read_only=True)
