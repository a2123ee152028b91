"""The coordinator aggregates only updates the chain backs (real Flower strategy, no Ray)."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest

pytest.importorskip("flwr")

from flwr.common import Code, FitRes, Status, ndarrays_to_parameters

from chainml.chain import Env
from chainml.fl.coordinator import RoundRecorder
from chainml.fl.flower_apps import ChainStrategy, make_strategy
from chainml.fl.params import update_hash
from chainml.fl.rounds import FederatedRounds


@pytest.fixture
def chain(embedded_env: Env) -> Iterator[Env]:
    with embedded_env.snapshot():
        yield embedded_env


def _fit_res(weights: list[np.ndarray], account: str, claimed: str, samples: int) -> FitRes:
    return FitRes(
        status=Status(Code.OK, ""), parameters=ndarrays_to_parameters(weights),
        num_examples=samples, metrics={"account": account, "update_hash": claimed},
    )  # fmt: skip


def test_updates_without_a_matching_commitment_are_left_out(chain: Env) -> None:
    owner, a, b, c = chain.accounts[:4]
    rounds = FederatedRounds.deploy(chain, governor=owner, coordinator=owner, max_rounds=2)
    for account in (a, b, c):
        rounds.admit(account)
    initial = [np.zeros(3), np.zeros(1)]
    recorder = RoundRecorder(
        rounds, kind="lr", feature_names=("x", "y", "z"), mean=np.zeros(3), scale=np.ones(3),
        coordinator=owner, commit_wait=0.2,
    )  # fmt: skip
    strategy = ChainStrategy(make_strategy("fedavg", 3, initial), recorder, secagg=False)
    strategy.initialize_parameters(None)

    honest = [np.array([1.0, 2.0, 3.0]), np.array([0.5])]
    swapped = [np.array([9.0, 9.0, 9.0]), np.array([9.0])]
    rounds.commit_update(1, update_hash(honest), 10, sender=a)
    rounds.commit_update(1, update_hash(honest), 10, sender=b)  # commits one, sends another
    results = [
        (None, _fit_res(honest, a, update_hash(honest), 10)),
        (None, _fit_res(swapped, b, update_hash(honest), 10)),
        (None, _fit_res(swapped, c, update_hash(swapped), 10)),  # never committed
    ]
    parameters, _ = strategy.aggregate_fit(1, results, [])

    assert parameters is not None
    assert strategy.final is not None
    np.testing.assert_array_equal(strategy.final[0], honest[0])  # only a's update merged
    entry = recorder.log[-1]
    assert entry.accepted == [a]
    assert "do not hash" in entry.rejected[b]
    assert "no commitment" in entry.rejected[c]
    record = rounds.record()
    assert record.global_hashes == [recorder.log[0].global_hash, entry.global_hash]
    assert entry.global_hash == recorder.hash_of(honest)
