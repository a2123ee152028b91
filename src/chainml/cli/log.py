"""The ``chainml log`` command group: append decisions, anchor heads, prove and verify, audit."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import Progress

from chainml.chain import connect
from chainml.cli import console, print_json, settings_of
from chainml.errors import InvalidInputError, NotFoundError, VerificationError
from chainml.log.anchor import Anchorer, log_contract
from chainml.log.decision_log import Decision, DecisionLog
from chainml.log.receipt import build_receipt, verify_receipt
from chainml.log.record import hex32, request_id_from

app = typer.Typer(help="The tamper-evident decision log.", no_args_is_help=True)
BATCH = 10_000
_JSON = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]


def _open_log(ctx: typer.Context) -> DecisionLog:
    return DecisionLog.open(settings_of(ctx).data_dir)


# -- append --------------------------------------------------------------------------------


def _decision(line: str, number: int, default_model: bytes | None) -> Decision:
    try:
        item = json.loads(line)
        if not isinstance(item, dict):
            raise InvalidInputError("each line must be a JSON object")
        model = item.get("model_id")
        model_id = hex32(model, "model_id") if model is not None else default_model
        if model_id is None:
            raise InvalidInputError("model_id missing (give it per line or with --model-id)")
        if "request_id" not in item:
            raise InvalidInputError("request_id missing")
        metadata = item.get("metadata")
        commitment = item.get("input_commitment")
        return Decision(
            model_id=model_id,
            score=_int(item.get("score"), "score"),
            label=_int(item.get("label"), "label"),
            request_id=request_id_from(str(item["request_id"])),
            features=tuple(_int(f, "feature") for f in item.get("features", [])),
            input_commitment=hex32(commitment, "input_commitment") if commitment else None,
            metadata_hash=_metadata_hash(metadata) if metadata is not None else bytes(32),
            timestamp_ms=_int(item["timestamp_ms"], "timestamp_ms")
            if "timestamp_ms" in item
            else None,
        )
    except json.JSONDecodeError as err:
        raise InvalidInputError(f"line {number}: not JSON ({err.msg})") from None
    except InvalidInputError as err:
        raise InvalidInputError(f"line {number}: {err}") from None


def _int(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise InvalidInputError(f"{name} must be an integer, got {value!r}")
    try:
        return int(value)
    except ValueError:
        raise InvalidInputError(f"{name} must be an integer, got {value!r}") from None


def _metadata_hash(metadata: Any) -> bytes:
    canonical = json.dumps(metadata, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).digest()


def _lines(path: Path) -> Iterator[tuple[int, str]]:
    try:
        with path.open(encoding="utf-8") as handle:
            for number, line in enumerate(handle, start=1):
                if line.strip():
                    yield number, line
    except (OSError, UnicodeDecodeError) as err:
        raise InvalidInputError(f"cannot read {path}: {err}") from err


@app.command()
def append(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="JSON Lines: one decision per line.")],
    model_id: Annotated[
        str | None, typer.Option("--model-id", help="Model id (0x + 64 hex) for lines without one.")
    ] = None,
) -> None:
    """Append decisions from a JSON Lines file; all or nothing.

    Each line: {"request_id", "score", "label", "model_id"?, "features"? [ints],
    "input_commitment"?, "metadata"? {...}, "timestamp_ms"?}.
    """
    default_model = hex32(model_id, "--model-id") if model_id else None
    with _open_log(ctx) as log:
        # First pass: validate everything (including duplicate request ids) before writing.
        seen: set[bytes] = set()
        total = 0
        for number, line in _lines(file):
            decision = _decision(line, number, default_model)
            if decision.request_id in seen or _known(log, decision.request_id):
                raise InvalidInputError(f"line {number}: request_id is already logged")
            seen.add(decision.request_id)
            total += 1
        batch: list[Decision] = []
        with Progress(console=console(), transient=True) as progress:
            task = progress.add_task("appending", total=total)
            for number, line in _lines(file):
                batch.append(_decision(line, number, default_model))
                if len(batch) == BATCH:
                    log.append(batch)
                    progress.advance(task, len(batch))
                    batch = []
            log.append(batch)
        head = log.head()
    console().print(f"appended {total} decisions; log size {head.size}, root 0x{head.root.hex()}")


def _known(log: DecisionLog, request_id: bytes) -> bool:
    try:
        log.index_of(request_id)
    except NotFoundError:
        return False
    return True


# -- head and anchor -----------------------------------------------------------------------


@app.command()
def head(ctx: typer.Context, as_json: _JSON = False) -> None:
    """The log's tree head and its latest anchor."""
    with _open_log(ctx) as log:
        tree = log.head()
        anchor = log.store.latest_anchor()
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


@app.command()
def anchor(ctx: typer.Context) -> None:
    """Anchor the current tree head on chain (deploys the log contract on first use)."""
    with _open_log(ctx) as log, connect(settings_of(ctx)) as env:
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


# -- prove, verify, audit ------------------------------------------------------------------


@app.command()
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
    with _open_log(ctx) as log:
        position = index if index is not None else log.index_of(request_id_from(str(request_id)))
        receipt = build_receipt(log, position)
    text = json.dumps(receipt, indent=2)
    if output is None:
        typer.echo(text)
    else:
        output.write_text(text + "\n")
        state = "anchored" if receipt["anchor"] else "pending (not anchored yet)"
        console().print(f"receipt of decision {position} written to {output}: {state}")


@app.command()
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


@app.command()
def audit(ctx: typer.Context, offline: Annotated[bool, typer.Option("--offline")] = False) -> None:
    """Recompute the log from its records; check every anchored head on chain."""
    with _open_log(ctx) as log:
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
    Anchorer(log, contract).reconcile(from_block=0)  # raises on a head the log does not have
    for record in log.store.anchors(env.chain_id, contract.address):
        on_chain = bytes(contract.roots(record.size))
        if on_chain != record.root:
            raise VerificationError(
                f"the log recorded an anchor of size {record.size} that contract "
                f"{contract.address} does not hold (it holds 0x{on_chain.hex()})"
            )
    return len(log.store.anchors(env.chain_id, contract.address))
