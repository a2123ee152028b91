"""card.md shows a federated model's ``federation`` section; other cards render as before."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest

from chainml.fl.federation import load_federation
from chainml.fl.outcome import card_section, privacy_record
from chainml.fl.run import FederationResult, RunOptions, _privacy
from chainml.models import card as cards
from chainml.models.artifacts import save_model
from chainml.models.split import time_split
from chainml.models.train import TrainedModel, train_model
from tests.models.synthetic import synthetic_dataset

CONTRACT = "0x" + "ab" * 20
ACCOUNTS = ["0x" + f"{i:02x}" * 20 for i in (1, 2, 3)]
HASHES = ["0x" + f"{i:02x}" * 32 for i in (10, 11, 12)]


def _section(tmp_path: Path) -> dict[str, Any]:
    from chainml.fl import init_federation

    data_dir = tmp_path / "fed"
    data_dir.mkdir()
    init_federation(data_dir, task="h", data="breast_cancer", clients=3, partition_spec="iid")
    options = RunOptions(rounds=2, dp_epsilon=3.0)
    privacy, spent = _privacy(options)
    record = {
        "rounds": [{"global_hash": h} for h in HASHES],
        "privacy": privacy_record(options, privacy, spent),
        "chain": {
            "chain_id": 1337,
            "contract": CONTRACT,
            "deploy_block": 7,
            "governor": ACCOUNTS[0],
            "coordinator": ACCOUNTS[0],
            "participants": ACCOUNTS,
        },
    }
    result = FederationResult(load_federation(data_dir, "h"), options, [], record)
    return card_section(result)


@pytest.fixture(scope="module")
def trained() -> TrainedModel:
    dataset = synthetic_dataset()
    return train_model(dataset, "lr", seed=1, resamples=50, split=time_split(dataset))


def test_card_md_states_the_federation_and_other_cards_do_not(
    trained: TrainedModel, tmp_path: Path
) -> None:
    section = _section(tmp_path)
    plain, _ = save_model(tmp_path / "a", trained, dataset_spec="synthetic")
    fed, _ = save_model(
        tmp_path / "b", trained, dataset_spec="synthetic", card_extra={"federation": section}
    )
    plain_md = (plain.path / "card.md").read_text()
    fed_md = (fed.path / "card.md").read_text()
    assert "Federation" not in plain_md
    assert fed_md.startswith(plain_md)  # the section is appended, nothing else moves
    added = fed_md[len(plain_md) :]
    assert "## Federation" in added
    assert CONTRACT in added and "chain id 1337" in added
    assert "2 rounds" in added and "3 participants" in added
    eps, delta = section["privacy"]["epsilon"], section["privacy"]["delta"]
    assert f"ε = {eps:.3g}" in added and f"δ = {delta:.3g}" in added
    assert all(a in added for a in ACCOUNTS) and all(h in added for h in HASHES)
    # card.md is not hashed: the card hash is still SHA-256 of card.json, and the model id is
    # the same model's with or without the section
    card_json = (fed.path / "card.json").read_bytes()
    assert cards.card_hash(card_json) == "0x" + hashlib.sha256(card_json).hexdigest()
    assert fed.model_id == plain.model_id


def test_an_off_chain_federation_without_dp_says_so(trained: TrainedModel, tmp_path: Path) -> None:
    section = _section(tmp_path) | {
        "chain": None,
        "privacy": {"differential_privacy": False, "secure_aggregation": True},
    }
    fed, _ = save_model(
        tmp_path / "c", trained, dataset_spec="synthetic", card_extra={"federation": section}
    )
    text = (fed.path / "card.md").read_text()
    assert "no differential privacy; SecAgg+" in text
    assert "Off chain" in text and CONTRACT not in text
