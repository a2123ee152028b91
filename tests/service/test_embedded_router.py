"""``chainml.Service`` embedded in a FastAPI app of the user's own: its router scores and logs.

The user's app keeps its own routes and error handling; the service's endpoints answer as in
``chainml serve`` (API key, 422 naming a bad feature, receipts of what was logged).
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.testclient import TestClient

import chainml
from chainml.config import Settings
from chainml.inference.optimistic.watch_wire import decode_binary
from chainml.log.decision_log import DecisionLog
from chainml.models.artifacts import ModelArtifact
from tests.service.conftest import HEADERS, options


def test_the_router_serves_scores_in_a_users_app(data_dir: Path, model: ModelArtifact) -> None:
    service = chainml.Service(Settings(data_dir=data_dir), options(model.model_id))
    app = FastAPI(title="the user's own app")

    @app.get("/hello")
    def hello() -> dict[str, str]:
        return {"hello": "world"}

    app.include_router(service.router, prefix="/risk")
    features = dict.fromkeys(model.feature_names, 1.0)
    with TestClient(app) as client:
        assert client.get("/hello").json() == {"hello": "world"}
        body = {"request_id": "order-1", "features": features}
        assert client.post("/risk/v1/score", json=body).status_code == 401  # no key
        answer = client.post("/risk/v1/score", json=body, headers=HEADERS)
        assert answer.status_code == 200, answer.text
        scored = answer.json()
        assert scored["model_id"] == model.model_id and scored["log_index"] == 0

        # a chainml error inside the router is the service's 422, not the user's 500
        bad = {"features": {**features, model.feature_names[0]: "many"}}
        assert client.post("/risk/v1/score", json=bad, headers=HEADERS).status_code == 422
        unknown = {"features": {**features, "surprise": 1.0}}
        refused = client.post("/risk/v1/score", json=unknown, headers=HEADERS)
        assert refused.status_code == 422 and "unknown surprise" in refused.text
        again = client.post("/risk/v1/score", json=body, headers=HEADERS)
        assert again.status_code == 409 and "already logged" in again.text

        receipt = client.get("/risk/v1/decisions/order-1").json()
        record = receipt["receipt"]["record"]
        assert (receipt["leaf_index"], record["label"]) == (0, scored["label"])
    # the lifespan closed the service with the app: the log is released
    with chainml.DecisionLog(data_dir, durability="normal") as log:
        assert log.head().size == 1


def test_the_router_serves_log_entries_for_watchers(data_dir: Path, model: ModelArtifact) -> None:
    service = chainml.Service(Settings(data_dir=data_dir), options(model.model_id))
    app = FastAPI()
    app.include_router(service.router, prefix="/risk")
    records = [{"features": dict.fromkeys(model.feature_names, float(i))} for i in range(12)]
    with TestClient(app) as client:
        answer = client.post("/risk/v1/score/batch", json={"records": records}, headers=HEADERS)
        assert answer.status_code == 200, answer.text
        document = client.get("/risk/v1/log/entries?start=2&end=10", headers=HEADERS).json()
        binary = client.get(
            "/risk/v1/log/entries?start=2&end=10",
            headers={**HEADERS, "Accept": "application/octet-stream"},
        )
        beyond = client.get("/risk/v1/log/entries?start=0&end=13", headers=HEADERS)
        assert beyond.status_code == 404 and "13" in beyond.text  # the service's error, not a 500
    with DecisionLog.open(data_dir, read_only=True) as log:
        expected = [data for _, data in log.store.iter_leaves(2, 10)]
    assert (document["start"], document["end"], document["size"]) == (2, 10, 12)
    assert [bytes.fromhex(entry[2:]) for entry in document["entries"]] == expected
    assert decode_binary(binary.content) == expected
