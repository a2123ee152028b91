"""``chainml log prove``, ``verify`` and ``identity``: receipts, and the log verifiers pin."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from eth_utils import keccak

from chainml.chain import connect
from chainml.cli import console, print_json, settings_of
from chainml.cli.log import open_log
from chainml.errors import InvalidInputError
from chainml.files import write_atomic
from chainml.log.approval import check_approved
from chainml.log.checkpoint import published_verifier
from chainml.log.receipt import build_receipt, check_receipt, trusted_log_of, verify_receipt
from chainml.log.receipt_format import read_receipt
from chainml.log.record import request_id_from
from chainml.log.trust import TrustRoot, log_identity, parse_trust_root, trust_roots

_JSON = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]


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
        write_atomic(output, text + "\n")
        state = "anchored" if receipt["anchor"] else "pending (not anchored yet)"
        console().print(f"receipt of decision {position} written to {output}: {state}")


def verify(
    ctx: typer.Context,
    receipt_file: Annotated[Path, typer.Argument(metavar="RECEIPT", help="A receipt JSON file.")],
    logs: Annotated[
        list[str] | None,
        typer.Option(
            "--log",
            metavar="[CHAIN_ID:]ADDRESS[:CODEHASH]",
            help="A decision log you trust (repeatable; adds to the trusted_logs setting).",
        ),
    ] = None,
    offline: Annotated[
        bool, typer.Option("--offline", help="Check the hashes only; the anchor is NOT verified.")
    ] = False,
    require_approved: Annotated[
        str | None,
        typer.Option(
            "--require-approved",
            metavar="USE",
            help="Also require the record's model to be the approved one for USE (at the "
            "anchor's block) in the --registry you pin.",
        ),
    ] = None,
    registry: Annotated[
        str | None,
        typer.Option(
            "--registry",
            metavar="[CHAIN_ID:]ADDRESS[:CODEHASH]",
            help="The ModelRegistry you trust, for --require-approved.",
        ),
    ] = None,
    rpc: Annotated[
        str | None,
        typer.Option(
            "--rpc", metavar="URL", help="Node of the receipt's chain (beats the global --rpc)."
        ),
    ] = None,
) -> None:
    """Verify a receipt against a log you trust (--log, or the trusted_logs setting).

    Exit 0: verified, the decision is in a log you trust and the chain holds its head.

    Exit 3: not verified (bad hashes, pending, unpinned, untrusted log, wrong code or chain).

    Exit 2: not a receipt. With --offline, exit 0 means only that the hashes check out.
    """
    settings = settings_of(ctx)
    trusted = trust_roots([*settings.trusted_logs, *(logs or [])])
    approval = _registry(require_approved, registry)
    document = read_receipt(receipt_file)
    check = check_receipt(document)  # the hashes first: a bad proof fails without a node
    out = console()
    if offline:
        out.print(
            f"hashes check out: decision {check.leaf_index} is leaf {check.leaf_index} of a tree "
            f"of size {check.tree_size}"
            + (f" that extends to {check.anchored_size}" if check.anchor else "")
            + ". The anchor is NOT verified (--offline): nothing shows which log this is."
        )
        return
    trusted_log_of(check, trusted)  # pending, unpinned, untrusted: refused before connecting
    with connect(settings.with_overrides(rpc=rpc)) as env:
        check = verify_receipt(document, env, trusted=trusted)
        block = check_approved(env, check, approval[1], approval[0]) if approval else None
    anchor = check.anchor
    assert anchor is not None  # verify_receipt refuses pending receipts
    out.print(
        f"[green]valid[/green]: decision {check.leaf_index} is in trusted log "
        f"{anchor.chain_id}:{anchor.contract} (size {check.tree_size}); anchored at size "
        f"{anchor.tree_size} in block {anchor.block_number}: the contract holds that root"
    )
    if approval is not None:
        out.print(
            f"model 0x{check.record.model_id.hex()} was the approved model for "
            f"{approval[0]!r} at block {block}"
        )


def identity(ctx: typer.Context, as_json: _JSON = False) -> None:
    """What the operator publishes so verifiers can pin this log: chain id, address, code hash.

    Also the verifier key of the checkpoints `chainml log export --tiles` signs (the key is
    created in the data directory on first use; a read-only copy without one shows none).
    """
    from chainml.governance.deployments import deployment

    data_dir = settings_of(ctx).data_dir
    registry = None  # the ModelRegistry, for verifiers' --require-approved
    with open_log(ctx) as log, connect(settings_of(ctx)) as env:
        found = log_identity(env, log)
        verifier = published_verifier(data_dir, log.store)
        address = (deployment(data_dir, env.chain_id) or {}).get("ModelRegistry")
        if address is not None and env.backend.code(address):
            registry = f"{env.chain_id}:{address}:0x{keccak(env.backend.code(address)).hex()}"
    facts = {
        "chain_id": found.chain_id,
        "contract": found.contract,
        "code_hash": "0x" + found.code_hash.hex(),
        "code_sha256": "0x" + found.code_sha256.hex(),
        "chainml_build": found.is_chainml_build,
        "trust_root": found.trust_root,
        "verifier_key": None if verifier is None else str(verifier),
        "registry": registry,
    }
    if as_json:
        print_json(facts)
        return
    out = console()
    out.print(
        f"chain id   {found.chain_id}\ncontract   {found.contract}\n"
        f"code hash  0x{found.code_hash.hex()}"
        + ("" if found.is_chainml_build else "  (not this chainml's own log contract build)")
        + f"\ncode SHA-256  0x{found.code_sha256.hex()}  (for verifiers with only hashlib)",
        soft_wrap=True,
    )
    out.print(f"verifiers pin it with:  --log {found.trust_root}", soft_wrap=True)
    if verifier is not None:
        out.print(f"checkpoints are signed by:  --verifier-key {verifier}", soft_wrap=True)
    if registry is not None:
        out.print(f"approvals are in:  --registry {registry}", soft_wrap=True)


def _registry(use: str | None, registry: str | None) -> tuple[str, TrustRoot] | None:
    if use is None:
        if registry is not None:
            raise InvalidInputError("--registry is only used with --require-approved USE")
        return None
    if registry is None:
        raise InvalidInputError(
            "--require-approved needs the registry you trust: --registry [CHAIN_ID:]ADDRESS"
        )
    return use, parse_trust_root(registry, "--registry")
