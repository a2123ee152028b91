"""The demo app's service step drives a real loopback server with the stdlib: no httpx."""

from __future__ import annotations

import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from chainml.apps.demo import service as demo_service
from chainml.chain import connect
from chainml.config import Settings
from chainml.log.decision_log import DecisionLog
from chainml.models.artifacts import ModelArtifact, load_model
from chainml.models.simulator import simulate_payments
from tests.service.chain_helpers import approve


def test_the_service_step_runs_without_httpx(
    data_dir: Path,
    stored_models: tuple[Path, list[ModelArtifact]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # httpx (the dev extra's test client) cannot be imported, nor anything already built on it
    for name in list(sys.modules):
        if name.split(".")[0] == "httpx" or name.endswith(".testclient"):
            monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "httpx", None)
    model = load_model(data_dir, stored_models[1][0].model_id)
    stream = simulate_payments(300, seed=5).dataset()
    before = {t.name for t in threading.enumerate()}
    with connect(Settings(data_dir=data_dir)) as env:
        approve(env, data_dir, model)
        seen: list[int] = []
        result = demo_service.score_stream(env, data_dir, stream, progress=seen.append)
    assert result.model_id == model.model_id and sum(seen) == stream.rows
    assert result.rows == stream.rows and 0 <= result.caught <= result.flagged
    assert len(result.decided) == stream.rows and result.labels == stream.labels.tolist()
    assert set(result.decided) <= {0, 1} and np.isfinite(result.logits).all()
    with DecisionLog.open(data_dir) as log:
        assert log.head().size == stream.rows
    assert "chainml-loopback-server" not in {t.name for t in threading.enumerate()} - before
