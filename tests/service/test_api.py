"""The HTTP API: scoring, validation and limits, auth, receipts, log head, models, metrics."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import prometheus_client
import pytest
from fastapi.testclient import TestClient

from chainml.log.decision_log import DecisionLog
from chainml.log.receipt import check_receipt
from chainml.log.record import commit_features, request_id_from
from chainml.models.artifacts import ModelArtifact
from chainml.service.metrics import Metrics
from chainml.service.scoring import FIXED_SCALE
from tests.service.conftest import HEADERS, KEY, make_app, row
from tests.service.scrape import sample, types


def features_int(model: ModelArtifact, features: list[float]) -> list[int]:
    scales = [1 if f["integer"] else FIXED_SCALE for f in model.card["features"]]
    return [round(x * s) for x, s in zip(features, scales, strict=True)]


def score(client: TestClient, body: dict, headers: dict | None = None):
    return client.post("/v1/score", json=body, headers=HEADERS if headers is None else headers)


def test_score_answers_with_the_logged_decision(
    client: TestClient, model: ModelArtifact, data_dir: Path
) -> None:
    features = [float(i) for i in range(len(model.feature_names))]
    answer = score(client, {"request_id": "payment-1", "features": features, "metadata": {"a": 1}})
    assert answer.status_code == 200, answer.text
    result = answer.json()
    logit = float(model.predict_logit([features])[0])
    assert result["request_id"] == "payment-1"
    assert result["request_hash"] == "0x" + request_id_from("payment-1").hex()
    assert result["model_id"] == model.model_id
    assert result["log_index"] == 0
    assert result["logit"] == pytest.approx(logit)
    assert result["score"] == pytest.approx(float(model.predict_proba([features])[0]))
    # the decision of record is the integer model's: score_int >= THRESHOLD_int
    assert result["label"] == int(
        model.policy.model.score(list(features_int(model, features))) >= model.policy.threshold
    )
    assert result["decision"] == ("hold" if result["label"] else "pass")

    receipt = client.get("/v1/decisions/payment-1")
    assert receipt.status_code == 202 and receipt.json()["status"] == "pending"
    check = check_receipt(receipt.json()["receipt"])  # hashes and inclusion proof hold
    record = check.record
    assert record.model_id.hex() == model.model_id[2:]
    assert record.score == model.policy.model.score(list(record.features))
    assert record.label == int(record.score >= model.policy.threshold)
    assert record.timestamp_ms == result["timestamp_ms"]
    assert record.request_id == request_id_from("payment-1")
    scales = [1 if f["integer"] else FIXED_SCALE for f in model.card["features"]]
    assert record.features == tuple(round(x * s) for x, s in zip(features, scales, strict=True))
    assert record.input_commitment == commit_features(record.features)
    assert record.metadata_hash != bytes(32)


def test_named_features_equal_positional_ones(client: TestClient, model: ModelArtifact) -> None:
    values = {name: float(i) for i, name in enumerate(model.feature_names)}
    by_name = score(client, {"features": values}).json()
    by_position = score(client, {"features": list(values.values())}).json()
    assert by_name["logit"] == by_position["logit"]
    assert by_name["request_id"] != by_position["request_id"]  # generated, unique
    missing = score(client, {"features": dict(list(values.items())[1:]) | {"bogus": 1.0}})
    assert missing.status_code == 422
    [problem] = missing.json()["detail"]
    assert problem["loc"] == ["body", "features"]
    assert model.feature_names[0] in problem["msg"] and "bogus" in problem["msg"]


def test_batch_logs_every_record_in_order(
    client: TestClient, model: ModelArtifact, data_dir: Path
) -> None:
    records = [{"request_id": f"b-{i}", "features": row(model, float(i))} for i in range(25)]
    answer = client.post("/v1/score/batch", json={"records": records}, headers=HEADERS)
    assert answer.status_code == 200, answer.text
    results = answer.json()["results"]
    assert [r["request_id"] for r in results] == [f"b-{i}" for i in range(25)]
    assert [r["log_index"] for r in results] == list(range(25))
    head = client.get("/v1/log/head").json()
    assert head["size"] == 25 and head["pending"] == 25 and head["anchor"] is None
    for result in results[::6]:
        document = client.get(f"/v1/decisions/{result['request_id']}").json()
        assert check_receipt(document["receipt"]).leaf_index == result["log_index"]


@pytest.mark.parametrize(
    ("body", "where"),
    [
        ({"features": [1.0, 2.0]}, ["body", "features"]),  # wrong count
        ({"features": [1.0, "2"]}, ["body", "features", "list", 1]),  # a string
        ({"features": [1.0, True]}, ["body", "features", "list", 1]),  # a boolean
        ({"features": [1e300]}, ["body", "features", "list", 0]),  # beyond the range
        ({"features": []}, ["body", "features", "list"]),
        ({"features": [1.0], "extra": 1}, ["body", "extra"]),
        ({"request_id": "", "features": [1.0]}, ["body", "request_id"]),
        ({}, ["body"]),  # neither features nor record
        ({"features": [1.0], "record": {"amount": 1.0}}, ["body"]),  # both
        ({"record": {"amount": [1]}}, ["body", "record", "amount", "bool"]),  # not a raw value
        ({"record": {"amount": "x" * 1025}}, ["body", "record", "amount", "bool"]),  # too long
        ({"record": {}}, ["body", "record"]),
    ],
)
def test_malformed_records_are_422_naming_the_field(
    client: TestClient, body: dict, where: list
) -> None:
    answer = score(client, body)
    assert answer.status_code == 422
    assert where in [problem["loc"] for problem in answer.json()["detail"]], answer.text


@pytest.mark.parametrize("text", [b'{"features": [NaN]}', b'{"features": [1, Infinity]}'])
def test_nan_and_infinity_are_refused(client: TestClient, text: bytes) -> None:
    answer = client.post(
        "/v1/score", content=text, headers=HEADERS | {"content-type": "application/json"}
    )
    assert answer.status_code == 422
    assert answer.json()["detail"][0]["type"] == "finite_number"


def test_malformed_json_is_422_at_its_position(client: TestClient) -> None:
    headers = HEADERS | {"content-type": "application/json"}
    answer = client.post("/v1/score", content=b'{"features": [1,', headers=headers)
    assert answer.status_code == 422
    [problem] = answer.json()["detail"]
    assert problem["type"] == "json_invalid" and problem["loc"][0] == "body"


def test_api_keys_guard_writes(client: TestClient, model: ModelArtifact) -> None:
    body = {"features": row(model)}
    missing = score(client, body, headers={})
    assert missing.status_code == 401 and "X-API-Key" in missing.json()["detail"]
    wrong = score(client, body, headers={"X-API-Key": KEY + "x"})
    assert wrong.status_code == 403
    assert client.post("/v1/score/batch", json={"records": [body]}).status_code == 401
    assert client.get("/v1/log/head").status_code == 200  # reads are public by default
    assert client.get("/v1/log/head").json()["size"] == 0  # nothing was logged


def test_every_request_goes_through_fastapis_handler(
    client: TestClient, model: ModelArtifact, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No accepted request skips FastAPI's dependency solving (a fast path once did)."""
    import fastapi.routing

    solved: list[str] = []  # FastAPI's handler solving the route's dependencies
    real = fastapi.routing.solve_dependencies

    async def spy(*args: Any, **kwargs: Any) -> Any:
        solved.append(kwargs["request"].headers.get("X-API-Key", ""))
        return await real(*args, **kwargs)

    monkeypatch.setattr(fastapi.routing, "solve_dependencies", spy)
    body = {"features": row(model)}
    assert score(client, body).status_code == 200 and solved == [KEY]
    batch = client.post("/v1/score/batch", json={"records": [body]}, headers=HEADERS)
    assert batch.status_code == 200 and solved == [KEY, KEY]
    assert score(client, body, headers={"X-API-Key": "x"}).status_code == 403
    assert solved == [KEY, KEY]  # a wrong key is refused at the edge, on its headers


