"""The probes: ``/livez`` (the process answers), ``/readyz`` (it should get traffic), ``/healthz``.

All three are async and read memory only — the readiness checks and the counts that
:class:`~chainml.service.health.HealthMonitor` keeps current — so a load balancer probing
them costs no SQLite read, no chain call and no thread hop. ``/healthz`` is ``/readyz``'s
document plus the model and log fields it always had, answered 200 whatever the state (as it
always was); ``/readyz`` answers 503 while the service is not ready.
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, ConfigDict

from chainml.service.auth import ReadAccess
from chainml.service.fastbody import json_response
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

    ``status`` is ``starting`` until every check has reported once, ``degraded`` when a
    check fails or reports a problem it still tolerates (anchoring retrying, the chain not
    answering for less than its grace), else ``ok``; ``ready`` is what ``/readyz``'s status
    code says.
    """

    status: Status
    ready: bool
    checks: dict[str, Check]


class Health(ReadinessReport):
    """``/readyz``'s document, plus the serving model, the log's sizes and anchoring's state."""

    model_id: Hex32 | None
    log_size: int
    anchored_size: int
    anchoring: Literal["off", "starting", "ok", "retrying"]
    detail: str | None = None


def _monitor(request: Request) -> HealthMonitor:
    monitor: HealthMonitor = request.app.state.health
    return monitor


def readiness_document(readiness: Readiness) -> dict[str, Any]:
    """The ``/readyz`` document of ``readiness`` as it is now."""
    checks = readiness.snapshot()
    ready = readiness.ready
    troubled = any(s.detail and s.detail != STARTING for s in checks.values())
    status: Status = (
        "degraded" if troubled or (not ready and not readiness.starting)
        else "starting" if readiness.starting
        else "ok"
    )  # fmt: skip
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


@router.get("/livez", response_model=Liveness)
async def livez() -> Response:
    """Liveness: 200 while the process and its event loop answer (no I/O, no API key)."""
    return json_response({"status": "alive"})


@router.get(
    "/readyz",
    response_model=ReadinessReport,
    dependencies=[ReadAccess],
    responses={**_AUTH, 503: {"model": ReadinessReport, "description": "Not ready (yet)."}},
)
async def readyz(request: Request) -> Response:
    """Readiness: 200 when every check is ok, else 503 with the checks that are not."""
    document = readiness_document(_monitor(request).readiness)
    response = json_response(document)
    if not document["ready"]:
        response.status_code = 503
    return response


@router.get("/healthz", response_model=Health, dependencies=[ReadAccess], responses=_AUTH)
async def healthz(request: Request) -> Response:
    """``/readyz``'s document with the model and log fields, always 200 (the status says)."""
    return json_response(health_document(_monitor(request)))
