"""``/v1/decisions/{request_id}/proof``: ask for a logged decision's zk proof, and follow the job.

``POST`` queues a proof job (:mod:`chainml.service.proving`) and answers 202 with its status,
or waits up to ``wait`` seconds for it to finish (200); ``GET`` answers the job's status, with
the ``chainml.receipt/2`` once it is done. The event loop only looks at the job: the log
lookup runs in the thread pool, proving in the job thread's EZKL child process.
"""

from __future__ import annotations

import asyncio
import time
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from chainml.errors import NotFoundError
from chainml.service.auth import ReadAccess, WriteAccess
from chainml.service.proving import ProofJob, ProofJobs
from chainml.service.schemas import Problem, ProofJobResponse

router = APIRouter(tags=["proofs"])
_POLL_SECONDS = 0.1
_ID = Annotated[str, Path(min_length=1, max_length=256)]
_AUTH: dict[int | str, dict[str, Any]] = {
    401: {"model": Problem, "description": "No API key."},
    403: {"model": Problem, "description": "Wrong API key."},
}
_RUNNING = {"model": ProofJobResponse, "description": "The job is pending or running."}


def _jobs(request: Request) -> ProofJobs:
    jobs: ProofJobs = request.app.state.runtime.proofs
    return jobs


def _answer(job: ProofJob) -> JSONResponse:
    finished = job.state in ("done", "failed")
    headers = None if finished else {"Retry-After": "5"}
    return JSONResponse(job.document(), status_code=200 if finished else 202, headers=headers)


@router.post(
    "/v1/decisions/{request_id}/proof",
    response_model=ProofJobResponse,
    dependencies=[WriteAccess],
    responses={
        **_AUTH,
        202: _RUNNING,
        404: {"model": Problem, "description": "No decision has this request id."},
        409: {
            "model": Problem,
            "description": "The decision's model has no zk circuit (`chainml zk setup`).",
        },
        503: {"model": Problem, "description": "The proof queue is full (Retry-After)."},
    },
)
async def request_proof(
    request: Request,
    request_id: _ID,
    wait: Annotated[
        float,
        Query(ge=0, le=60, description="Seconds to wait for the proof before answering 202."),
    ] = 0,
) -> JSONResponse:
    """Prove a logged decision with its model's zk circuit (one proof at a time, queued).

    200 when the job has finished (``done`` with the ``chainml.receipt/2``, or ``failed`` with
    the reason), else 202: follow it with ``GET`` on the same path. Asking again for a
    decision whose job is queued, running or done returns that job; a failed one is retried.
    """
    job, _ = await run_in_threadpool(_jobs(request).submit, request_id)
    deadline = time.monotonic() + wait
    while not job.done.is_set() and time.monotonic() < deadline:
        await asyncio.sleep(_POLL_SECONDS)
    return _answer(job)


@router.get(
    "/v1/decisions/{request_id}/proof",
    response_model=ProofJobResponse,
    dependencies=[ReadAccess],
    responses={
        **_AUTH,
        202: _RUNNING,
        404: {"model": Problem, "description": "No proof was asked for this request id."},
    },
)
async def proof_status(request: Request, request_id: _ID) -> JSONResponse:
    """The decision's proof job: ``pending``/``running`` (202), ``done``/``failed`` (200)."""
    job = _jobs(request).get(request_id)
    if job is None:
        raise NotFoundError(
            f"no proof was asked for request id {request_id!r} (or the service restarted "
            "since): POST to this path to start one"
        )
    return _answer(job)