@pytest.mark.parametrize("path", ["/v1/score", "/v1/score/batch"])
def test_deep_json_is_400_before_any_recursive_parse(client: TestClient, path: str) -> None:
    headers = HEADERS | {"content-type": "application/json"}
    deep = b'{"features": ' + b"[" * 2000 + b"]" * 2000 + b"}"
    answer = client.post(path, content=deep, headers=headers)
    assert answer.status_code == 400 and "2001 levels deep" in answer.json()["detail"]
    assert client.get("/v1/log/head").json()["size"] == 0


def test_metadata_nests_at_most_16_levels(client: TestClient, model: ModelArtifact) -> None:
    nested: Any = 1
    for _ in range(15):
        nested = [nested]
    assert score(client, {"features": row(model), "metadata": {"a": nested}}).status_code == 200
    answer = score(client, {"features": row(model), "metadata": {"a": [nested]}})
    assert answer.status_code == 422 and "17 levels" in answer.text
    assert answer.json()["detail"][0]["loc"][:2] == ["body", "metadata"]


def test_dependency_overrides_are_honoured(client: TestClient, model: ModelArtifact) -> None:
    from fastapi import HTTPException

    from chainml.service.auth import require_key

    app = client.app

    async def closed() -> None:
        raise HTTPException(418, "closed for the test")

    app.dependency_overrides[require_key] = closed  # type: ignore[attr-defined]
    try:
        refused = score(client, {"request_id": "o1", "features": row(model)})
        assert refused.status_code == 418  # the fast path must not skip the override
        app.dependency_overrides[require_key] = lambda: None  # type: ignore[attr-defined]
        open_door = score(client, {"request_id": "o2", "features": row(model)})
        assert open_door.status_code == 200 and open_door.json()["log_index"] == 0
        # the edge checks the key on the headers before any dependency: still closed without
        assert score(client, {"features": row(model)}, headers={}).status_code == 401
    finally:
        app.dependency_overrides.clear()  # type: ignore[attr-defined]
    assert score(client, {"features": row(model)}, headers={}).status_code == 401


