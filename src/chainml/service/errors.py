"""How errors become HTTP answers: each chainml error family has its status, with a message.

Every answer to a failed request is JSON with a ``detail`` saying what happened. Only errors that
go away by themselves (a chain node down, the log writer restarting, no model approved yet, the
service stopping) are 503 with ``Retry-After``; a failed verification is 409 (the log or chain
state conflicts with what it must be: retrying the same request does not help); local data that
is unusable is 500; an exception chainml does not know is 500 with a generic message (the
traceback goes to the service's log, never to the client). The table is in ``docs/service.md``.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from chainml.errors import (
    ChainError,
    ChainMLError,
    ChainUnavailableError,
    DataDirectoryError,
    InvalidInputError,
    NotFoundError,
    TransactionTimeoutError,
    VerificationError,
)
from chainml.log.store import DuplicateRequestIdError
from chainml.service.committer import ServiceStoppedError
from chainml.service.log_writer import LogWriterError
from chainml.service.proving import ProofQueueFullError
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


#: status and Retry-After (seconds, or None) of each family, the first match wins
_STATUS: tuple[tuple[type[ChainMLError], int, int | None], ...] = (
    (NotFoundError, 404, None),
    (InvalidInputError, 422, None),
    (VerificationError, 409, None),
    (ChainUnavailableError, 503, 5),
    (TransactionTimeoutError, 504, None),  # sent, not mined yet: look it up, do not resend
    (ChainError, 502, None),  # the chain refused (revert, funds, nonce, wrong chain id)
    (NoModelError, 503, 2),
    (LogWriterError, 503, 1),  # a new log writer starts with the next batch
    (ServiceStoppedError, 503, 1),
    (ProofQueueFullError, 503, 30),  # a proof takes tens of seconds
    (DataDirectoryError, 500, None),  # the operator must act: retrying does not help
)
INTERNAL_ERROR = "internal error; the service's log has the details"


def status_of(err: ChainMLError) -> tuple[int, int | None]:
    """The HTTP status of ``err`` and its Retry-After in seconds (None: do not retry)."""
    for family, status, retry_after in _STATUS:
        if isinstance(err, family):
            return status, retry_after
    return 500, None


def _problem(detail: object, status: int, retry_after: int | None = None) -> JSONResponse:
    headers = {"Retry-After": str(retry_after)} if retry_after is not None else None
    return JSONResponse({"detail": detail}, status_code=status, headers=headers)


def problem_of(err: ChainMLError) -> tuple[int, object, int | None]:
    """The status, JSON ``detail`` and Retry-After (seconds, or None) that answer ``err``.

    The one translation of chainml errors into HTTP: the service's exception handlers and the
    embeddable router (:class:`chainml.Service`) both answer with it.
    """
    if isinstance(err, FeatureError):
        return 422, _validation(["body", *err.field], err.detail), None
    if isinstance(err, DuplicateInBatchError):
        return 409, f"records.{err.position}.request_id: {err}", None
    if isinstance(err, DuplicateRequestIdError):
        where = f" (log index {err.index})" if err.index is not None else " (in flight)"
        detail = (
            f"request id 0x{err.request_id.hex()} is already logged{where}; "
            "fetch its receipt from /v1/decisions/{request_id}"
        )
        return 409, detail, None
    status, retry_after = status_of(err)
    if isinstance(err, InvalidInputError) and status == 422:
        return 422, _validation(["query"], str(err)), None
    return status, str(err), retry_after


def _validation(loc: list[Any], message: str) -> list[dict[str, Any]]:
    return [{"loc": loc, "msg": message, "type": "value_error"}]


def install_error_handlers(app: FastAPI) -> None:
    """Register the handlers: one status per error family, always with a JSON ``detail``."""

    @app.exception_handler(RequestValidationError)
    async def malformed(request: Request, err: RequestValidationError) -> JSONResponse:
        # the offending input is not echoed: it may be huge, or NaN (which JSON cannot carry)
        detail = [
            {"loc": list(e.get("loc", ())), "msg": str(e.get("msg", "")), "type": e.get("type")}
            for e in err.errors()[:20]
        ]
        return _problem(detail, 422)

    @app.exception_handler(ChainMLError)
    async def by_family(request: Request, err: ChainMLError) -> JSONResponse:
        status, detail, retry_after = problem_of(err)
        if status >= 500:
            _log.error("%s %s failed: %s", request.method, request.url.path, err)
        return _problem(detail, status, retry_after)

    @app.exception_handler(Exception)
    async def unknown(request: Request, err: Exception) -> JSONResponse:
        # a bug: the client learns nothing of the internals (the server logs the traceback)
        _log.error("%s %s failed", request.method, request.url.path, exc_info=err)
        return _problem(INTERNAL_ERROR, 500)
