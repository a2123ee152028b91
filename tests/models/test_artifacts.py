"""Stored models: deterministic ids, ONNX parity, exact parameter files, tamper detection."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import onnx
import pytest

from chainml.errors import InvalidInputError, NotFoundError, VerificationError
from chainml.models import artifacts, card, export, native
from chainml.models.artifacts import ModelArtifact, list_models, load_model, save_model
from chainml.models.evaluate import evaluate_model, reverify_onnx
from chainml.models.split import time_split
from chainml.models.train import TrainedModel, train_model
from tests.models.synthetic import synthetic_dataset

FAST = {
    "lr": {},
    "mlp": {"max_epochs": 20, "learning_rate": 0.01},
    "lgbm": {"preset": "compact", "n_estimators": 30},
}
DATASET = synthetic_dataset()
SPLIT = time_split(DATASET)


def _train(kind: str, seed: int = 1) -> TrainedModel:
    return train_model(DATASET, kind, seed=seed, params=dict(FAST[kind]), resamples=50, split=SPLIT)


@pytest.fixture(scope="module")
def stored(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, ModelArtifact]]:
    data_dir = tmp_path_factory.mktemp("models") / "data"
    out = {}
    for kind in FAST:
        artifact, new = save_model(data_dir, _train(kind), dataset_spec="synthetic")
        assert new
        out[kind] = (data_dir, artifact)
    return out


@pytest.mark.parametrize("kind", list(FAST))
def test_retraining_with_the_same_seed_gives_the_same_model_id(kind: str) -> None:
    runs = [_train(kind) for _ in range(2)]
    first, second = (export.build_onnx(*_onnx_inputs(t)) for t in runs)
    assert first == second
    policies = [t.policy.to_bytes() for t in runs if t.policy is not None]
    assert len(policies) == 2 and policies[0] == policies[1]
    model_id = export.model_id(first, policies[0])
    assert model_id.startswith("0x") and len(model_id) == 66
    model = onnx.load_from_string(first)
    assert (model.producer_name, model.producer_version) == ("chainml", "onnx/1")


def _onnx_inputs(trained: TrainedModel) -> tuple[dict, object]:
    estimator = trained.estimator
    params = json.loads(estimator.native_files()["params.json"])
    return params, getattr(estimator, "booster_", None)


def test_another_seed_gives_another_id() -> None:
    runs = [_train("mlp", seed) for seed in (1, 2)]
    ids = {export.model_id(export.build_onnx(*_onnx_inputs(t)), t.policy.to_bytes()) for t in runs}  # type: ignore[union-attr]
    assert len(ids) == 2


@pytest.mark.parametrize("kind", list(FAST))
def test_stored_model_matches_its_onnx_and_its_files(kind: str, stored) -> None:
    data_dir, artifact = stored[kind]
    files = sorted(p.name for p in artifact.path.iterdir())
    expected = ["card.json", "card.md", "model.onnx", "params.json", "policy.json", "pr_curve.png"]
    assert files == sorted(expected + (["booster.txt"] if kind == "lgbm" else []))
    assert artifact.path == data_dir / "models" / artifact.model_id
    x = SPLIT.test.features
    onnx_p = export.onnx_probabilities(artifact.onnx_bytes, x)
    assert np.abs(onnx_p - artifact.predict_proba(x)).max() < 1e-5
    assert reverify_onnx(artifact)["max_abs_diff_probability"] < 1e-5
    document = artifact.card
    params_bytes = (artifact.path / "params.json").read_bytes()
    assert document["artifact_hash"] == "0x" + hashlib.sha256(params_bytes).hexdigest()
    card_bytes = (artifact.path / "card.json").read_bytes()
    assert artifact.card_hash == card.card_hash(card_bytes) == card.sha256_hex(card_bytes)
    policy_bytes = (artifact.path / "policy.json").read_bytes()
    assert document["model_id"] == artifact.model_id
    assert artifact.model_id == export.model_id(artifact.onnx_bytes, policy_bytes)
    assert document["decision_policy"]["threshold_int"] == artifact.policy.threshold
    assert document["decision_policy"]["proven"] is True
    assert "decision of record" in document["onnx"]["role"]
    assert document["dataset"]["commitment"] == DATASET.commitment()
    assert document["dataset"]["split"]["parts"]["test"]["rows"] == SPLIT.test.rows
    assert document["threshold"]["probability"] == pytest.approx(
        float(native.sigmoid(document["threshold"]["logit"]))
    )
    assert {"numpy", "scikit-learn", "lightgbm", "onnx", "onnxruntime", "python", "chainml"} <= set(
        document["versions"]
    )
    interval = document["metrics"]["test"]["pr_auc_interval"]
    assert interval["low"] <= document["metrics"]["test"]["pr_auc"] <= interval["high"]
    assert artifact.model_id in (artifact.path / "card.md").read_text()
    assert (artifact.path / "pr_curve.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_params_json_formats_are_exact(stored) -> None:
    _, lr = stored["lr"]
    params = json.loads((lr.path / "params.json").read_bytes())
    assert set(params) == {"format", "kind", "feature_names", "mean", "scale", "coef", "intercept"}
    assert params["kind"] == "logistic_regression" and params["format"] == "chainml.params/1"
    _, mlp = stored["mlp"]
    assert set(mlp.params) == {
        "format",
        "kind",
        "feature_names",
        "mean",
        "scale",
        "layers",
        "activations",
    }
    _, lgbm = stored["lgbm"]
    booster = (lgbm.path / "booster.txt").read_bytes()
    assert lgbm.params["booster_sha256"] == hashlib.sha256(booster).hexdigest()
    assert lgbm.params["num_trees"] == 30


def test_the_dense_graphs_are_plain_gemm_relu_sigmoid(stored) -> None:
    ops = {}
    for kind in ("lr", "mlp"):
        graph = onnx.load_from_string(stored[kind][1].onnx_bytes).graph
        ops[kind] = [node.op_type for node in graph.node]
        assert [o.name for o in graph.output] == ["logit", "probability"]
    assert ops == {"lr": ["Gemm", "Sigmoid"], "mlp": ["Gemm", "Relu", "Gemm", "Sigmoid"]}


def test_saving_again_keeps_the_stored_model(stored) -> None:
    data_dir, artifact = stored["lr"]
    before = {p.name: p.read_bytes() for p in artifact.path.iterdir()}
    again, new = save_model(data_dir, _train("lr"))
    assert not new and again.model_id == artifact.model_id
    assert {p.name: p.read_bytes() for p in artifact.path.iterdir()} == before


def test_list_models_and_lookup(stored) -> None:
    data_dir, artifact = stored["lr"]
    (data_dir / "models" / ".tmp-0xdead-leftover").mkdir()
    listed = {m.model_id: m for m in list_models(data_dir)}
    assert set(listed) == {a.model_id for _, a in stored.values()}
    assert listed[artifact.model_id].kind == "logistic_regression"
    assert load_model(data_dir, artifact.model_id[:12]).model_id == artifact.model_id
    with pytest.raises(NotFoundError, match="no model"):
        load_model(data_dir, "0x" + "0" * 64)
    with pytest.raises(InvalidInputError, match="not a model id"):
        load_model(data_dir, "model-7")
    with pytest.raises(InvalidInputError, match="takes 6 features"):
        artifact.predict_logit(np.zeros((2, 5)))
    assert list_models(data_dir / "nowhere") == []


def _copy(stored, kind: str, tmp_path: Path) -> tuple[Path, str]:
    _, artifact = stored[kind]
    target = tmp_path / "data" / "models" / artifact.model_id
    target.mkdir(parents=True)
    for item in artifact.path.iterdir():
        (target / item.name).write_bytes(item.read_bytes())
    return tmp_path / "data", artifact.model_id


def _flip(path: Path, offset: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x01
    path.write_bytes(bytes(data))


@pytest.mark.parametrize(
    ("kind", "name", "offset"),
    [("lr", "model.onnx", 40), ("mlp", "params.json", 30), ("lgbm", "booster.txt", 200),
     ("lgbm", "model.onnx", -3)],
)  # fmt: skip
def test_a_flipped_byte_is_caught_and_named(
    stored, tmp_path: Path, kind: str, name: str, offset: int
) -> None:
    data_dir, model_id = _copy(stored, kind, tmp_path)
    load_model(data_dir, model_id)  # the copy verifies
    path = data_dir / "models" / model_id / name
    _flip(path, offset if offset >= 0 else path.stat().st_size + offset)
    with pytest.raises(VerificationError, match=name.replace(".", r"\.")):
        load_model(data_dir, model_id)


def test_card_tampering_is_caught(stored, tmp_path: Path) -> None:
    data_dir, model_id = _copy(stored, "lr", tmp_path)
    original = load_model(data_dir, model_id)
    load_model(data_dir, model_id, expected_card_hash=original.card_hash)
    path = data_dir / "models" / model_id / "card.json"
    document = json.loads(path.read_bytes())
    document["metrics"]["test"]["pr_auc"] = 0.99
    path.write_bytes(card.card_bytes(document))
    with pytest.raises(VerificationError, match=r"card\.json: card hash"):
        load_model(data_dir, model_id, expected_card_hash=original.card_hash)
    document["artifact_hash"] = "0x" + "1" * 64
    path.write_bytes(card.card_bytes(document))
    with pytest.raises(VerificationError, match=r"params\.json: artifact hash"):
        load_model(data_dir, model_id)


def test_nothing_is_half_written_when_a_step_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data_dir = tmp_path / "data"
    trained = _train("lr")
    with pytest.raises(VerificationError, match="disagree"):
        save_model(data_dir, trained, tolerance=-1.0)  # the ONNX check fails first
    assert not (data_dir / "models").exists() or not list((data_dir / "models").iterdir())

    def broken(*args: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(artifacts, "save_pr_curve", broken)
    with pytest.raises(OSError, match="disk full"):
        save_model(data_dir, trained)
    assert list((data_dir / "models").iterdir()) == []


def test_evaluate_reproduces_the_card_and_checks_features(stored) -> None:
    _, artifact = stored["lgbm"]
    same = evaluate_model(artifact, DATASET, resamples=50, seed=1)
    assert same["rows_used"] == "test split of the training data"
    assert same["metrics"] == artifact.card["metrics"]["test"]
    other = synthetic_dataset(rows=2000, seed=9)
    fresh = evaluate_model(artifact, other, resamples=50)
    assert fresh["rows_used"] == "all rows" and fresh["metrics"]["rows"] == 2000
    narrow = synthetic_dataset(rows=2000, features=5)
    with pytest.raises(InvalidInputError, match="5 features, the model takes 6"):
        evaluate_model(artifact, narrow)


def test_retraining_with_another_rule_is_another_model(stored) -> None:
    """Issue 22: the same ONNX graph under another threshold rule must not return the old model."""
    data_dir, artifact = stored["lr"]
    trained = train_model(
        DATASET, "lr", seed=1, params={}, resamples=50, split=SPLIT, threshold_rule="fpr:0.01"
    )
    other, new = save_model(data_dir, trained)
    assert new and other.model_id != artifact.model_id
    assert other.onnx_bytes == artifact.onnx_bytes  # same float graph ...
    assert other.card["threshold"]["rule"] == "fpr:0.01"  # ... another decision policy
    assert other.policy.threshold != artifact.policy.threshold
    assert load_model(data_dir, artifact.model_id).card["threshold"]["rule"] == "f1"


def test_a_model_stored_without_a_policy_is_refused_clearly(stored, tmp_path: Path) -> None:
    import shutil

    from chainml.errors import DataDirectoryError

    _, artifact = stored["lr"]
    old = tmp_path / "models" / artifact.model_id
    shutil.copytree(artifact.path, old)
    (old / "policy.json").unlink()  # what chainml.card/1 stored
    with pytest.raises(DataDirectoryError, match=r"older chainml.*retrain"):
        load_model(tmp_path, artifact.model_id)


def test_a_tampered_policy_is_detected(stored, tmp_path: Path) -> None:
    import shutil

    _, artifact = stored["lr"]
    copy = tmp_path / "models" / artifact.model_id
    shutil.copytree(artifact.path, copy)
    policy = (copy / "policy.json").read_bytes()
    threshold = str(artifact.policy.threshold).encode()
    lowered = str(artifact.policy.threshold - 1).encode()
    (copy / "policy.json").write_bytes(policy.replace(threshold, lowered))
    with pytest.raises(VerificationError, match="not the model id"):
        load_model(tmp_path, artifact.model_id)
