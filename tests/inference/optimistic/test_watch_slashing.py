"""The watchtower against a bonded ChallengeableLog: a dishonest operator is slashed on chain,
an honest one never is."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from chainml.chain import Env, Log, LogFilter
from chainml.inference.optimistic import HeadState, head_states
from chainml.inference.optimistic.watch_chain import BindingStatus, ChallengeableHeads
from chainml.inference.optimistic.watch_scoring import BatchScorer
from chainml.inference.optimistic.watch_setup import contract_challenger
from chainml.inference.optimistic.watch_sources import LogDirSource
from chainml.inference.optimistic.watch_verify import Judge
from chainml.inference.optimistic.watchtower import Watchtower
from chainml.log.record import DecisionRecord
from chainml.service.encoding import PreparedRecords
from tests.inference.optimistic.conftest import World, build_world, model_id
from tests.inference.optimistic.test_watchtower import write_log
from tests.inference.optimistic.watch_helpers import NOW_MS, score_of, set_word


def honest(world: World, first: int, count: int, seed: int = 0) -> list[bytes]:
    """``count`` honest records of the world's model, leaves ``first`` onwards."""
    rng = np.random.default_rng(seed + first)
    features = rng.integers(-1000, 1001, (count, world.model.n_features)).astype(np.int64)
    weights = np.array(world.model.weights, dtype=np.int64)
    scores = [world.model.bias + int(v) for v in features @ weights]
    labels = [int(s >= world.model.threshold) for s in scores]
    ids = [(first + i).to_bytes(32, "big") for i in range(count)]
    prepared = PreparedRecords(world.model_id, features, scores, labels, ids, [bytes(32)] * count)
    return [data for data, _ in prepared.leaves(first, NOW_MS)]


def watch(world: World, leaves: list[bytes], tmp_path: Path) -> Watchtower:
    """Anchor ``leaves`` as one head; a watchtower over the log, challenging as account 1."""
    world.leaves = leaves
    world.anchor()
    heads = ChallengeableHeads(world.env, world.log.address)
    judge = Judge(
        BindingStatus(world.env, heads.registry(), heads.use_tag()),
        {world.model_id: BatchScorer(world.model)}.get,
    )
    challenger = world.env.accounts[1]
    return Watchtower(
        heads,
        LogDirSource(write_log(tmp_path / "operator", leaves)),
        judge,
        tmp_path / "watch.json",
        chain_id=world.env.chain_id,
        log=world.log.address,
        challenger=contract_challenger(world.env, world.log.address, challenger),
    )


def test_an_honest_operator_is_never_challenged(env: Env, tmp_path: Path) -> None:
    world = build_world(env)
    bond = int(world.log.bond())
    report = watch(world, honest(world, 0, 500), tmp_path).run_once()
    assert (report.exit_code, report.verified, report.faults) == (0, 500, [])
    assert [h.state for h in head_states(env, world.log.address)] == [HeadState.OPEN]
    assert int(world.log.bond()) == bond and not world.log.halted()


def test_one_wrong_score_in_100_000_is_slashed(embedded_env: Env, tmp_path: Path) -> None:
    with embedded_env.snapshot():
        world = build_world(embedded_env)
        leaves = honest(world, 0, 100_000)
        leaves[88_888] = set_word(leaves[88_888], 7, score_of(leaves[88_888]) + 3)
        bond = int(world.log.bond())
        report = watch(world, leaves, tmp_path).run_once()
        assert report.exit_code == 3 and report.fault_count == 1
        (fault,) = report.faults
        assert (fault["index"], fault["kind"]) == (88_888, "score")
        challenge = fault["challenge"]
        assert challenge["submitted"] and challenge["reason"] == "wrong_score"
        assert challenge["reward_wei"] == bond and int(world.log.bond()) == 0
        assert challenge["challenger"] == embedded_env.accounts[1]
        assert [h.state for h in head_states(embedded_env, world.log.address)] == [HeadState.FAULTY]
        assert world.log.halted()


def retired_model(world: World, leaves: list[bytes]) -> str:
    other = model_id(2)
    world.register(other, world.deploy_model(world.model, other))
    world.approve(other, use="other-use")
    world.retire(other)
    record = DecisionRecord.decode(leaves[40])
    leaves[40] = set_word(leaves[40], 4, int.from_bytes(other, "big", signed=True))
    assert DecisionRecord.decode(leaves[40]).model_id == other != record.model_id
    return "unapproved-model"


def broken_commitment(world: World, leaves: list[bytes]) -> str:
    features = DecisionRecord.decode(leaves[40]).features
    leaves[40] = set_word(leaves[40], 12, features[0] + 1)
    return "commitment"


@pytest.mark.parametrize("cheat", [retired_model, broken_commitment])
def test_other_cheats_are_slashed(env: Env, tmp_path: Path, cheat: object) -> None:
    world = build_world(env)
    leaves = honest(world, 0, 100)
    kind = cheat(world, leaves)  # type: ignore[operator]
    report = watch(world, leaves, tmp_path).run_once()
    (fault,) = report.faults
    assert (fault["index"], fault["kind"]) == (40, kind)
    reason = {"unapproved-model": "not_approved", "commitment": "bad_commitment"}[kind]
    assert fault["challenge"]["submitted"] and fault["challenge"]["reason"] == reason
    assert world.log.halted()


def test_challengeable_heads_read_events_from_the_block_asked(
    embedded_env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    with embedded_env.snapshot():
        world = build_world(embedded_env)
        leaves = honest(world, 0, 200)
        world.leaves = leaves[:100]
        world.anchor()
        first = embedded_env.block_number
        embedded_env.mine(10)
        world.leaves = leaves
        world.anchor()
        starts: list[int] = []
        real_logs = embedded_env.logs

        def logs(log_filter: LogFilter) -> list[Log]:
            if world.log.address in log_filter.addresses:
                starts.append(log_filter.from_block)
            return real_logs(log_filter)

        monkeypatch.setattr(embedded_env, "logs", logs)
        heads = ChallengeableHeads(embedded_env, world.log.address)
        assert [h.size for h in heads.heads()] == [100, 200] and starts == [0]
        assert [h.size for h in heads.heads(from_block=first + 1)] == [200]
        assert [h.size for h in heads.heads(100, from_block=first)] == [200]
        assert starts == [0, first + 1, first]
