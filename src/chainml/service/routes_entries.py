"""``GET /v1/log/entries``: the log's raw leaf data, a range at a time, for watchers to re-verify.

Each entry is a leaf's bytes exactly as the log hashed them (the ABI-encoded decision record of
:mod:`chainml.log.record`), so a watcher recomputes leaf hashes and roots itself and trusts
nothing the service says about them. Two forms of one answer:

- JSON (the default): ``{"start", "end", "size", "entries": ["0x…", …]}``;
- binary, with ``Accept: application/octet-stream``: the entries back to back, each a
  big-endian uint32 length then the data, and the served range in the ``X-Log-Start`` and
  ``X-Log-End`` headers. About half the bytes of the JSON form and no parsing: what
  ``chainml watch`` asks for.

A request names at most :data:`MAX_ENTRIES` leaves; the answer may stop earlier, after
:data:`MAX_RESPONSE_BYTES` (always at least one entry): ``end`` says where, and the client
continues from there, as with Certificate Transparency's ``get-entries``.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from chainml.errors import InvalidInputError
from chainml.inference.optimistic.watch_wire import (
    BINARY,
    MAX_ENTRIES,
    MAX_RESPONSE_BYTES,
    encode_binary,
)
from chainml.service.auth import ReadAccess
from chainml.service.errors import TreeSizeError
from chainml.service.runtime import ServiceRuntime
from chainml.service.schemas import Problem

router = APIRouter(dependencies=[ReadAccess])


class EntriesResponse(BaseModel):
    """Leaves ``[start, end)`` of the log as hex; ``end`` may fall short of the one asked for."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    start: int = Field(description="Index of the first entry.")
    end: int = Field(description="One past the last entry served (continue from here).")
    size: int = Field(description="The log's size when the range was read.")
    entries: list[str] = Field(description="Each leaf's data (an ABI record), 0x-prefixed hex.")


def read_entries(runtime: ServiceRuntime, start: int, end: int) -> tuple[list[bytes], int]:
    """Leaf data of ``[start, end)`` (stopping after MAX_RESPONSE_BYTES) and the log's size."""
    if end <= start:
        raise InvalidInputError(f"end ({end}) must be greater than start ({start})")
    if end - start > MAX_ENTRIES:
        raise InvalidInputError(
            f"at most {MAX_ENTRIES} entries a request; [{start}, {end}) has {end - start}"
        )
    store = runtime.log.store
    size = store.size
    if end > size:
        raise TreeSizeError(end, size)
    entries: list[bytes] = []
    total = 0
    for _, data in store.iter_leaves(start, end):
        if entries and total + len(data) > MAX_RESPONSE_BYTES:
            break
        entries.append(data)
        total += len(data)
    return entries, size


@router.get(
    "/v1/log/entries",
    tags=["log"],
    response_model=EntriesResponse,
    responses={
        200: {
            "content": {BINARY: {}},
            "description": "JSON by default; with `Accept: application/octet-stream`, each "
            "entry as a big-endian uint32 length and its bytes (range in X-Log-Start/End).",
        },
        401: {"model": Problem, "description": "No API key (when reads are private)."},
        403: {"model": Problem, "description": "Wrong API key."},
        404: {"model": Problem, "description": "A range beyond the log."},
        422: {"model": Problem, "description": "An empty, inverted or too long range."},
    },
)
def log_entries(
    request: Request,
    start: Annotated[int, Query(ge=0, le=2**63 - 1, description="First leaf index.")],
    end: Annotated[
        int,
        Query(ge=1, le=2**63 - 1, description=f"One past the last (at most {MAX_ENTRIES} more)."),
    ],
) -> Any:
    """The raw leaf data of leaves ``[start, end)``: ABI-encoded decision records."""
    runtime: ServiceRuntime = request.app.state.runtime
    entries, size = read_entries(runtime, start, end)
    served = start + len(entries)
    if BINARY in request.headers.get("accept", ""):
        headers = {"X-Log-Start": str(start), "X-Log-End": str(served), "X-Log-Size": str(size)}
        return Response(encode_binary(entries), media_type=BINARY, headers=headers)
    return {
        "start": start,
        "end": served,
        "size": size,
        "entries": ["0x" + data.hex() for data in entries],
    }
