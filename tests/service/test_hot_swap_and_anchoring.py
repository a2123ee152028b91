"""On the embedded chain: the approved model serves, a new approval swaps it, heads get anchored."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from fastapi.testclient import TestClient

from chainml.chain import connect
from chainml.config import Settings
from chainml.log.decision_log import DecisionLog
from chainml.log.receipt import verify_receipt
from chainml.log.trust import operated_log
from chainml.models.artifacts import ModelArtifact, load_model
from chainml.service import create_app
from tests.service.chain_helpers import approve, retire
from tests.service.conftest import HEADERS, options, row


def wait_for(condition: Callable[[], bool], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def test_hot_swap_follows_governance_and_receipts_anchor(
    data_dir: Path, stored_models: tuple[Path, list[ModelArtifact]]
) -> None:
    first, second = (load_model(data_dir, m.model_id) for m in stored_models[1])
    settings = Settings(data_dir=data_dir)
    with connect(settings) as env:
        approve(env, data_dir, first)
        service_options = options(
            anchor=True, anchor_every=5, anchor_seconds=0.5, watch_seconds=0.1
        )
        with TestClient(create_app(settings, service_options, env=env)) as client:
            one = client.post(
                "/v1/score", json={"request_id": "before", "features": row(first)}, headers=HEADERS
            ).json()
            assert one["model_id"] == first.model_id
            assert client.get(f"/v1/models/{first.model_id}").json()["registry"]["status"] == (
                "approved"
            )

            approve(env, data_dir, second)  # governance promotes a new version
            wait_for(lambda: client.get("/v1/models").json()["serving"] == second.model_id)
            two = client.post(
                "/v1/score", json={"request_id": "after", "features": row(second)}, headers=HEADERS
            ).json()
            assert two["model_id"] == second.model_id
            assert "chainml_model_swaps_total 1" in client.get("/metrics").text

            wait_for(lambda: client.get("/v1/decisions/after").status_code == 200)
            receipts = {
                rid: client.get(f"/v1/decisions/{rid}").json() for rid in ("before", "after")
            }
            health = client.get("/healthz").json()
            assert health["anchoring"] == "ok" and health["anchored_size"] >= 2

            retire(env, data_dir, second)  # nothing approved any more: scoring stops
            wait_for(lambda: client.get("/healthz").json()["status"] == "degraded")
            refused = client.post("/v1/score", json={"features": row(second)}, headers=HEADERS)
            assert refused.status_code == 503 and "no model is approved" in refused.json()["detail"]

        with DecisionLog.open(data_dir) as log:
            trusted = (operated_log(env, log),)  # the operator pins its own log
        for rid, model in (("before", first), ("after", second)):
            document = receipts[rid]
            assert document["status"] == "anchored"
            check = verify_receipt(document["receipt"], env, trusted=trusted)  # on the chain
            assert check.verified
            assert "0x" + check.record.model_id.hex() == model.model_id  # the model that decided
