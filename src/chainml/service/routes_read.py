"""The read endpoints: receipts, the log head and consistency proofs, models, metrics."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request, Response
from fastapi.responses import JSONResponse, PlainTextResponse

from chainml.errors import ChainMLError, InvalidInputError
from chainml.log.receipt import build_receipt
from chainml.log.record import request_id_from
from chainml.models.artifacts import list_models, load_model, resolve_model_id
from chainml.service.auth import ReadAccess
from chainml.service.errors import TreeSizeError
from chainml.service.metrics import CONTENT_TYPE
from chainml.service.runtime import ServiceRuntime
from chainml.service.schemas import (
    ConsistencyResponse,
    HeadResponse,
    ModelResponse,
    ModelsResponse,
    ModelSummary,
    Problem,
    ReceiptResponse,
)
from chainml.service.watcher import registry_of

router = APIRouter(dependencies=[ReadAccess])
_AUTH: dict[int | str, dict[str, Any]] = {
    401: {"model": Problem, "description": "No API key (when reads are private)."},
    403: {"model": Problem, "description": "Wrong API key."},
}


def _runtime(request: Request) -> ServiceRuntime:
    runtime: ServiceRuntime = request.app.state.runtime
    return runtime


def _hex(data: bytes) -> str:
    return "0x" + data.hex()


@router.get(
    "/v1/decisions/{request_id}",
    tags=["receipts"],
    response_model=ReceiptResponse,
    responses={
        **_AUTH,
        202: {"model": ReceiptResponse, "description": "Logged, not anchored yet."},
        404: {"model": Problem, "description": "No decision has this request id."},
    },
)
def decision_receipt(
    request: Request, request_id: Annotated[str, Path(min_length=1, max_length=256)]
) -> JSONResponse:
    """The receipt of a decision: 200 once anchored, 202 (status ``pending``) before.

    ``proof`` is the status of its zk proof job (null: none was asked for).
    """
    runtime = _runtime(request)
    log = runtime.log
    index = log.index_of(request_id_from(request_id))
    receipt = build_receipt(log, index)
    anchored = receipt["anchor"] is not None
    job = runtime.proofs.get(request_id)
    document = {
        "status": "anchored" if anchored else "pending",
        "leaf_index": index,
        "receipt": receipt,
        "proof": None if job is None else job.state,
    }
    return JSONResponse(document, status_code=200 if anchored else 202)


@router.get("/v1/log/head", tags=["log"], response_model=HeadResponse, responses=_AUTH)
def log_head(request: Request) -> dict[str, Any]:
    """The log's tree head and its latest anchor."""
    log = _runtime(request).log
    head = log.head()
    anchor = log.store.latest_anchor()
    anchored = anchor.size if anchor else 0
    return {
        "size": head.size,
        "root": _hex(head.root),
        "anchored_size": anchored,
        "pending": head.size - anchored,
        "anchor": None
        if anchor is None
        else {
            "size": anchor.size,
            "root": _hex(anchor.root),
            "chain_id": anchor.chain_id,
            "contract": anchor.contract,
            "tx_hash": _hex(anchor.tx_hash),
            "block_number": anchor.block_number,
        },
    }


@router.get(
    "/v1/log/consistency",
    tags=["log"],
    response_model=ConsistencyResponse,
    responses={**_AUTH, 404: {"model": Problem, "description": "A size beyond the log."}},
)
def log_consistency(
    request: Request,
    first: Annotated[int, Query(ge=1, description="The older tree size.")],
    second: Annotated[
        int | None, Query(ge=1, description="The newer tree size (default: the current).")
    ] = None,
) -> dict[str, Any]:
    """An RFC 9162 consistency proof from the tree of ``first`` leaves to that of ``second``."""
    store = _runtime(request).log.store
    current = store.size
    size = current if second is None else second
    for wanted in (first, size):
        if wanted > current:
            raise TreeSizeError(wanted, current)
    if first > size:
        raise InvalidInputError(f"first ({first}) must not exceed second ({size})")
    proof = store.consistency_proof(first, size)
    return {
        "first": first,
        "second": size,
        "first_root": _hex(store.root(first)),
        "second_root": _hex(store.root(size)),
        "proof": [_hex(h) for h in proof],
    }


@router.get("/v1/models", tags=["models"], response_model=ModelsResponse, responses=_AUTH)
def models(request: Request) -> dict[str, Any]:
    """The stored models and the one serving now."""
    runtime = _runtime(request)
    current = runtime.slot.current
    serving = current.model_id if current else None
    return {
        "use": runtime.options.use,
        "serving": serving,
        "models": [
            ModelSummary(
                model_id=m.model_id,
                kind=m.kind,
                dataset=m.dataset,
                pr_auc=m.pr_auc,
                serving=m.model_id == serving,
            )
            for m in list_models(runtime.settings.data_dir)
        ],
    }


@router.get(
    "/v1/models/{model_id}",
    tags=["models"],
    response_model=ModelResponse,
    responses={**_AUTH, 404: {"model": Problem, "description": "No such stored model."}},
)
def model(
    request: Request,
    model_id: Annotated[
        str, Path(pattern=r"^(0x)?[0-9a-fA-F]{6,64}$", description="An id or unique prefix.")
    ],
) -> dict[str, Any]:
    """One stored model's card (hashes verified) and, with a registry, its on-chain entry."""
    runtime = _runtime(request)
    data_dir = runtime.settings.data_dir
    artifact = load_model(data_dir, resolve_model_id(data_dir, model_id))
    current = runtime.slot.current
    entry: dict[str, Any] | None = None
    if not runtime.pinned:
        try:
            found = registry_of(runtime.chain(), data_dir).model(artifact.model_id)
            entry = {
                "status": found.status.name.lower(),
                "use": found.use,
                "artifact_hash": found.artifact_hash,
                "card_hash": found.card_hash,
                "registered_block": found.registered_block,
            }
        except ChainMLError:
            entry = None  # unregistered, or the chain is away: the card still answers
    return {
        "model_id": artifact.model_id,
        "serving": bool(current and current.model_id == artifact.model_id),
        "card": artifact.card,
        "registry": entry,
    }


@router.get(
    "/metrics",
    tags=["service"],
    response_class=PlainTextResponse,
    responses={**_AUTH, 200: {"content": {CONTENT_TYPE: {}}, "description": "Prometheus text."}},
)
def metrics(request: Request) -> Response:
    """Prometheus metrics: requests, latencies, decisions logged, anchors, the serving model."""
    body, content_type = _runtime(request).metrics.exposition(request.headers.get("accept"))
    return Response(body, media_type=content_type)
