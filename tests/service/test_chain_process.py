"""The chain process: it anchors for the service, and a new one takes over when it dies."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable
from pathlib import Path

from fastapi.testclient import TestClient

from chainml.chain import embedded
from chainml.chain.ownership import current_owner
from chainml.models.artifacts import ModelArtifact
from tests.service.conftest import HEADERS, make_app, row
from tests.service.scrape import sample


def wait_for(condition: Callable[[], bool], timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def test_a_killed_chain_process_is_replaced_and_anchoring_resumes(
    data_dir: Path, model: ModelArtifact
) -> None:
    app = make_app(data_dir, model.model_id, anchor=True, anchor_every=2, anchor_seconds=0.2)
    with TestClient(app) as client:
        runtime = app.state.runtime

        def score(n: int) -> None:
            for _ in range(n):
                answer = client.post("/v1/score", json={"features": row(model)}, headers=HEADERS)
                assert answer.status_code == 200, answer.text

        score(3)
        wait_for(lambda: runtime.anchoring_status().anchored_size == 3)
        first = runtime.chain_process.pid
        owner = current_owner(data_dir)
        assert owner is not None and owner.pid == first != os.getpid()

        os.kill(first, signal.SIGKILL)  # by its PID
        wait_for(lambda: runtime.anchoring_status().state == "down")
        down = runtime.anchoring_status()
        assert not down.ok and down.failing_since is not None and "exited" in str(down.last_error)
        score(4)  # scoring goes on meanwhile; the service never takes the chain over
        owner = current_owner(data_dir)
        assert owner is None or owner.pid != os.getpid()

        wait_for(lambda: runtime.anchoring_status().anchored_size == 7)  # a new one catches up
        status = runtime.anchoring_status()
        assert status.ok and status.failing_since is None
        assert runtime.chain_process.pid not in (None, first)
        errors = sample(client.get("/metrics").text, "chainml_anchor_errors_total")
        assert errors is not None and errors >= 1  # the death was counted
        assert not embedded._SHARED  # no EVM in this process, before or after
    assert current_owner(data_dir) is None  # stopped with the service