def test_private_reads_need_a_key(data_dir: Path, model: ModelArtifact) -> None:
    with TestClient(make_app(data_dir, model.model_id, public_reads=False)) as client:
        assert client.get("/v1/log/head").status_code == 401
        assert client.get("/v1/log/head", headers={"X-API-Key": "nope"}).status_code == 403
        assert client.get("/v1/log/head", headers=HEADERS).status_code == 200
        assert client.get("/v1/decisions/x").status_code == 401


def test_size_limits_are_413(data_dir: Path, model: ModelArtifact) -> None:
    app = make_app(data_dir, model.model_id, max_batch=3, max_body_bytes=4096)
    with TestClient(app) as client:
        records = [{"features": row(model)}] * 4
        answer = client.post("/v1/score/batch", json={"records": records}, headers=HEADERS)
        assert answer.status_code == 413 and "at most 3" in answer.json()["detail"]
        big = {"features": row(model), "metadata": {"blob": "x" * 5000}}
        assert score(client, big).status_code == 413
        chunks = iter([json.dumps(big).encode()[:3000], json.dumps(big).encode()[3000:]])
        streamed = client.post("/v1/score", content=chunks, headers=HEADERS)  # no length given
        assert streamed.status_code == 413
        assert client.get("/v1/log/head").json()["size"] == 0


def test_a_request_id_is_logged_once(client: TestClient, model: ModelArtifact) -> None:
    assert score(client, {"request_id": "r", "features": row(model)}).status_code == 200
    again = score(client, {"request_id": "r", "features": row(model, 2.0)})
    assert again.status_code == 409 and "already logged" in again.json()["detail"]
    records = [
        {"request_id": "s", "features": row(model)},
        {"request_id": "s", "features": row(model)},
    ]
    twice = client.post("/v1/score/batch", json={"records": records}, headers=HEADERS)
    assert twice.status_code == 409
    assert twice.json()["detail"].startswith("records.1.request_id")
    clash = [
        {"request_id": "t", "features": row(model)},
        {"request_id": "r", "features": row(model)},
    ]
    assert (
        client.post("/v1/score/batch", json={"records": clash}, headers=HEADERS).status_code == 409
    )
    assert client.get("/v1/log/head").json()["size"] == 1  # all or nothing
    assert client.get("/v1/decisions/t").status_code == 404


def test_log_head_and_consistency(client: TestClient, model: ModelArtifact, data_dir: Path) -> None:
    for i in range(5):
        score(client, {"features": row(model, i)})
    head = client.get("/v1/log/head").json()
    proof = client.get("/v1/log/consistency", params={"first": 2}).json()
    assert proof["second"] == head["size"] == 5 and proof["second_root"] == head["root"]
    from chainml.log import merkle

    merkle.verify_consistency(
        2,
        5,
        bytes.fromhex(proof["first_root"][2:]),
        bytes.fromhex(proof["second_root"][2:]),
        [bytes.fromhex(h[2:]) for h in proof["proof"]],
    )
    assert client.get("/v1/log/consistency", params={"first": 4, "second": 3}).status_code == 422
    assert client.get("/v1/log/consistency", params={"first": 2, "second": 9}).status_code == 404
    assert client.get("/v1/log/consistency", params={"first": 0}).status_code == 422


def test_models_and_health(client: TestClient, model: ModelArtifact) -> None:
    listed = client.get("/v1/models").json()
    assert listed["serving"] == model.model_id
    assert {m["model_id"] for m in listed["models"] if m["serving"]} == {model.model_id}
    assert len(listed["models"]) == 2
    one = client.get(f"/v1/models/{model.model_id[:12]}").json()  # a unique prefix works
    assert one["model_id"] == model.model_id and one["serving"] is True
    assert one["card"]["model_id"] == model.model_id and one["registry"] is None
    assert client.get("/v1/models/0x" + "ab" * 32).status_code == 404
    assert client.get("/v1/models/not-an-id").status_code == 422
    health = client.get("/healthz").json()
    checks = health.pop("checks")
    assert health == {
        "status": "ok",
        "ready": True,
        "model_id": model.model_id,
        "log_size": 0,
        "anchored_size": 0,
        "anchoring": "off",
        "detail": None,
    }
    assert set(checks) == {"model", "log"}  # pinned, anchoring off: no chain to reach
    assert all(check["ok"] and check["detail"] == "" for check in checks.values())


