"""The model lifecycle end to end through the Python API, as the README's example runs it.

A generated CSV becomes a dataset, a trained and stored model, a registry entry on the embedded
chain, logged decisions, an anchored head and a receipt that verifies against the log the
verifier pinned — and fails closed for a flipped bit or a log nobody pinned.
"""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pytest

import chainml
from chainml.chain import Env
from chainml.governance.registry import ModelStatus


def write_csv(path: Path, rows: int = 1200, seed: int = 0) -> None:
    """A labelled CSV: two real-valued features, one integral, a label that depends on them."""
    rng = np.random.default_rng(seed)
    amount = rng.gamma(2.0, 50.0, rows)
    age = rng.integers(18, 80, rows)
    ratio = rng.normal(0.0, 1.0, rows)
    logit = 0.02 * (amount - 100) - 0.05 * (age - 45) + 1.5 * ratio - 1.0
    label = (rng.random(rows) < 1 / (1 + np.exp(-logit))).astype(int)
    lines = ["amount,age,ratio,label"]
    columns = zip(amount, age, ratio, label, strict=True)
    lines += [f"{a:.2f},{g},{r:.4f},{y}" for a, g, r, y in columns]
    path.write_text("\n".join(lines) + "\n")


def test_csv_to_verified_receipt(tmp_path: Path, embedded_env: Env) -> None:
    data_dir = tmp_path / "data"
    csv = tmp_path / "loans.csv"
    write_csv(csv)

    dataset = chainml.Dataset.from_csv(csv, target="label", data_dir=data_dir)
    assert (dataset.rows, dataset.feature_names) == (1200, ("amount", "age", "ratio"))
    model = chainml.Model.train(dataset, "lr", resamples=50)
    assert model.new
    assert chainml.Model.load(model.model_id[:12], data_dir=data_dir).model_id == model.model_id
    assert model.card["dataset"]["commitment"] == dataset.commitment()
    # the card's test metrics are reproduced by evaluating again from the recorded spec
    evaluated = model.evaluate(resamples=50)
    assert evaluated["rows_used"] == "test split of the training data"
    assert evaluated["metrics"]["pr_auc"] == model.card["metrics"]["test"]["pr_auc"]
    proba = model.predict_proba(dataset.X[:5])
    assert proba.shape == (5, 2) and np.allclose(proba.sum(axis=1), 1.0)

    with embedded_env.snapshot():
        registration = model.register(embedded_env)
        assert registration.new and registration.entry.status == ModelStatus.REGISTERED
        assert registration.entry.card_hash == model.artifact.card_hash
        assert not model.register(embedded_env).new  # the second time: already there

        with chainml.DecisionLog(data_dir, durability="normal") as log:
            names = dataset.feature_names
            rows = [dict(zip(names, map(float, row), strict=True)) for row in dataset.X[:20]]
            records = log.append(model, rows, request_ids=[f"loan-{i}" for i in range(20)])
            # what was logged is what the model decides on those rows
            assert [r.label for r in records] == model.predict(dataset.X[:20]).tolist()
            assert log.anchor(embedded_env) is not None
            receipt = log.prove(request_id="loan-7")
            trusted = log.trust_root(embedded_env)

        check = chainml.verify_receipt(receipt, trusted_logs=[trusted], env=embedded_env)
        assert check.verified and check.leaf_index == 7
        assert check.record.model_id.hex() == model.model_id[2:]

        flipped = copy.deepcopy(receipt)
        data = bytearray.fromhex(flipped["leaf_data"][2:])
        data[-1] ^= 0x01  # one bit of the last feature
        flipped["leaf_data"] = "0x" + data.hex()
        with pytest.raises(chainml.VerificationError):
            chainml.verify_receipt(flipped, trusted_logs=[trusted], env=embedded_env)
        with pytest.raises(chainml.VerificationError, match="you trust no log"):
            chainml.verify_receipt(receipt, trusted_logs=[], env=embedded_env)
