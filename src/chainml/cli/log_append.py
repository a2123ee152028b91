"""``chainml log append``: decisions from a JSON Lines file into the log, all or nothing."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import Progress

from chainml.cli import console
from chainml.cli.log import open_log
from chainml.errors import InvalidInputError, NotFoundError
from chainml.log.decision_log import Decision, DecisionLog
from chainml.log.record import hex32, request_id_from

BATCH = 10_000


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
    with open_log(ctx) as log:
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
