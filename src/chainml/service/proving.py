"""Proof jobs: zk proofs of logged decisions, one at a time, off the serving event loop.

:class:`ProofJobs` holds a bounded queue and one worker thread. A job reads its decision's
receipt from the log (durable before scoring answered) and proves it with
:func:`chainml.inference.zk.proof.prove_decision`, which runs EZKL in a child process: the
thread only waits for that child, so neither the event loop nor the serving process runs
EZKL. At most one proof runs at a time (proving takes the machine's memory and a core);
``max_pending`` jobs wait behind it, and a job beyond that is refused
(:class:`ProofQueueFullError`, 503 with Retry-After).

Jobs live in memory: a restart forgets them (proving again gives an equally valid proof). The
``max_finished`` newest finished jobs are kept, older ones are dropped.
"""

from __future__ import annotations

import collections
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from chainml.errors import ChainMLError, NotFoundError, VerificationError
from chainml.inference.zk.setup import ZkCircuit, load_circuit
from chainml.log.decision_log import DecisionLog
from chainml.log.receipt import build_receipt
from chainml.log.record import request_id_from
from chainml.models.artifacts import load_model

_log = logging.getLogger(__name__)

State = Literal["pending", "running", "done", "failed"]
Prover = Callable[[dict[str, Any], Path], dict[str, Any]]


class ProofQueueFullError(ChainMLError):
    """The proof queue is full: a job is running and ``pending`` wait behind it."""

    def __init__(self, pending: int) -> None:
        self.pending = pending
        super().__init__(
            f"the proof queue is full (one proof running, {pending} waiting); retry later"
        )


class NoCircuitError(VerificationError):
    """The decision's model has no zk circuit in the service's data directory (409).

    ``stored`` is False when the model itself is not stored there.
    """

    def __init__(self, model_id: str, *, stored: bool = True) -> None:
        self.model_id = model_id
        self.stored = stored
        short = model_id[:10]
        missing = "has no zk circuit" if stored else "is not stored (nor its zk circuit)"
        super().__init__(
            f"model {model_id} {missing} in this service's data directory, so its decisions "
            f"cannot be proved: run `chainml zk setup {short}` there (it builds the circuit "
            f"and keys; no restart needed), then `chainml zk deploy {short}` so that anyone "
            "can verify the proofs on chain"
        )


@dataclass
class ProofJob:
    """One decision's proof job and, once finished, its proved receipt or its error."""

    request_id: str
    leaf_index: int
    model_id: str
    state: State = "pending"
    submitted: float = field(default_factory=time.time)
    started: float | None = None
    finished: float | None = None
    receipt: dict[str, Any] | None = None
    error: str | None = None
    done: threading.Event = field(default_factory=threading.Event, repr=False)

    def document(self) -> dict[str, Any]:
        """The job as the status endpoint shows it."""
        return {
            "request_id": self.request_id,
            "status": self.state,
            "leaf_index": self.leaf_index,
            "model_id": self.model_id,
            "submitted": self.submitted,
            "started": self.started,
            "finished": self.finished,
            "error": self.error,
            "receipt": self.receipt,
        }


def _prove(receipt: dict[str, Any], data_dir: Path) -> dict[str, Any]:
    from chainml.inference.zk.proof import prove_decision

    proved, _ = prove_decision(receipt, data_dir)
    return proved


class ProofJobs:
    """A bounded queue of proof jobs and the one thread that runs them in turn."""

    def __init__(
        self,
        log: DecisionLog,
        data_dir: Path,
        *,
        max_pending: int = 4,
        max_finished: int = 1024,
        prover: Prover = _prove,
    ) -> None:
        self.log = log
        self.data_dir = data_dir
        self.max_pending = max_pending
        self.max_finished = max_finished
        self._prover = prover
        self._jobs: dict[str, ProofJob] = {}
        self._queue: collections.deque[ProofJob] = collections.deque()
        self._finished: collections.deque[str] = collections.deque()
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None
        self._closed = False

    def circuit_of(self, model_id: str) -> ZkCircuit:
        """The model's set-up circuit; NoCircuitError when there is none (or no model)."""
        try:
            artifact = load_model(self.data_dir, model_id)
        except NotFoundError as err:
            raise NoCircuitError(model_id, stored=False) from err
        try:
            return load_circuit(artifact)
        except NotFoundError as err:
            raise NoCircuitError(model_id) from err

    def get(self, request_id: str) -> ProofJob | None:
        """The job of ``request_id`` (None: no proof was asked for, or it was forgotten)."""
        with self._cond:
            return self._jobs.get(request_id)

    def submit(self, request_id: str) -> tuple[ProofJob, bool]:
        """The decision's job (and True when it is new); a failed one is tried again.

        NotFoundError for an unknown decision, NoCircuitError when its model has no circuit,
        ProofQueueFullError when ``max_pending`` jobs wait already.
        """
        with self._cond:
            existing = self._jobs.get(request_id)
            if existing is not None and existing.state != "failed":
                return existing, False
        index = self.log.index_of(request_id_from(request_id))  # NotFoundError
        model_id = "0x" + self.log.record(index).model_id.hex()
        self.circuit_of(model_id)
        with self._cond:
            if self._closed:
                raise ProofQueueFullError(len(self._queue))
            existing = self._jobs.get(request_id)
            if existing is not None and existing.state != "failed":
                return existing, False
            if len(self._queue) >= self.max_pending:
                raise ProofQueueFullError(len(self._queue))
            job = ProofJob(request_id, index, model_id)
            self._jobs[request_id] = job
            self._queue.append(job)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="proof-jobs", daemon=True)
                self._thread.start()
            self._cond.notify()
            return job, True

    def close(self) -> None:
        """Take no more jobs; the running proof's EZKL child finishes on its own."""
        with self._cond:
            self._closed = True
            for job in self._queue:
                self._finish(job, error="the service stopped before this proof started")
            self._queue.clear()
            self._cond.notify_all()

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._queue and not self._closed:
                    self._cond.wait()
                if self._closed:
                    return
                job = self._queue.popleft()
                job.state, job.started = "running", time.time()
            try:
                proved = self._prover(build_receipt(self.log, job.leaf_index), self.data_dir)
            except Exception as err:  # a failed job reports why; the thread goes on
                _log.warning("proof of decision %s failed: %s", job.request_id, err)
                text = str(err) if isinstance(err, ChainMLError) else type(err).__name__
                with self._cond:
                    self._finish(job, error=text)
            else:
                with self._cond:
                    self._finish(job, receipt=proved)

    def _finish(
        self, job: ProofJob, *, receipt: dict[str, Any] | None = None, error: str | None = None
    ) -> None:
        """Record the job's end (the lock held); forget the oldest finished jobs."""
        job.state = "done" if receipt is not None else "failed"
        job.receipt, job.error, job.finished = receipt, error, time.time()
        job.done.set()
        if job.request_id in self._finished:  # a failed job tried again: one entry per id
            self._finished.remove(job.request_id)
        self._finished.append(job.request_id)
        while len(self._finished) > self.max_finished:
            old = self._finished.popleft()
            if self._jobs[old].finished is not None:
                del self._jobs[old]
