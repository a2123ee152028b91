"""The chain node goes away: scoring goes on, anchoring resumes and catches up, nothing twice."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from chainml.chain import connect
from chainml.chain.devnode import AnvilNode
from chainml.config import Secret, Settings
from chainml.log.anchor import log_contract
from chainml.log.decision_log import DecisionLog
from chainml.models.artifacts import ModelArtifact
from chainml.service import create_app
from tests.proxy import SwitchableProxy
from tests.service.conftest import HEADERS, options, row
from tests.service.scrape import sample

# anvil's third well-known development key (public): no other test sends from this account
ANVIL_THIRD_KEY = "0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a"


def wait_for(condition: Callable[[], bool], timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


@pytest.mark.integration
def test_node_down_scoring_continues_anchoring_catches_up(
    anvil_node: AnvilNode, data_dir: Path, model: ModelArtifact
) -> None:
    proxy = SwitchableProxy(anvil_node.port)
    settings = Settings(data_dir=data_dir, rpc=proxy.url, private_key=Secret(ANVIL_THIRD_KEY))
    service_options = options(model.model_id, anchor=True, anchor_every=3, anchor_seconds=0.3)
    try:
        with TestClient(create_app(settings, service_options)) as client:

            def score(n: int) -> None:
                for _ in range(n):
                    answer = client.post(
                        "/v1/score", json={"features": row(model)}, headers=HEADERS
                    )
                    assert answer.status_code == 200, answer.text

            def anchored() -> int:
                return int(client.get("/healthz").json()["anchored_size"])

            score(5)
            wait_for(lambda: anchored() == 5)
            proxy.down()
            score(20)  # the node is away: scoring does not notice
            wait_for(lambda: client.get("/healthz").json()["anchoring"] == "retrying")
            assert anchored() == 5
            # an outage shorter than the grace leaves the service ready, and says why degraded
            ready = client.get("/readyz")
            assert ready.status_code == 200 and ready.json()["status"] == "degraded"
            assert ready.json()["checks"]["anchoring"]["detail"].startswith("retrying: ")
            errors = sample(client.get("/metrics").text, "chainml_anchor_errors_total")
            assert errors is not None and errors > 0
            score(5)
            proxy.up()
            wait_for(lambda: anchored() == 30)
    finally:
        proxy.close()

    with (
        connect(Settings(data_dir=data_dir, rpc=anvil_node.url)) as env,
        DecisionLog.open(data_dir) as log,
    ):
        contract = log_contract(env, log, deploy=False)
        sizes = [int(e["size"]) for e in contract.events("Anchored")]
        assert sizes == sorted(set(sizes)) and sizes[-1] == 30  # no size anchored twice
        assert int(contract.size()) == 30 and bytes(contract.root()) == log.store.root(30)
