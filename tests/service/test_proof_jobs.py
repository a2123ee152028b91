"""Proof jobs of the service: the bounded one-at-a-time queue and the endpoints' refusals.

EZKL is not run here (``test_proof_e2e.py`` runs it): the prover is a stand-in that waits
for the test's signal, so that the queue's states can be observed one by one. The log, the
stored model, the circuit lookup and the HTTP endpoints are the real ones; the "circuit" is a
manifest on disk, which is all the service looks for before it queues a job.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from chainml.errors import InvalidInputError
from chainml.inference.zk.setup import MANIFEST, MANIFEST_FORMAT, zk_dir
from chainml.log.decision_log import Decision, DecisionLog
from chainml.models.artifacts import ModelArtifact
from chainml.service.proving import NoCircuitError, ProofJobs, ProofQueueFullError
from tests.service.conftest import HEADERS, make_app, row


def _manifest(artifact: ModelArtifact) -> None:
    """Make ``load_circuit`` find a circuit for the model (the fake prover never opens it)."""
    folder = zk_dir(artifact) / "fake"
    folder.mkdir(parents=True)
    document = {"format": MANIFEST_FORMAT, "model_id": artifact.model_id, "key": "fake",
                "created": "2026-01-01T00:00:00Z", "inputs": "public"}  # fmt: skip
    (folder / MANIFEST).write_text(json.dumps(document))


class GatedProver:
    """Proves when the test says so; records how many ran at once and in which order."""

    def __init__(self, fail: bool = False) -> None:
        self.gate = threading.Semaphore(0)
        self.fail = fail
        self.running = 0
        self.most = 0
        self.order: list[int] = []
        self._lock = threading.Lock()

    def __call__(self, receipt: dict[str, Any], data_dir: Path) -> dict[str, Any]:
        with self._lock:
            self.running += 1
            self.most = max(self.most, self.running)
        try:
            assert self.gate.acquire(timeout=30)
            self.order.append(receipt["leaf_index"])
            if self.fail:
                raise InvalidInputError("the circuit says no")
            return receipt | {"format": "chainml.receipt/2"}
        finally:
            with self._lock:
                self.running -= 1


def _until(condition: Callable[[], bool], seconds: float = 10) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def _state(jobs: ProofJobs, request_id: str) -> str | None:
    job = jobs.get(request_id)
    return None if job is None else job.state


@pytest.fixture
def served(data_dir: Path, model: ModelArtifact) -> Iterator[TestClient]:
    """A pinned service with five logged decisions ``d0``..``d4``."""
    with TestClient(make_app(data_dir, model.model_id)) as client:
        for i in range(5):
            body = {"request_id": f"d{i}", "features": row(model, float(i))}
            assert client.post("/v1/score", json=body, headers=HEADERS).status_code == 200
        yield client


def _gated(client: TestClient, prover: GatedProver, max_pending: int = 2) -> ProofJobs:
    runtime = client.app.state.runtime  # type: ignore[attr-defined]
    jobs = ProofJobs(runtime.log, runtime.settings.data_dir, max_pending=max_pending, prover=prover)
    runtime.proofs = jobs
    return jobs


def test_one_proof_runs_at_a_time_and_a_full_queue_is_503(
    served: TestClient, model: ModelArtifact
) -> None:
    _manifest(model)
    prover = GatedProver()
    jobs = _gated(served, prover, max_pending=2)
    first = served.post("/v1/decisions/d0/proof", headers=HEADERS)
    assert first.status_code == 202 and first.headers["Retry-After"]
    _until(lambda: _state(jobs, "d0") == "running")
    for i in (1, 2):
        queued = served.post(f"/v1/decisions/d{i}/proof", headers=HEADERS)
        assert queued.status_code == 202 and queued.json()["status"] == "pending"
    full = served.post("/v1/decisions/d3/proof", headers=HEADERS)
    assert full.status_code == 503 and full.headers["Retry-After"] == "30"
    assert "proof queue is full" in full.json()["detail"]
    assert served.post("/v1/decisions/d1/proof", headers=HEADERS).status_code == 202  # same job
    assert served.get("/v1/decisions/d1").json()["proof"] == "pending"
    for _ in range(3):
        prover.gate.release()
    _until(lambda: all(_state(jobs, f"d{i}") == "done" for i in range(3)))
    assert prover.most == 1 and prover.order == [0, 1, 2]
    done = served.get("/v1/decisions/d2/proof")
    assert done.status_code == 200 and done.json()["status"] == "done"
    assert done.json()["receipt"]["format"] == "chainml.receipt/2"
    assert done.json()["receipt"]["leaf_index"] == 2
    assert served.get("/v1/decisions/d2").json()["proof"] == "done"
    assert served.get("/v1/decisions/d4").json()["proof"] is None


def test_a_failed_proof_says_why_and_is_retried(served: TestClient, model: ModelArtifact) -> None:
    _manifest(model)
    prover = GatedProver(fail=True)
    _gated(served, prover)
    prover.gate.release()
    answer = served.post("/v1/decisions/d0/proof", headers=HEADERS, params={"wait": 10})
    assert answer.status_code == 200  # waited until it finished
    assert answer.json()["status"] == "failed" and answer.json()["receipt"] is None
    assert "the circuit says no" in answer.json()["error"]
    prover.fail = False
    prover.gate.release()
    retried = served.post("/v1/decisions/d0/proof", headers=HEADERS, params={"wait": 10})
    assert retried.status_code == 200 and retried.json()["status"] == "done"


def test_closing_fails_the_queued_jobs(served: TestClient, model: ModelArtifact) -> None:
    _manifest(model)
    prover = GatedProver()
    jobs = _gated(served, prover)
    running, _ = jobs.submit("d0")
    _until(lambda: running.state == "running")
    queued, new = jobs.submit("d1")
    assert new and queued.state == "pending"
    jobs.close()
    assert queued.state == "failed" and "stopped" in str(queued.error)
    with pytest.raises(ProofQueueFullError):
        jobs.submit("d2")
    prover.gate.release()
    assert running.done.wait(10) and running.state == "done"  # the running one finishes


def test_a_model_without_a_circuit_is_409_naming_the_commands(
    served: TestClient, model: ModelArtifact
) -> None:
    answer = served.post("/v1/decisions/d0/proof", headers=HEADERS)
    assert answer.status_code == 409
    detail = answer.json()["detail"]
    assert f"chainml zk setup {model.model_id[:10]}" in detail
    assert f"chainml zk deploy {model.model_id[:10]}" in detail
    jobs: ProofJobs = served.app.state.runtime.proofs  # type: ignore[attr-defined]
    with pytest.raises(NoCircuitError):
        jobs.submit("d0")
    assert jobs.get("d0") is None  # nothing queued


def test_a_decision_of_a_model_not_stored_here_is_refused(tmp_path: Path) -> None:
    model_id = bytes.fromhex("11" * 32)
    with DecisionLog.open(tmp_path) as log:
        log.append([Decision(model_id, 5, 1, bytes(31) + b"\x01", features=(1, 2, 3))])
        jobs = ProofJobs(log, tmp_path, prover=GatedProver())
        with pytest.raises(NoCircuitError, match="is not stored") as refused:
            jobs.submit("0x" + "00" * 31 + "01")
        assert not refused.value.stored and jobs.get("0x" + "00" * 31 + "01") is None


def test_unknown_decisions_and_jobs_are_404(served: TestClient) -> None:
    assert served.post("/v1/decisions/nobody/proof", headers=HEADERS).status_code == 404
    missing = served.get("/v1/decisions/d0/proof")
    assert missing.status_code == 404 and "POST to this path" in missing.json()["detail"]


def test_asking_for_a_proof_needs_the_write_key(served: TestClient) -> None:
    assert served.post("/v1/decisions/d0/proof").status_code == 401
    wrong = {"X-API-Key": "wrong-key-0123456789abcdef"}
    assert served.post("/v1/decisions/d0/proof", headers=wrong).status_code == 403
    too_long = served.post("/v1/decisions/d0/proof", params={"wait": 61}, headers=HEADERS)
    assert too_long.status_code == 422


def test_only_the_newest_finished_jobs_are_kept(served: TestClient, model: ModelArtifact) -> None:
    _manifest(model)
    prover = GatedProver()
    runtime = served.app.state.runtime  # type: ignore[attr-defined]
    jobs = ProofJobs(runtime.log, runtime.settings.data_dir, max_finished=2, prover=prover)
    for i in range(3):
        prover.gate.release()
        job, _ = jobs.submit(f"d{i}")
        assert job.done.wait(10) and job.state == "done"
    assert jobs.get("d0") is None and _state(jobs, "d1") == _state(jobs, "d2") == "done"
    jobs.close()
