"""``chainml log prove`` and ``log verify``: a decision's receipt, written and checked."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from chainml.chain import connect
from chainml.cli import console, settings_of
from chainml.cli.log import open_log
from chainml.errors import InvalidInputError
from chainml.log.receipt import build_receipt, verify_receipt
from chainml.log.record import request_id_from


def prove(
    ctx: typer.Context,
    index: Annotated[int | None, typer.Argument(help="The decision's index in the log.")] = None,
    request_id: Annotated[
        str | None, typer.Option("--request-id", help="Find it by request id.")
    ] = None,
    output: Annotated[
        Path | None, typer.Option("-o", "--output", help="Write here, not stdout.")
    ] = None,
) -> None:
    """Write the receipt of one decision (by index or request id)."""
    if (index is None) == (request_id is None):
        raise InvalidInputError("give exactly one of INDEX or --request-id")
    with open_log(ctx) as log:
        position = index if index is not None else log.index_of(request_id_from(str(request_id)))
        receipt = build_receipt(log, position)
    text = json.dumps(receipt, indent=2)
    if output is None:
        typer.echo(text)
    else:
        output.write_text(text + "\n")
        state = "anchored" if receipt["anchor"] else "pending (not anchored yet)"
        console().print(f"receipt of decision {position} written to {output}: {state}")


def verify(
    ctx: typer.Context,
    receipt_file: Annotated[Path, typer.Argument(metavar="RECEIPT", help="A receipt JSON file.")],
    offline: Annotated[bool, typer.Option("--offline", help="Check hashes only.")] = False,
    rpc: Annotated[
        str | None,
        typer.Option(
            "--rpc", metavar="URL", help="Node of the receipt's chain (beats the global --rpc)."
        ),
    ] = None,
) -> None:
    """Verify a receipt: hashes offline, then the anchor on chain. Exit 0 valid, 3 invalid."""
    try:
        document = json.loads(receipt_file.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise InvalidInputError(f"cannot read receipt {receipt_file}: {err}") from err
    check = verify_receipt(document)  # offline first: a bad proof fails without a node
    if check.anchored_size is not None and not offline:
        with connect(settings_of(ctx).with_overrides(rpc=rpc)) as env:
            check = verify_receipt(document, env)
    out = console()
    out.print(
        f"[green]valid[/green]: decision {check.leaf_index} is in the log of size {check.tree_size}"
    )
    if check.anchored_size is None:
        out.print("not anchored yet: prove it again after `chainml log anchor`")
    elif check.checked_on_chain:
        out.print(f"anchored at size {check.anchored_size}; the contract holds that root")
    else:
        out.print(f"anchored at size {check.anchored_size} (on-chain check skipped: --offline)")
