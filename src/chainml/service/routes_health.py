"""The probes: ``/livez`` (the process answers), ``/readyz`` (it should get traffic), ``/healthz``.

All three read memory only — the readiness checks and the counts that
:class:`~chainml.service.health.HealthMonitor` keeps current — so a load balancer probing
them costs no SQLite read, no chain call and no thread hop. ``/healthz`` is ``/readyz``'s
document plus the model and log fields it always had, answered 200 whatever the state (as it
always was); ``/readyz`` answers 503 while the service is not ready.

The service's edge answers them (:func:`probes`, given to
:class:`~chainml.service.middleware.Edge`) before FastAPI routes the request: routing and
dependency solving cost several times what building the answer does, and probes must stay far
cheaper than scoring. The routes below describe them in the OpenAPI spec and answer the same
documents when the app runs without that edge.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import pydantic_core
from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, ConfigDict

from chainml.service.auth import ReadAccess
from chainml.service.health import HealthMonitor
from chainml.service.readiness import STARTING, CheckState, Readiness
from chainml.service.schemas import Hex32, Problem

router = APIRouter(tags=["service"])
_AUTH: dict[int | str, dict[str, Any]] = {
    401: {"model": Problem, "description": "No API key (when reads are private)."},
    403: {"model": Problem, "description": "Wrong API key."},
}
Status = Literal["starting", "ok", "degraded"]


class _Document(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Liveness(_Document):
    """The process is up and its event loop answers."""

    status: Literal["alive"]


class Check(_Document):
    """One readiness check: ``ok`` (it does not stop readiness), why, and since when (Unix s)."""

    ok: bool
    detail: str
    since: float


class ReadinessReport(_Document):
    """Whether the service should get traffic, and each check behind it.

    ``status`` is ``degraded`` when a check fails or reports a problem it still tolerates
    (anchoring retrying, the chain not answering for less than its grace), else ``starting``
    while a check is starting (anchoring connecting to the chain, deploying its contract),
    else ``ok``; ``ready`` is what ``/readyz``'s status code says: the model and the log must
    have reported and every check be ok (a check that is starting may already be ok: scoring
    does not wait for the chain).
    """

    status: Status
    ready: bool
    checks: dict[str, Check]


class Health(ReadinessReport):
    """``/readyz``'s document, plus the serving model, the log's sizes and anchoring's state."""

    model_id: Hex32 | None
    log_size: int
    anchored_size: int
    anchoring: Literal["off", "starting", "ok", "retrying", "down"]
    detail: str | None = None


def _monitor(request: Request) -> HealthMonitor:
    monitor: HealthMonitor = request.app.state.health
    return monitor


def readiness_document(readiness: Readiness) -> dict[str, Any]:
    """The ``/readyz`` document of ``readiness`` as it is now."""
    checks = readiness.snapshot()
    ready = readiness.ready
    starting = [s for s in checks.values() if s.detail == STARTING]
    troubled = any((s.detail or not s.ok) and s.detail != STARTING for s in checks.values())
    status: Status = "degraded" if troubled else "starting" if starting else "ok"
    return {
        "status": status,
        "ready": ready,
        "checks": {name: _check(state) for name, state in checks.items()},
    }


def _check(state: CheckState) -> dict[str, Any]:
    return {"ok": state.ok, "detail": state.detail, "since": round(state.since, 3)}


def health_document(monitor: HealthMonitor) -> dict[str, Any]:
    """The ``/healthz`` document: readiness, the serving model, cached log counts."""
    document = readiness_document(monitor.readiness)
    problems = [
        f"{name}: {check['detail']}"
        for name, check in document["checks"].items()
        if check["detail"]
    ]
    current = monitor.runtime.slot.current
    counts = monitor.counts
    document.update(
        model_id=current.model_id if current else None,
        log_size=counts.log_size,
        anchored_size=counts.anchored_size,
        anchoring=monitor.anchoring,
        detail="; ".join(problems) or None,
    )
    return document


LIVE = b'{"status":"alive"}'
_LIVE_ANSWER = (200, LIVE)  # one object: whoever caches a rendering of it keeps it


class _Rendered:
    """The last answer built, and what it was built from: rebuilt only when that changes."""

    def __init__(self, build: Callable[[], tuple[int, bytes]]) -> None:
        self.build = build
        self.key: object = None
        self.answer = (0, b"")

    def get(self, key: object) -> tuple[int, bytes]:
        if key != self.key:
            # built before the key is stored: a concurrent change yields a new key and rebuild
            self.answer = self.build()
            self.key = key
        return self.answer


def readyz_answer(monitor: HealthMonitor) -> tuple[int, bytes]:
    """``/readyz``'s status (200 ready, else 503) and JSON body."""
    document = readiness_document(monitor.readiness)
    return 200 if document["ready"] else 503, pydantic_core.to_json(document)


def healthz_answer(monitor: HealthMonitor) -> tuple[int, bytes]:
    """``/healthz``'s status (always 200: its ``status`` says) and JSON body."""
    return 200, pydantic_core.to_json(health_document(monitor))


def _healthz_inputs(monitor: HealthMonitor) -> object:
    current = monitor.runtime.slot.current
    return monitor.readiness.version, monitor.counts, monitor.anchoring, current


@dataclass(frozen=True)
class Probe:
    """A probe the edge answers: its answer (status, JSON body), and whether it is a read."""

    answer: Callable[[], tuple[int, bytes]]
    read: bool  # needs read access (a key when reads are private)


def probes(monitor: HealthMonitor) -> dict[str, Probe]:
    """The probes by path, for the edge to answer to ``GET``."""
    readyz = _Rendered(lambda: readyz_answer(monitor))
    healthz = _Rendered(lambda: healthz_answer(monitor))
    return {
        "/livez": Probe(lambda: _LIVE_ANSWER, read=False),
        "/readyz": Probe(lambda: readyz.get(monitor.readiness.version), read=True),
        "/healthz": Probe(lambda: healthz.get(_healthz_inputs(monitor)), read=True),
    }


def _json(answer: tuple[int, bytes]) -> Response:
    status, body = answer
    return Response(body, status_code=status, media_type="application/json")


@router.get("/livez", response_model=Liveness)
async def livez() -> Response:
    """Liveness: 200 while the process and its event loop answer (no I/O, no API key)."""
    return _json(_LIVE_ANSWER)


@router.get(
    "/readyz",
    response_model=ReadinessReport,
    dependencies=[ReadAccess],
    responses={**_AUTH, 503: {"model": ReadinessReport, "description": "Not ready (yet)."}},
)
async def readyz(request: Request) -> Response:
    """Readiness: 200 when every check is ok, else 503 with the checks that are not."""
    return _json(readyz_answer(_monitor(request)))


@router.get("/healthz", response_model=Health, dependencies=[ReadAccess], responses=_AUTH)
async def healthz(request: Request) -> Response:
    """``/readyz``'s document with the model and log fields, always 200 (the status says)."""
    return _json(healthz_answer(_monitor(request)))
