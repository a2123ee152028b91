"""The log-writer process: its death fails only the batch in hand (503), then a new one writes."""

from __future__ import annotations

import os
import signal
from pathlib import Path

from fastapi.testclient import TestClient

from chainml.log.decision_log import DecisionLog
from chainml.log.record import request_id_from
from chainml.models.artifacts import ModelArtifact
from tests.service.conftest import HEADERS, make_app, row


def test_a_dead_writer_process_fails_its_batch_then_is_replaced(
    data_dir: Path, model: ModelArtifact
) -> None:
    app = make_app(data_dir, model.model_id, writer_process=True)
    with TestClient(app) as client:
        writer = app.state.runtime.committer.writer
        first = client.post("/v1/score", json={"request_id": "w-1", "features": row(model)},
                            headers=HEADERS)  # fmt: skip
        assert first.status_code == 200 and first.json()["log_index"] == 0
        old_pid = writer.pid
        assert old_pid is not None and old_pid != os.getpid()
        os.kill(old_pid, signal.SIGKILL)
        lost = client.post("/v1/score", json={"request_id": "w-2", "features": row(model)},
                           headers=HEADERS)  # fmt: skip
        assert lost.status_code == 503 and lost.headers["retry-after"] == "1"
        again = client.post("/v1/score", json={"request_id": "w-3", "features": row(model)},
                            headers=HEADERS)  # fmt: skip
        assert again.status_code == 200, again.text
        assert writer.pid not in (None, old_pid)
        assert again.json()["log_index"] == 1  # nothing of the failed batch was written
        repeat = client.post("/v1/score", json={"request_id": "w-1", "features": row(model)},
                             headers=HEADERS)  # fmt: skip
        assert repeat.status_code == 409  # the new writer knows the ids logged before
    with DecisionLog.open(data_dir) as log:
        assert log.head().size == 2
        assert log.index_of(request_id_from("w-3")) == 1


def test_the_writer_process_stops_with_the_service(data_dir: Path, model: ModelArtifact) -> None:
    app = make_app(data_dir, model.model_id, writer_process=True)
    with TestClient(app) as client:
        writer = app.state.runtime.committer.writer
        pid = writer.pid
        answer = client.post("/v1/score", json={"features": row(model)}, headers=HEADERS)
        assert answer.status_code == 200
    assert writer.pid is None
    assert not Path(f"/proc/{pid}").exists() or "zombie" in Path(f"/proc/{pid}/status").read_text()
