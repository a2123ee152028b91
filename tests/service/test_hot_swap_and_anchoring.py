"""The approved model serves, a new approval swaps it, heads get anchored (and reorgs survived).

The service does no chain work itself: its chain process owns the embedded chain and anchors.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from chainml.chain import Env, connect, embedded
from chainml.chain.opening import OwnerEndpoint
from chainml.chain.ownership import current_owner
from chainml.chain.rpc import RpcBackend
from chainml.config import Settings
from chainml.log.anchor import AnchorPolicy
from chainml.log.decision_log import DecisionLog
from chainml.log.receipt import verify_receipt
from chainml.log.trust import operated_log
from chainml.models.artifacts import ModelArtifact, load_model
from chainml.service import create_app
from chainml.service.anchoring import BackgroundAnchoring
from chainml.service.metrics import Metrics
from tests.log.test_anchor import decisions
from tests.service.chain_helpers import approve, retire
from tests.service.conftest import HEADERS, options, row
from tests.service.scrape import sample


def wait_for(condition: Callable[[], bool], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def test_hot_swap_follows_governance_and_receipts_anchor(
    data_dir: Path, stored_models: tuple[Path, list[ModelArtifact]]
) -> None:
    """As `chainml serve` runs: the chain process owns the chain, anchors, serves the reads."""
    first, second = (load_model(data_dir, m.model_id) for m in stored_models[1])
    settings = Settings(data_dir=data_dir)

    def governing(env: Env) -> Env:
        # governance sends from its own account: the chain process anchors from the first one
        env.sender = env.accounts[1]
        return env

    with connect(settings) as env:
        approve(governing(env), data_dir, first)
    service_options = options(anchor=True, anchor_every=5, anchor_seconds=0.5, watch_seconds=0.1)
    with TestClient(create_app(settings, service_options)) as client:
        runtime = client.app.state.runtime  # type: ignore[attr-defined]
        child = runtime.chain_process.pid
        owner = current_owner(data_dir)
        assert owner is not None and owner.pid == child and child != os.getpid()
        with connect(settings) as env:  # governance goes through the owner, as the CLI does
            assert isinstance(env.backend, OwnerEndpoint)
            governing(env)
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
            assert sample(client.get("/metrics").text, "chainml_model_swaps_total") == 1

            wait_for(lambda: client.get("/v1/decisions/after").status_code == 200)
            receipts = {
                rid: client.get(f"/v1/decisions/{rid}").json() for rid in ("before", "after")
            }
            # the chain process reports its anchors (within a moment) to the service
            wait_for(lambda: runtime.anchoring_status().anchored_size >= 2)
            status = runtime.anchoring_status()
            assert status.ok and status.state == "ok" and status.anchors >= 1
            anchors = sample(client.get("/metrics").text, "chainml_anchors_total")
            assert anchors is not None and anchors >= 1  # counted there, shown here
            # /healthz reports the counts its monitor last saw (at most half a second old)
            wait_for(lambda: client.get("/healthz").json()["anchored_size"] >= 2)
            assert client.get("/healthz").json()["anchoring"] == "ok"

            retire(env, data_dir, second)  # nothing approved any more: scoring stops
            wait_for(lambda: client.get("/healthz").json()["status"] == "degraded")
            refused = client.post("/v1/score", json={"features": row(second)}, headers=HEADERS)
            assert refused.status_code == 503 and "no model is approved" in refused.json()["detail"]
        assert not embedded._SHARED  # this process never opened the chain: no EVM ran here

    assert current_owner(data_dir) is None  # the chain process is gone with the service
    with connect(settings) as env, DecisionLog.open(data_dir) as log:
        trusted = (operated_log(env, log),)  # the operator pins its own log
        for rid, model in (("before", first), ("after", second)):
            document = receipts[rid]
            assert document["status"] == "anchored"
            check = verify_receipt(document["receipt"], env, trusted=trusted)  # on the chain
            assert check.verified
            assert "0x" + check.record.model_id.hex() == model.model_id  # the model that decided


@pytest.mark.integration
def test_background_anchoring_waits_for_confirmations_and_survives_reorgs(
    anvil_env: Env, tmp_path: Path
) -> None:
    def metric(name: str) -> float | None:
        return sample(metrics.render(), name)

    rpc = anvil_env.backend
    assert isinstance(rpc, RpcBackend)
    metrics = Metrics()
    policy = AnchorPolicy(
        every_decisions=1, every_seconds=0.2, retry_seconds=0.1, check_seconds=0.05
    )
    with anvil_env.snapshot(), DecisionLog.open(tmp_path / "log", durability="normal") as log:
        anchoring = BackgroundAnchoring(log, lambda: anvil_env, policy, metrics, confirmations=2)
        anchoring.start()
        try:
            wait_for(lambda: anchoring.anchorer is not None)  # the contract is deployed
            before = rpc.request("evm_snapshot", [])
            log.append(decisions(0, 5))
            wait_for(lambda: metric("chainml_anchor_pending_size") == 5)
            assert log.store.latest_anchor() is None  # on chain, not final

            assert rpc.request("evm_revert", [before])  # a reorg drops the anchor transaction
            before = rpc.request("evm_snapshot", [])  # (a snapshot is used up by a revert)
            rpc.request("anvil_mine", ["0x1"])
            wait_for(lambda: metric("chainml_anchor_reorgs") == 1)
            wait_for(lambda: metric("chainml_anchor_pending_size") == 5)  # anchored again
            anvil_env.mine(2)
            wait_for(lambda: log.store.latest_anchor() is not None)
            final = log.store.latest_anchor()
            assert final is not None and final.size == 5 and anchoring.state == "ok"
            assert metric("chainml_anchor_pending_size") == 0
            assert metric("chainml_anchor_final_lost") == 0

            assert rpc.request("evm_revert", [before])  # deeper than the confirmations
            rpc.request("anvil_mine", ["0x4"])
            wait_for(lambda: metric("chainml_anchor_final_lost") == 1)
            assert anchoring.state == "retrying" and "recorded as final" in str(anchoring.error)
            assert log.store.anchors() == [final]  # reported, not silently recorded again
        finally:
            anchoring.stop()
