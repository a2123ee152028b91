"""The service scores raw records (the user's own columns, text categories, blanks).

The receipt commits the encoded integer features and the raw record's hash; those features,
run through the model's contract on chain, give back the logged score and label.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

import chainml
from chainml.chain import Env
from chainml.config import Settings
from chainml.inference.onchain import compile_model, deploy_model
from chainml.models.artifacts import ModelArtifact
from chainml.service import create_app
from tests.api.loans import write_loans_csv
from tests.service.conftest import HEADERS, options


def test_a_raw_record_is_scored_logged_and_reproduced_on_chain(
    tmp_path: Path, embedded_env: Env
) -> None:
    data_dir = tmp_path / "data"
    csv = tmp_path / "loans.csv"
    write_loans_csv(csv)
    dataset = chainml.Dataset.from_csv(csv, target="label", positive="bad", data_dir=data_dir)
    model = chainml.Model.train(dataset, "lr", resamples=20, labels=("decline", "approve"))

    app = create_app(Settings(data_dir=data_dir), options(model.model_id))
    raw = {"amount": "9500.00", "age": "23", "purpose": "education", "housing": "rent"}
    metadata = {"branch": "Zürich"}
    with TestClient(app) as client:
        answer = client.post(
            "/v1/score", json={"request_id": "app-1", "record": raw, "metadata": metadata},
            headers=HEADERS,
        )  # fmt: skip
        assert answer.status_code == 200, answer.text
        scored = answer.json()
        assert scored["decision"] == ("decline" if scored["label"] else "approve")
        record = client.get("/v1/decisions/app-1").json()["receipt"]["record"]

        # a category never seen goes to the other bucket; a blank is the column's fill value
        unseen = {**raw, "purpose": "yacht", "amount": ""}
        other = client.post("/v1/score", json={"record": unseen}, headers=HEADERS)
        assert other.status_code == 200, other.text
        # a batch of raw records is scored and logged together; a batch mixing kinds is not
        batch = {"records": [{"record": raw}, {"record": {**raw, "housing": "own"}}]}
        together = client.post("/v1/score/batch", json=batch, headers=HEADERS)
        assert together.status_code == 200 and len(together.json()["results"]) == 2
        mixed = {"records": [{"record": raw}, {"features": [0.0] * len(model.feature_names)}]}
        refused = client.post("/v1/score/batch", json=mixed, headers=HEADERS)
        # a 422 like every other validation error: its detail is a list (the OpenAPI schema)
        assert refused.status_code == 422 and refused.json()["detail"][0]["loc"] == [
            "body", "records"
        ]  # fmt: skip
        # every bad field at once, by column name
        bad = {"amount": "lots", "age": "23", "purpose": "car", "color": "red"}
        refused = client.post("/v1/score", json={"record": bad}, headers=HEADERS)
        assert refused.status_code == 422
        [problem] = refused.json()["detail"]
        assert problem["loc"] == ["body", "record"]
        for column in ("amount", "housing", "color"):
            assert column in problem["msg"]

    # the raw record's hash, recomputed from what was sent, as docs/service.md says
    canonical = json.dumps(
        {"metadata": metadata, "record": raw}, sort_keys=True, separators=(",", ":"),
        ensure_ascii=False,
    )  # fmt: skip
    assert record["metadata_hash"] == "0x" + hashlib.sha256(canonical.encode()).hexdigest()
    # the committed features are the schema's encoding of the raw record, as integers
    features = [int(f) for f in record["features"]]
    assert model.schema is not None
    assert len(features) == len(model.schema.feature_names)
    policy = model.artifact.policy
    assert policy.model.decide(features) == (int(record["score"]), bool(record["label"]))
    with embedded_env.snapshot():
        compiled = compile_model(model.artifact, None)
        contract = deploy_model(embedded_env, compiled, data_dir)
        on_chain = tuple(contract.decide(features))
    assert on_chain == (int(record["score"]), bool(record["label"]))
    assert record["label"] == scored["label"]


def test_the_raw_record_hash_is_canonical_json() -> None:
    from chainml.service.scoring import metadata_hash, record_hash

    record = {"b": "x", "a": 1}
    assert record_hash(record, None) == record_hash({"a": 1, "b": "x"}, None)  # key order
    assert record_hash(record, None) != record_hash({"a": 1.0, "b": "x"}, None)  # as sent
    assert record_hash(record, {"m": 1}) != record_hash(record, None)  # metadata included
    assert record_hash(record, None) != metadata_hash(record)  # not the metadata's hash


def test_the_python_log_refuses_what_does_not_fit(data_dir: Path, model: ModelArtifact) -> None:
    """A numeric model (no schema) takes its feature names with numbers; nothing else is logged."""
    stored = chainml.Model.load(model.model_id, data_dir=data_dir)
    row = dict.fromkeys(model.feature_names, 1.0)
    with chainml.DecisionLog(data_dir, durability="normal") as log:
        with pytest.raises(chainml.InvalidInputError, match="has no schema: send numbers"):
            log.append(stored, [{**row, model.feature_names[0]: "1"}])
        with pytest.raises(chainml.InvalidInputError, match="all raw"):
            log.append(stored, [row, list(row.values())])
        with pytest.raises(chainml.InvalidInputError, match="must run parallel"):
            log.append(stored, [row], request_ids=["a", "b"])
        assert log.head().size == 0
        [logged] = log.append(stored, [row], request_ids=["ok"])
        assert log.record(0) == logged and log.prove(0)["anchor"] is None  # pending


def test_an_imported_pipeline_scores_raw_records_by_its_own_columns(tmp_path: Path) -> None:
    """A Pipeline(OneHotEncoder, LogisticRegression) fitted elsewhere on two text columns of a
    CSV: imported against the whole CSV as the CLI reads it, then served raw records by those
    columns' names, scored as scikit-learn scores them."""
    import pandas as pd
    import skops.io
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder

    from chainml.models.importing import evaluation_data, import_model

    data_dir, csv = tmp_path / "data", tmp_path / "loans.csv"
    write_loans_csv(csv, rows=400)
    frame = pd.read_csv(csv, dtype=str, keep_default_na=False)  # the cells as written
    columns = ["purpose", "housing"]
    pipeline = make_pipeline(OneHotEncoder(handle_unknown="ignore"), LogisticRegression())
    pipeline.fit(frame[columns], frame["label"] == "bad")
    skops.io.dump(pipeline, tmp_path / "mine.skops")
    table = evaluation_data(str(csv), data_dir, target="label", positive="bad")
    result = import_model(str(tmp_path / "mine.skops"), table, data_dir, resamples=20)
    assert result.artifact.feature_names[0].startswith("purpose=") and result.onchain

    raw = {"purpose": "education", "housing": "rent"}
    app = create_app(Settings(data_dir=data_dir), options(result.artifact.model_id))
    with TestClient(app) as client:
        answer = client.post("/v1/score", json={"record": raw}, headers=HEADERS)
        assert answer.status_code == 200, answer.text
        expected = pipeline.predict_proba(pd.DataFrame([raw]))[0, 1]
        assert abs(answer.json()["score"] - expected) < 1e-9  # 0/1 features: exact inputs
        # what the model does not take, or lacks, is named at once; nothing is logged for it
        bad = {"purpose": "car", "colour": "red"}
        refused = client.post("/v1/score", json={"record": bad}, headers=HEADERS)
        assert refused.status_code == 422
        message = refused.json()["detail"][0]["msg"]
        assert "housing: missing field" in message and "colour: unknown field" in message
        receipt = client.get(f"/v1/decisions/{answer.json()['request_id']}").json()["receipt"]
    features = [int(f) for f in receipt["record"]["features"]]
    names = result.artifact.feature_names
    assert [names[i] for i, f in enumerate(features) if f] == ["purpose=education", "housing=rent"]
