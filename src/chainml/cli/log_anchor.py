"""``chainml log anchor``: the log's tree head onto the chain."""

from __future__ import annotations

import typer

from chainml.chain import connect
from chainml.cli import console, settings_of
from chainml.cli.log import open_log
from chainml.log.anchor import Anchorer, log_contract


def anchor(ctx: typer.Context) -> None:
    """Anchor the current tree head on chain (deploys the log contract on first use)."""
    with open_log(ctx) as log, connect(settings_of(ctx)) as env:
        contract = log_contract(env, log)
        record = Anchorer(log, contract).anchor()
        if record is None:
            console().print(
                f"nothing to anchor: chain {env.chain_id} already holds size {log.head().size}"
            )
            return
        gas = env.backend.wait_for_receipt(record.tx_hash).gas_used
    console().print(
        f"anchored size {record.size} root 0x{record.root.hex()}\n"
        f"chain {record.chain_id}, contract {record.contract}, "
        f"tx 0x{record.tx_hash.hex()}, block {record.block_number}, gas {gas:,}"
    )
