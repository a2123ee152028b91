"""A participant is built once per run in a worker, and its background commitments land."""

from __future__ import annotations

import pickle
import time
from pathlib import Path

import numpy as np
import pytest

from chainml.chain import connect, embedded
from chainml.config import load_settings
from chainml.errors import ChainMLError
from chainml.fl import init_federation
from chainml.fl.federation import load_federation
from chainml.fl.participant import ChainAccess, Committer
from chainml.fl.rounds import FederatedRounds
from chainml.fl.run import ParticipantFactory, RunOptions


def test_a_participant_survives_the_factory_being_unpickled_every_round(tmp_path: Path) -> None:
    init_federation(tmp_path, task="h", data="breast_cancer", clients=2, partition_spec="iid")
    federation = load_federation(tmp_path, "h")
    width = 30
    factory = ParticipantFactory(
        federation=federation, options=RunOptions(), mean=np.zeros(width),
        scale=np.ones(width), privacy=None, access=[],
    )  # fmt: skip
    # Flower hands each round a fresh copy of the client app (as Ray does, by pickling)
    copies = [pickle.loads(pickle.dumps(factory)) for _ in range(2)]  # both alive: distinct ids
    round_1, round_2 = copies[0](0), copies[1](0)
    assert round_1 is round_2  # the same participant: one random stream, one connection
    other_run = ParticipantFactory(
        federation=federation, options=RunOptions(), mean=np.zeros(width),
        scale=np.ones(width), privacy=None, access=[],
    )  # fmt: skip
    assert other_run(0) is not round_1  # another run starts afresh


def test_dp_noise_is_fresh_every_round_and_the_same_in_any_worker(tmp_path: Path) -> None:
    from chainml.fl.participant import Participant
    from chainml.fl.privacy import PrivacySettings

    init_federation(tmp_path, task="h", data="breast_cancer", clients=2, partition_spec="iid")
    federation = load_federation(tmp_path, "h")

    def participant() -> Participant:
        return Participant(
            index=0, kind="lr", data_file=federation.participant_file(0), mean=np.zeros(30),
            scale=np.ones(30), training=RunOptions().training,
            privacy=PrivacySettings(1.0, 5.0, 1e-5),
        )  # fmt: skip

    start = [np.zeros(30), np.zeros(1)]
    one, other_worker = participant(), participant()
    round_1, _ = one.fit(start, 1)
    round_2, _ = one.fit(start, 2)
    again, _ = other_worker.fit(start, 1)
    assert not np.allclose(round_1[0], round_2[0])  # same start, another round: other noise
    np.testing.assert_array_equal(round_1[0], again[0])  # deterministic per (index, round)
    fresh, _ = participant().fit(start, 2)  # a worker that did not run round 1
    np.testing.assert_array_equal(fresh[0], round_2[0])


def test_background_commitments_land_in_order_and_a_failed_send_is_raised(
    tmp_path: Path,
) -> None:
    settings = load_settings().with_overrides(data_dir=tmp_path)
    env = connect(settings)
    committers: list[Committer] = []
    try:
        owner, account = env.accounts[0], env.accounts[1]
        rounds = FederatedRounds.deploy(env, governor=owner, coordinator=owner, max_rounds=3)
        rounds.admit(account)
        rounds.commit_global(0, "0x" + "11" * 32)
        committer = Committer(ChainAccess(str(tmp_path), None, rounds.address, account))
        committers.append(committer)
        committer.commit_in_background(1, "0x" + "22" * 32, 7)
        found = rounds.wait_for_updates(1, {account}, timeout=30.0)
        assert "0x" + bytes(found[account.lower()]["update_hash"]).hex() == "0x" + "22" * 32

        # a commitment that cannot be sent (no FederatedRounds at that address) leaves none,
        # and the participant's next commitment raises the error
        broken = Committer(ChainAccess(str(tmp_path), None, "0x" + "00" * 19 + "01", account))
        committers.append(broken)
        broken.commit_in_background(1, "0x" + "33" * 32, 7)
        deadline = time.monotonic() + 30
        while broken._pending is not None and not broken._pending.done():
            assert time.monotonic() < deadline
            time.sleep(0.01)
        with pytest.raises(ChainMLError):
            broken.commit_in_background(2, "0x" + "44" * 32, 7)
    finally:
        for each in committers:
            each.close()
        env.close()
    assert not embedded._SHARED  # the committers' connections are closed, not leaked
