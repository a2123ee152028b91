"""Issue 10, finding 6: the service scores exactly the features it logs, with the integer model.

A model trained on integral features (input scale 1) sent ``48.4`` used to score 48.4 and log
``48``: two scores for one committed feature vector. Now the request is refused (422, naming the
feature) unless the model declares rounding, and a logged decision re-executes exactly.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

from chainml.log.receipt import check_receipt
from chainml.models.artifacts import ModelArtifact, load_model, save_model
from chainml.models.simulator import simulate_payments
from chainml.models.train import train_model
from chainml.service.scoring import FeatureError, ServingModel
from tests.service.conftest import HEADERS, make_app


@pytest.fixture(scope="module")
def stored(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, ModelArtifact]:
    data_dir = tmp_path_factory.mktemp("exact") / "data"
    dataset = simulate_payments(3000, seed=1).dataset()
    artifact, _ = save_model(data_dir, train_model(dataset, "lr", seed=1, resamples=20))
    return data_dir, artifact


def _features(artifact: ModelArtifact) -> list[float]:
    return [48.0] + [float(i) for i in range(1, len(artifact.feature_names))]


def test_a_fraction_for_an_integral_feature_is_refused_and_a_whole_value_replays(stored) -> None:
    data_dir, artifact = stored
    assert all(spec.scale == 1 for spec in artifact.policy.model.inputs)
    name = artifact.feature_names[0]
    with TestClient(make_app(data_dir, artifact.model_id)) as client:
        fraction = _features(artifact)
        fraction[0] = 48.4
        refused = client.post("/v1/score", json={"features": fraction}, headers=HEADERS)
        assert refused.status_code == 422, refused.text
        [problem] = refused.json()["detail"]
        assert problem["loc"] == ["body", "features"]
        assert name in problem["msg"] and "48.4" in problem["msg"]
        assert client.get("/v1/log/head").json()["size"] == 0  # nothing was logged

        whole = client.post(
            "/v1/score", json={"request_id": "p-48", "features": _features(artifact)},
            headers=HEADERS,
        )  # fmt: skip
        assert whole.status_code == 200, whole.text
        record = check_receipt(client.get("/v1/decisions/p-48").json()["receipt"]).record
    assert list(record.features) == [int(v) for v in _features(artifact)]  # what was scored
    # re-executing the integer model of record on the logged features reproduces the record
    score, flagged = artifact.policy.model.decide(list(record.features))
    assert record.score == score and record.label == int(flagged)
    assert whole.json()["label"] == record.label


def test_a_batch_names_the_record_with_the_fraction(stored) -> None:
    _, artifact = stored
    serving = ServingModel(artifact)
    rows = [_features(artifact), _features(artifact)]
    rows[1][3] = 7.5
    with pytest.raises(FeatureError) as caught:
        serving.rows(rows, "records")
    assert caught.value.field == ("records", 1, "features")
    assert artifact.feature_names[3] in caught.value.detail


def test_rounding_is_declared_at_training_and_changes_the_identity(tmp_path: Path) -> None:
    dataset = simulate_payments(3000, seed=1).dataset()
    trained = train_model(dataset, "lr", seed=1, resamples=20, input_rounding="nearest")
    artifact, _ = save_model(tmp_path, trained)
    serving = ServingModel(load_model(tmp_path, artifact.model_id))
    row = _features(artifact)
    row[0] = 48.4
    matrix = serving.rows([row], "features")
    assert matrix[0, 0] == 48.0  # the float model sees the rounded value too
    scored = serving.score(matrix)
    assert scored.fixed_features[0].tolist() == [round(v) for v in row]  # logged = scored
    assert scored.logits[0] == artifact.predict_logit(np.array([[48.0, *row[1:]]]))[0]
    assert scored.fixed_scores == [artifact.policy.model.score(scored.fixed_features[0].tolist())]
    exact = train_model(dataset, "lr", seed=1, resamples=20)
    assert exact.policy is not None and trained.policy is not None
    assert exact.policy.to_bytes() != trained.policy.to_bytes()  # another model id
