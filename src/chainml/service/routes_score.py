"""``POST /v1/score`` and ``POST /v1/score/batch``: score, log durably, answer."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from fastapi import APIRouter, HTTPException, Request, Response
from fastapi.exceptions import RequestValidationError

from chainml.log.record import request_id_from
from chainml.service.auth import WriteAccess
from chainml.service.committer import Logged
from chainml.service.errors import DuplicateInBatchError, NoModelError
from chainml.service.fastbody import FastBodyRoute, json_response
from chainml.service.runtime import ServiceRuntime
from chainml.service.schemas import (
    BatchRequest,
    BatchResponse,
    Problem,
    ScoreRequest,
    ScoreResponse,
)
from chainml.service.scoring import Scored, ServingModel, metadata_hash, record_hash

router = APIRouter(tags=["scoring"], route_class=FastBodyRoute)
_WRITE_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": Problem, "description": "Body nested too deep to parse."},
    401: {"model": Problem, "description": "No API key."},
    403: {"model": Problem, "description": "Wrong API key."},
    409: {"model": Problem, "description": "The request id is already logged."},
    413: {"model": Problem, "description": "Body or batch too large."},
    500: {"model": Problem, "description": "The data directory is unusable, or a bug."},
    503: {
        "model": Problem,
        "description": "No approved model yet, or the log writer is restarting (Retry-After).",
    },
}


def _serving(runtime: ServiceRuntime) -> ServingModel:
    model = runtime.slot.current
    if model is None:
        raise NoModelError(runtime.options.use)
    return model


def _scored(model: ServingModel, requests: Sequence[ScoreRequest], where: str) -> Scored:
    """The requests scored: raw records through the model's schema, or encoded features."""
    raw = [r.record for r in requests if r.record is not None]
    if not raw:
        return model.score(model.rows([r.features for r in requests if r.features], where))
    if len(raw) != len(requests):
        # a validation error like any other 422 (the response schema is a list of them)
        raise RequestValidationError([{
            "loc": ["body", "records"], "type": "value_error",
            "msg": "a batch sends `record` or `features` in every item, not both",
        }])  # fmt: skip
    return model.score(model.raw_rows(raw, where))


def _committed(request: ScoreRequest) -> bytes:
    """What ``metadata_hash`` commits to: the raw record with the metadata, or the metadata."""
    if request.record is not None:
        return record_hash(request.record, request.metadata)
    return metadata_hash(request.metadata)


def _results(
    model: ServingModel, scored: Scored, texts: Sequence[str], ids: Sequence[bytes],
    logged: Logged,
) -> list[dict[str, Any]]:  # fmt: skip
    probabilities, logits = scored.probabilities.tolist(), scored.logits.tolist()
    words = model.decision_words
    return [
        {
            "request_id": text,
            "request_hash": "0x" + rid.hex(),
            "log_index": logged.first + i,
            "score": p,
            "logit": z,
            "label": label,
            "decision": words[label],
        }
        for i, (text, rid, p, z, label) in enumerate(
            zip(texts, ids, probabilities, logits, scored.labels, strict=True)
        )
    ]


@router.post(
    "/v1/score", response_model=ScoreResponse, responses=_WRITE_ERRORS, dependencies=[WriteAccess]
)
async def score(body: ScoreRequest, request: Request) -> Response:
    """Score one record with the serving model; answer once the decision is durably logged.

    Send your raw columns as `record` (the model's schema encodes them) or the model's
    encoded `features`.
    """
    runtime: ServiceRuntime = request.app.state.runtime
    model = _serving(runtime)
    scored = _scored(model, [body], "features")
    texts = [body.request_id or uuid.uuid4().hex]
    ids = [request_id_from(texts[0])]
    logged = await runtime.committer.submit(model.prepare(scored, ids, [_committed(body)]))
    [result] = _results(model, scored, texts, ids, logged)
    result.update(model_id=model.model_id, timestamp_ms=logged.timestamp_ms)
    return json_response(result)


@router.post(
    "/v1/score/batch",
    response_model=BatchResponse,
    responses=_WRITE_ERRORS,
    dependencies=[WriteAccess],
)
async def score_batch(body: BatchRequest, request: Request) -> Response:
    """Score many records; all of them are logged in one durable batch, or none is."""
    runtime: ServiceRuntime = request.app.state.runtime
    limit = runtime.options.max_batch
    if len(body.records) > limit:
        raise HTTPException(413, f"a batch holds at most {limit} records, got {len(body.records)}")
    model = _serving(runtime)
    texts = [r.request_id or uuid.uuid4().hex for r in body.records]
    ids = [request_id_from(t) for t in texts]
    if len(set(ids)) != len(ids):
        seen: set[bytes] = set()
        for position, rid in enumerate(ids):
            if rid in seen:
                raise DuplicateInBatchError(position, texts[position])
            seen.add(rid)
    scored = _scored(model, body.records, "records")
    metadata = [_committed(r) for r in body.records]
    logged = await runtime.committer.submit(model.prepare(scored, ids, metadata))
    return json_response(
        {
            "model_id": model.model_id,
            "timestamp_ms": logged.timestamp_ms,
            "results": _results(model, scored, texts, ids, logged),
        }
    )
