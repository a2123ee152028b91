"""``chainml log anchor`` and ``log forget-anchor``: tree heads onto the chain, dead contracts off.

``log anchor --dry-run`` prices the anchor it would send (execution gas and, on rollups, the L1
data fee) and sends nothing. ``forget-anchor`` is for a reset development node: the log's
anchor contract there is gone.
"""

from __future__ import annotations

from typing import Annotated

import typer

from chainml.chain import Env, connect
from chainml.chain.networks import NetworkPreset, network_preset, preset_for_chain
from chainml.cli import console, settings_of
from chainml.cli.log import open_log
from chainml.config import Settings
from chainml.log.anchor import Anchorer, log_contract
from chainml.log.anchor_contract import forget_contract
from chainml.log.anchor_estimate import estimate_anchor

_CONFIRMATIONS = Annotated[
    int | None,
    typer.Option(
        "--confirmations",
        min=0,
        max=10_000,
        metavar="N",
        help="Blocks on top of the anchor before it is final. Default: $CHAINML_CONFIRMATIONS, "
        "else 0 on development chains (embedded, anvil) and 12 elsewhere.",
    ),
]
_WAIT = Annotated[
    bool,
    typer.Option(
        "--wait/--no-wait",
        help="Wait until the anchor is final (anchoring again after a reorg), or return once "
        "it is mined; a later `log anchor` (or the service) records it as final.",
    ),
]
_TIMEOUT = Annotated[
    float,
    typer.Option("--timeout", min=0, metavar="SECONDS", help="How long --wait waits."),
]
_DRY_RUN = Annotated[
    bool,
    typer.Option(
        "--dry-run",
        help="Print the anchor that would be sent and its expected cost (execution gas x "
        "current fees, plus the L1 data fee on rollups); send nothing.",
    ),
]


def _preset(settings: Settings, env: Env) -> NetworkPreset | None:
    """The network preset in use: the configured one, else the one of the chain id."""
    return network_preset(settings.network) if settings.network else preset_for_chain(env.chain_id)


def _dry_run(settings: Settings, log_ctx: typer.Context) -> None:
    out = console()
    with open_log(log_ctx) as log, connect(settings) as env:
        preset = _preset(settings, env)
        estimate = estimate_anchor(env, log, data_fee=preset.data_fee if preset else None)
    where = f"chain {env.chain_id}" + (f" ({preset.name})" if preset else "")
    if estimate.deployment is not None:
        out.print(
            f"dry run on {where}: the first anchor deploys the log contract: "
            f"{estimate.deployment.describe()}; the anchor of size {estimate.to_size} follows "
            "(run --dry-run again after deploying to price it). Nothing was sent."
        )
    elif estimate.anchor is None:
        out.print(
            f"dry run on {where}: nothing to anchor (the chain holds size "
            f"{estimate.from_size}). Nothing was sent."
        )
    else:
        out.print(
            f"dry run on {where}: would anchor size {estimate.from_size} → {estimate.to_size}: "
            f"{estimate.anchor.describe()}. Nothing was sent."
        )


def anchor(
    ctx: typer.Context,
    confirmations: _CONFIRMATIONS = None,
    wait: _WAIT = True,
    timeout: _TIMEOUT = 900.0,
    dry_run: _DRY_RUN = False,
) -> None:
    """Anchor the current tree head on chain (deploys the log contract on first use)."""
    settings = settings_of(ctx).with_overrides(confirmations=confirmations)
    if dry_run:
        _dry_run(settings, ctx)
        return
    out = console()
    with open_log(ctx) as log, connect(settings) as env:
        anchorer = Anchorer(log, log_contract(env, log), confirmations=settings.confirmations)
        final_before = anchorer.anchored_size
        record = anchorer.anchor()
        if record is not None:
            receipt = env.backend.wait_for_receipt(record.tx_hash)
            paid = ""
            if receipt.cost is not None:
                l1 = "" if receipt.l1_fee is None else f", of which L1 data {receipt.l1_fee:,}"
                paid = f", paid {receipt.cost:,} wei{l1}"
            out.print(
                f"anchored size {record.size} root 0x{record.root.hex()}\n"
                f"chain {record.chain_id}, contract {record.contract}, "
                f"tx 0x{record.tx_hash.hex()}, block {record.block_number}, "
                f"gas {receipt.gas_used:,}{paid}"
            )
            if (preset := _preset(settings, env)) is not None:
                out.print(f"explorer: {preset.tx_url(record.tx_hash)}")
        if wait:
            anchorer.wait_final(timeout)
        pending, final, needed = anchorer.pending, anchorer.latest_final, anchorer.confirmations
        if pending is not None:
            out.print(
                f"pending: size {pending.size} (block {pending.record.block_number}) has "
                f"{anchorer.depth(pending)} of {needed} confirmations; it is recorded as final "
                "once it has them (run `chainml log anchor` again, or let the service do it)"
            )
        elif needed and final is not None and final.size > final_before:
            if record is not None and final.tx_hash != record.tx_hash:
                out.print("a reorg dropped that transaction; anchored again:")
            out.print(
                f"final: size {final.size} in tx 0x{final.tx_hash.hex()}, block "
                f"{final.block_number}, {needed} confirmations"
            )
        elif record is None:
            out.print(
                f"nothing to anchor: chain {env.chain_id} already holds size {log.head().size}"
            )


def forget_anchor(
    ctx: typer.Context,
    contract: Annotated[
        str | None,
        typer.Option(
            "--contract",
            metavar="ADDRESS",
            help="The contract to forget. Default: the log's contract on the connected chain.",
        ),
    ] = None,
    force: Annotated[
        bool,
        typer.Option("--force", help="Forget it even though the contract still has code."),
    ] = False,
) -> None:
    """Forget a dead anchor contract (after a dev node reset); decisions are never touched.

    Removes the remembered address and the anchors recorded through it.
    Refused while the contract still has code on the connected chain, unless --force.
    The next `log anchor` deploys a new contract.
    """
    with open_log(ctx) as log, connect(settings_of(ctx)) as env:
        gone = forget_contract(env, log, contract, force=force)
        size = log.head().size
    sizes = [a.size for a in gone.anchors]
    removed = f"{len(sizes)} anchor record(s)"
    if sizes:
        removed += f" (sizes {sizes[0]}..{sizes[-1]})"
    if gone.was_remembered:
        removed += " and the remembered address"
    forced = " (it still had code: forced)" if gone.had_code else ""
    console().print(
        f"forgot contract {gone.contract} on chain {gone.chain_id}{forced}: removed {removed}; "
        f"the log's {size} decisions are untouched"
        + ("; the next `chainml log anchor` deploys a new contract" if gone.was_remembered else "")
    )
