"""Each attack executed on the EVM raises its alert; the benign stream raises none (2 backends)."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path

import pytest

from chainml.chain import Env
from chainml.chain.accounts import signers_from_mnemonic
from chainml.chain.devnode import AnvilNode
from chainml.chain.rpc import RpcBackend
from chainml.log.record import commit_features
from chainml.monitor.alerts import metadata_hash
from chainml.monitor.rules import RuleSet
from chainml.monitor.scenarios import Scenario, generate, write_csv
from tests.monitor.helpers import ANVIL_MNEMONIC, Seen, follower

EXPECTED = {
    ("approval_phishing", "approve"): "approval_to_fresh_contract",
    ("approval_phishing", "sweep"): "third_party_sweep",
    ("rug_pull", "dump"): "mint_and_dump",
    ("reentrancy", "drain"): "reentrant_withdrawal",
}


@pytest.fixture(
    scope="module", params=["embedded", pytest.param("anvil", marks=pytest.mark.integration)]
)
def scored(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Scenario, Seen, Env]]:
    """A seeded scenario (three attacks among 30 benign steps), followed from its first block."""
    if request.param == "embedded":
        env: Env = request.getfixturevalue("embedded_env")
    else:
        node: AnvilNode = request.getfixturevalue("anvil_node")
        env = Env(RpcBackend(node.url), signers_from_mnemonic(ANVIL_MNEMONIC))
    with env.snapshot():
        start = env.backend.block().number + 1
        scenario = generate(env, seed=7, benign=30)
        f, seen = follower(env, tmp_path_factory.mktemp("log"), start)
        stats = f.step()
        assert stats.transactions == len(scenario.labels)
        assert f.sink is not None
        yield scenario, seen, env, f.sink.log


def test_each_attack_raises_its_alert(scored) -> None:
    scenario, seen, _, _ = scored
    raised = set(seen.alerts)
    malicious = [label for label in scenario.labels if label.malicious]
    assert len(malicious) == 6  # three phishing approvals, the sweep, the dump, the drain
    for label in malicious:
        assert (label.tx_hash, EXPECTED[(label.scenario, label.step)]) in raised, label


def test_no_alert_on_the_benign_stream(scored) -> None:
    scenario, seen, _, _ = scored
    labels = scenario.by_hash()
    benign = [label for label in scenario.labels if not label.malicious]
    assert len(benign) > 40
    assert all(labels[tx].malicious for tx, _ in seen.alerts)


def test_alert_records_commit_to_the_features_and_the_transaction(scored) -> None:
    _, seen, env, log = scored
    alerts = [m for m in seen.messages if m["type"] == "alert"]
    assert len(alerts) == len(seen.alerts) == log.head().size
    for message in alerts:
        record = log.record(message["log_index"])
        tx_hash = bytes.fromhex(message["metadata"]["tx_hash"][2:])
        assert message["metadata"]["chain_id"] == env.chain_id
        assert record.model_id == RuleSet().model_id
        assert record.input_commitment == commit_features(seen.features[tx_hash].vector())
        assert record.metadata_hash == metadata_hash(message["metadata"])
        assert (record.score, record.label) == (message["score"], message["label"])


def test_labelled_csv_export(scored, tmp_path: Path) -> None:
    scenario, seen, _, _ = scored
    path = tmp_path / "labels.csv"
    assert write_csv(path, scenario, seen.features) == len(scenario.labels)
    rows = list(csv.DictReader(path.open()))
    assert {r["scenario"] for r in rows} == {
        "benign",
        "approval_phishing",
        "rug_pull",
        "reentrancy",
    }
    assert sum(int(r["malicious"]) for r in rows) == 6
    assert all(r["value"] != "" for r in rows)  # every labelled transaction was scored


def test_generation_is_seeded(tmp_path: Path) -> None:
    from chainml.chain.embedded import EmbeddedBackend

    steps = []
    for run in range(2):
        backend = EmbeddedBackend(tmp_path / f"chain{run}")
        with Env(backend, backend.signers, data_dir=backend.data_dir) as env:
            scenario = generate(env, seed=3, benign=8, attacks=["approval_phishing"])
            steps.append([(label.scenario, label.step) for label in scenario.labels])
    assert steps[0] == steps[1]
