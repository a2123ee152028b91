"""End to end: 3 hospitals, 2 rounds of FedAvg in Flower's simulation engine, on chain.

One federation run (Ray, ~30-60 s on a busy machine) serves every test in this module:
the stored model and its card, the chain record, and ``fl audit`` passing on the real
artifacts and failing on a swapped model file or a different model.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

pytest.importorskip("flwr")
pytest.importorskip("ray")

from chainml.chain import connect
from chainml.config import load_settings
from chainml.fl import (
    FederationResult,
    RunOptions,
    audit_federation,
    init_federation,
    run_federation,
)
from chainml.models.artifacts import models_dir

pytestmark = pytest.mark.timeout(600)


@pytest.fixture(scope="module")
def federation(tmp_path_factory: pytest.TempPathFactory) -> FederationResult:
    data_dir = tmp_path_factory.mktemp("fl") / "data"
    data_dir.mkdir()
    init_federation(
        data_dir, task="hospitals", data="breast_cancer", clients=3, partition_spec="iid"
    )
    return run_federation(data_dir, "hospitals", RunOptions(rounds=2, resamples=50))


def _data_dir(result: FederationResult) -> Path:
    return result.federation.path.parent.parent


def test_the_federated_model_is_good_and_carded(federation: FederationResult) -> None:
    assert federation.test_metrics["at_threshold"]["f1"] > 0.85
    assert federation.artifact is not None
    card = federation.artifact.card
    section = card["federation"]
    assert section["rounds"] == 2
    assert len(section["participants"]) == 3
    assert section["chain"]["contract"] == federation.record["chain"]["contract"]
    assert section["global_hashes"][-1] == card["artifact_hash"]  # final round = this model
    assert section["privacy"]["differential_privacy"] is False
    assert card["kind"] == "logistic_regression"  # the same kind as a centrally trained one


def test_every_round_is_on_chain_with_each_participants_commitment(
    federation: FederationResult,
) -> None:
    rounds = federation.record["rounds"]
    assert [r["round"] for r in rounds] == [0, 1, 2]
    for entry in rounds[1:]:
        assert len(entry["accepted"]) == 3 and entry["rejected"] == {}
        assert 30_000 < min(entry["update_gas"]) <= max(entry["update_gas"]) <= 60_000


def _audit(result: FederationResult, model_id: str, contract: str | None = None) -> dict:
    data_dir = _data_dir(result)
    with connect(load_settings().with_overrides(data_dir=data_dir)) as env:
        return audit_federation(env, data_dir, model_id, contract=contract).to_dict()


def test_audit_passes_on_the_real_artifacts(federation: FederationResult) -> None:
    assert federation.artifact is not None
    report = _audit(federation, federation.artifact.model_id,
                    federation.record["chain"]["contract"])  # fmt: skip
    assert report["ok"], report
    assert report["contract_source"] == "given"
    assert {c["name"] for c in report["checks"]} >= {
        "contract code", "model files", "final model", "global hashes", "participants",
        "round 1 updates", "round 2 updates",
    }  # fmt: skip


def test_audit_catches_a_swapped_model_file(federation: FederationResult, tmp_path: Path) -> None:
    assert federation.artifact is not None
    model_id = federation.artifact.model_id
    params = models_dir(_data_dir(federation)) / model_id / "params.json"
    original = params.read_bytes()
    document = json.loads(original)
    document["coef"][0] += 0.5  # a different model file in its place
    try:
        params.write_bytes(json.dumps(document).encode())
        report = _audit(federation, model_id, federation.record["chain"]["contract"])
    finally:
        params.write_bytes(original)
    failed = {c["name"] for c in report["checks"] if not c["ok"]}
    assert not report["ok"]
    assert {"model files", "final model"} <= failed


def test_audit_refuses_a_model_the_federation_did_not_produce(
    federation: FederationResult,
) -> None:
    from chainml.fl.data import load_task_dataset
    from chainml.models.artifacts import save_model
    from chainml.models.train import train_model

    data_dir = _data_dir(federation)
    trained = train_model(load_task_dataset("breast_cancer", data_dir), "lr", resamples=20)
    other, _ = save_model(data_dir, trained)
    card = models_dir(data_dir) / other.model_id / "card.json"
    assert other.model_id != federation.record["model_id"]
    report = _audit(federation, other.model_id, federation.record["chain"]["contract"])
    assert not report["ok"]
    assert "final model" in {c["name"] for c in report["checks"] if not c["ok"]}
    shutil.rmtree(card.parent)


def test_audit_against_another_record_fails(federation: FederationResult) -> None:
    from chainml.fl.rounds import FederatedRounds

    assert federation.artifact is not None
    data_dir = _data_dir(federation)
    with connect(load_settings().with_overrides(data_dir=data_dir)) as env:
        owner = env.accounts[0]
        other = FederatedRounds.deploy(env, governor=owner, coordinator=owner, max_rounds=2)
        other.commit_global(0, "0x" + "ab" * 32)
        report = audit_federation(
            env, data_dir, federation.artifact.model_id, contract=other.address
        ).to_dict()
    failed = {c["name"] for c in report["checks"] if not c["ok"]}
    assert not report["ok"]
    assert {"final model", "card contract", "rounds", "global hashes"} <= failed
