"""How errors become HTTP answers: chainml errors map to statuses with a ``detail`` message."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from chainml.errors import (
    ChainMLError,
    DataDirectoryError,
    InvalidInputError,
    NotFoundError,
)
from chainml.log.store import DuplicateRequestIdError
from chainml.service.scoring import FeatureError

_log = logging.getLogger(__name__)


class NoModelError(ChainMLError):
    """No model is approved for the service's use (or the approved one could not be loaded)."""

    def __init__(self, use: str) -> None:
        self.use = use
        super().__init__(f"no model is approved for {use!r}; scoring resumes after an approval")


class TreeSizeError(NotFoundError):
    """A tree size beyond the log: that tree does not exist (yet)."""

    def __init__(self, size: int, log_size: int) -> None:
        self.size = size
        self.log_size = log_size
        super().__init__(f"the log holds {log_size} decisions; there is no tree of size {size}")


class DuplicateInBatchError(InvalidInputError):
    """Two records of one batch share a request id (409, like a request id already logged)."""

    def __init__(self, position: int, request_id: str) -> None:
        self.position = position
        self.request_id = request_id
        super().__init__(f"request id {request_id!r} appears twice in the batch")


def _validation(loc: list[Any], message: str) -> JSONResponse:
    return JSONResponse(
        {"detail": [{"loc": loc, "msg": message, "type": "value_error"}]}, status_code=422
    )


def install_error_handlers(app: FastAPI) -> None:
    """Register the handlers: 404, 409, 422 and 503 with a message saying what happened."""

    @app.exception_handler(RequestValidationError)
    async def malformed(request: Request, err: RequestValidationError) -> JSONResponse:
        # the offending input is not echoed: it may be huge, or NaN (which JSON cannot carry)
        detail = [
            {"loc": list(e.get("loc", ())), "msg": str(e.get("msg", "")), "type": e.get("type")}
            for e in err.errors()[:20]
        ]
        return JSONResponse({"detail": detail}, status_code=422)

    @app.exception_handler(FeatureError)
    async def features(request: Request, err: FeatureError) -> JSONResponse:
        return _validation(["body", *err.field], err.detail)

    @app.exception_handler(DuplicateInBatchError)
    async def twice(request: Request, err: DuplicateInBatchError) -> JSONResponse:
        return JSONResponse({"detail": f"records.{err.position}.request_id: {err}"}, 409)

    @app.exception_handler(DuplicateRequestIdError)
    async def duplicate(request: Request, err: DuplicateRequestIdError) -> JSONResponse:
        where = f" (log index {err.index})" if err.index is not None else " (in flight)"
        return JSONResponse(
            {
                "detail": f"request id 0x{err.request_id.hex()} is already logged{where}; "
                "fetch its receipt from /v1/decisions/{request_id}"
            },
            status_code=409,
        )

    @app.exception_handler(NotFoundError)
    async def not_found(request: Request, err: NotFoundError) -> JSONResponse:
        return JSONResponse({"detail": str(err)}, status_code=404)

    @app.exception_handler(InvalidInputError)
    async def invalid(request: Request, err: InvalidInputError) -> JSONResponse:
        return _validation(["query"], str(err))

    @app.exception_handler(ChainMLError)
    async def unavailable(request: Request, err: ChainMLError) -> JSONResponse:
        if isinstance(err, DataDirectoryError):
            _log.error("the decision log failed: %s", err)
        return JSONResponse({"detail": str(err)}, status_code=503, headers={"Retry-After": "1"})