#: docs/service.md's table: every family the service exposes, with its type
METRIC_TYPES = {
    "chainml_http_requests": "counter",
    "chainml_http_request_duration_seconds": "histogram",
    "chainml_log_commit_duration_seconds": "histogram",
    "chainml_decisions_logged": "counter",
    "chainml_log_commits": "counter",
    "chainml_anchors": "counter",
    "chainml_anchor_errors": "counter",
    "chainml_model_swaps": "counter",
    "chainml_model_watch_errors": "counter",
    "chainml_log_size": "gauge",
    "chainml_model_info": "gauge",
    "chainml_rpc_endpoint_up": "gauge",  # no samples on the embedded chain
    "chainml_rpc_endpoint_blocks_behind": "gauge",
    "chainml_rpc_endpoint_failures": "gauge",
}


def test_metrics_are_prometheus_text(client: TestClient, model: ModelArtifact) -> None:
    score(client, {"features": row(model)})
    score(client, {"features": row(model)}, headers={})
    answer = client.get("/metrics")
    assert answer.headers["content-type"].startswith("text/plain; version=")
    text = answer.text
    requests = "chainml_http_requests_total"
    assert sample(text, requests, route="/v1/score", method="POST", status="200") == 1
    assert sample(text, requests, route="/v1/score", method="POST", status="401") == 1
    duration = "chainml_http_request_duration_seconds_bucket"
    assert sample(text, duration, route="/v1/score", le="+Inf") == 2
    assert sample(text, "chainml_decisions_logged_total") == 1
    assert sample(text, "chainml_log_commits_total") == 1
    assert sample(text, "chainml_log_commit_duration_seconds_count") == 1
    assert sample(text, "chainml_model_info", use="fraud-screening", model_id=model.model_id) == 1
    assert sample(text, "chainml_log_size", kind="total") == 1
    assert sample(text, "chainml_log_size", kind="anchored") == 0
    assert types(text) == METRIC_TYPES  # names and types as documented (anchoring is off here)


def test_metrics_are_per_service() -> None:
    """Two services in one process count apart, and nothing lands in the global registry."""
    one, two = Metrics(), Metrics()  # the second would be refused if both used the global one
    one.committed(3, 0.001)
    assert sample(one.render(), "chainml_decisions_logged_total") == 3
    assert sample(two.render(), "chainml_decisions_logged_total") == 0
    assert not any(f.name.startswith("chainml_") for f in prometheus_client.REGISTRY.collect())


def test_metrics_speak_openmetrics_when_asked(client: TestClient) -> None:
    answer = client.get("/metrics", headers={"Accept": "application/openmetrics-text"})
    assert answer.headers["content-type"].startswith("application/openmetrics-text")
    assert answer.text.endswith("# EOF\n")
    assert "# TYPE chainml_decisions_logged counter" in answer.text


def test_openapi_documents_every_endpoint(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    paths = spec["paths"]
    for path in (
        "/v1/score",
        "/v1/score/batch",
        "/v1/decisions/{request_id}",
        "/v1/decisions/{request_id}/proof",
        "/v1/log/head",
        "/v1/log/consistency",
        "/v1/log/entries",
        "/v1/models",
        "/v1/models/{model_id}",
        "/livez",
        "/readyz",
        "/healthz",
        "/metrics",
    ):
        assert path in paths
    assert set(paths["/v1/score"]["post"]["responses"]) >= {
        "200",
        "401",
        "403",
        "409",
        "413",
        "422",
        "503",
    }
    assert spec["components"]["securitySchemes"]["APIKeyHeader"]["name"] == "X-API-Key"


def test_decisions_survive_a_restart(data_dir: Path, model: ModelArtifact) -> None:
    with TestClient(make_app(data_dir, model.model_id)) as client:
        first = score(client, {"request_id": "kept", "features": row(model)}).json()
    with DecisionLog.open(data_dir) as log:
        assert log.index_of(request_id_from("kept")) == first["log_index"]
    with TestClient(make_app(data_dir, model.model_id)) as client:
        second = score(client, {"features": row(model)}).json()
        assert second["log_index"] == first["log_index"] + 1
        assert client.get("/v1/decisions/kept").status_code == 202


@pytest.mark.parametrize(
    "text",
    [
        b'{"request_id": "\\udc80", "features": [1.0]}',  # a lone surrogate: not text
        b'{"features": [1.0], "metadata": {"x": NaN}}',
        b'{"features": [1.0], "metadata": {"\\ud800": 1}}',
    ],
)
def test_request_ids_and_metadata_must_be_text_and_json(client: TestClient, text: bytes) -> None:
    headers = HEADERS | {"content-type": "application/json"}
    assert client.post("/v1/score", content=text, headers=headers).status_code == 422
