"""Two service replicas on one PostgreSQL log and one chain: shared log, one anchorer, hot swap.

Each replica is a whole service (its own data directory with the models and the governance
record, its log-writer process, its registry watcher, its anchoring) as `chainml serve` builds
it; both are handed the same chain, as replicas share a node. The log is a throwaway schema.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from fastapi.testclient import TestClient

from chainml.chain import Env, connect
from chainml.config import Settings
from chainml.governance.deployments import deployments_path
from chainml.log.decision_log import DecisionLog
from chainml.log.postgres_store import PostgresLogStore
from chainml.models.artifacts import ModelArtifact, load_model, models_dir
from chainml.service import create_app
from tests.pg import fresh_schema, schema_url
from tests.service.chain_helpers import approve
from tests.service.conftest import HEADERS, options, row
from tests.service.test_hot_swap_and_anchoring import wait_for


def _score(client: TestClient, request_id: str, features: list[float]) -> int:
    body = {"request_id": request_id, "features": features}
    return client.post("/v1/score", json=body, headers=HEADERS).status_code


def test_two_replicas_share_the_log_elect_one_anchorer_and_both_hot_swap(
    data_dir: Path, stored_models: tuple[Path, list[ModelArtifact]], tmp_path: Path
) -> None:
    first, second = (load_model(data_dir, m.model_id) for m in stored_models[1])
    other_dir = tmp_path / "replica-b"
    other_dir.mkdir()
    shutil.copytree(models_dir(data_dir), models_dir(other_dir))  # both store the models
    with fresh_schema() as schema, connect(Settings(data_dir=tmp_path / "chain")) as env:
        env.sender = env.accounts[1]  # governance votes from its own account
        approve(env, data_dir, first)
        shutil.copy(deployments_path(data_dir), deployments_path(other_dir))  # same registry
        env.sender = env.accounts[0]
        url = schema_url(schema)
        service = options(anchor=True, anchor_every=3, anchor_seconds=0.3, watch_seconds=0.1)
        apps = [
            create_app(Settings(data_dir=d, log_url=url), service, env=env)
            for d in (data_dir, other_dir)
        ]
        with TestClient(apps[0]) as a, TestClient(apps[1]) as b:
            replicas = (a, b)
            runtimes = [c.app.state.runtime for c in replicas]  # type: ignore[attr-defined]
            for k in range(6):
                assert _score(replicas[k % 2], f"r{k}", row(first)) == 200
            assert _score(b, "r0", row(first)) == 409  # an id logged by a, refused by b
            # b's decision, read on a (200 once anchored, 202 before)
            assert a.get("/v1/decisions/r1").status_code in (200, 202)

            wait_for(lambda: all(r.anchoring_status().anchored_size >= 6 for r in runtimes))
            anchors = [r.anchoring_status().anchors for r in runtimes]
            assert sorted(anchors)[0] == 0 and sorted(anchors)[1] >= 1  # one anchorer only

            env.sender = env.accounts[1]
            approve(env, data_dir, second)  # governance promotes a new version: both follow
            env.sender = env.accounts[0]
            for client in replicas:
                wait_for(lambda c=client: c.get("/v1/models").json()["serving"] == second.model_id)
            assert _score(b, "after", row(second)) == 200

            leader = anchors.index(max(anchors))
            follower = replicas[1 - leader]
            replicas[leader].__exit__(None, None, None)  # the anchoring replica stops (releases)
            assert _score(follower, "late", row(second)) == 200
            late = runtimes[1 - leader]
            # the stopped leader released its lease: the follower takes over before it expires
            wait_for(lambda: late.anchoring_status().anchored_size >= 8, timeout=9.0)
            assert late.anchoring_status().anchors >= 1
        with DecisionLog(PostgresLogStore(url)) as log:
            size = log.head().size
            assert size == 8
            assert [log.record(i).sequence for i in range(size)] == list(range(size))
            assert log.audit().ok
            contract = log.store.get_meta(f"contract:{env.chain_id}")
            sizes = [int(e["size"]) for e in env.at(contract, _log_abi(env)).events("Anchored")]
            assert sizes == sorted(set(sizes)) and sizes[-1] == 8  # never a size twice


def _log_abi(env: Env) -> object:
    from chainml import contracts
    from chainml.log.anchor import CONTRACT_NAME

    return env.compile(contracts.source_path(CONTRACT_NAME))
