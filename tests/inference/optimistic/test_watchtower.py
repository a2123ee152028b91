"""The watchtower over a real log contract: honest logs pass, cheats are caught, withholding is
reported, and a restart resumes at the next head."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from chainml.chain import Env, Log, LogFilter
from chainml.inference.optimistic.watch_chain import LogHeads, ModelStatusAt
from chainml.inference.optimistic.watch_checkpoint import REORG_MARGIN, load_state
from chainml.inference.optimistic.watch_scoring import BatchScorer
from chainml.inference.optimistic.watch_sources import LogDirSource
from chainml.inference.optimistic.watch_verify import Judge
from chainml.inference.optimistic.watchtower import Watchtower
from chainml.log import merkle
from chainml.log.decision_log import DecisionLog
from chainml.log.record import DecisionRecord
from chainml.log.trust import TrustRoot
from tests.inference.optimistic.watch_helpers import (
    anchor,
    deploy_log,
    linear_model,
    model_id_of,
    records,
    registry_with,
    score_of,
    set_word,
)

MODEL = linear_model()
MODEL_ID = model_id_of("lr-30")
RETIRED_ID = model_id_of("retired")


def write_log(data_dir: Path, leaves: Sequence[bytes]) -> Path:
    """A data directory whose log holds ``leaves``."""
    with DecisionLog.open(data_dir) as log:
        log.store.append([(data, None) for data in leaves])
    return data_dir


class Operator:
    """A log contract, a registry and the operator's leaves, anchored head by head."""

    def __init__(self, env: Env, leaves: list[bytes], heads: Sequence[int]) -> None:
        self.env = env
        self.leaves = leaves
        self.log = deploy_log(env)
        self.registry = registry_with(env, [MODEL_ID], [RETIRED_ID])
        previous = 0
        for size in heads:
            anchor(self.log, leaves, previous, size)
            previous = size

    def tower(self, source_dir: Path, checkpoint: Path) -> Watchtower:
        root = TrustRoot(self.env.chain_id, self.log.address)
        judge = Judge(
            ModelStatusAt(self.env, TrustRoot(self.env.chain_id, self.registry.address)),
            {MODEL_ID: BatchScorer(MODEL)}.get,
        )
        return Watchtower(
            LogHeads(self.env, root),
            LogDirSource(source_dir),
            judge,
            checkpoint,
            chain_id=self.env.chain_id,
            log=self.log.address,
        )


@pytest.fixture
def embedded(embedded_env: Env) -> Iterator[Env]:
    with embedded_env.snapshot():
        yield embedded_env


def test_an_honest_log_verifies_and_a_second_pass_finds_nothing_new(
    env: Env, tmp_path: Path
) -> None:
    leaves = records(MODEL, MODEL_ID, 0, 4_000)
    operator = Operator(env, leaves, [1_000, 2_500, 4_000])
    tower = operator.tower(write_log(tmp_path / "op", leaves), tmp_path / "watch.json")
    report = tower.run_once()
    assert (report.exit_code, report.heads, report.records, report.verified) == (0, 3, 4000, 4000)
    assert report.faults == [] and report.withheld is None
    state = load_state(tmp_path / "watch.json", env.chain_id, operator.log.address)
    assert (state.size, state.heads) == (4_000, 3)
    assert state.frontier.root() == bytes(operator.log.roots(4_000))
    again = tower.run_once()
    assert (again.heads, again.records, again.exit_code) == (0, 0, 0)


def test_a_cheating_operator_is_caught_with_a_proof_the_contract_accepts(
    embedded: Env, tmp_path: Path
) -> None:
    # one wrong score in 100,000; a record naming a retired model; features not matching
    # their commitment: each in its own head, each the first fault of that head
    leaves = records(MODEL, MODEL_ID, 0, 100_000)
    leaves[61_803] = set_word(leaves[61_803], 7, score_of(leaves[61_803]) - 1)
    retired = DecisionRecord.decode(records(MODEL, RETIRED_ID, 100_010, 1)[0])
    leaves += records(MODEL, MODEL_ID, 100_000, 20)
    leaves[100_010] = retired.encode()
    features = list(retired.features)
    leaves += records(MODEL, MODEL_ID, 100_020, 20)
    leaves[100_030] = set_word(leaves[100_030], 12 + 3, features[3] + 1)
    operator = Operator(embedded, leaves, [100_000, 100_020, 100_040])
    tower = operator.tower(write_log(tmp_path / "op", leaves), tmp_path / "watch.json")
    report = tower.run_once()
    assert report.exit_code == 3
    found = [(f["head"], f["index"], f["kind"]) for f in report.faults]
    assert found == [
        (100_000, 61_803, "score"),
        (100_020, 100_010, "unapproved-model"),
        (100_040, 100_030, "commitment"),
    ]
    assert report.verified == 100_040 - 3
    # the proof the watchtower builds convinces the contract the record is in the head
    hashes = [merkle.leaf_hash(d) for d in leaves]
    for fault in report.faults:
        index, size = fault["index"], fault["head"]
        proof = merkle.inclusion_proof(index, hashes[:size])
        assert fault["challenge"]["proof_length"] == len(proof)
        assert operator.log.verify_leaf(leaves[index], index, size, proof)


def test_withheld_records_are_reported_and_the_watch_resumes_when_served(
    env: Env, tmp_path: Path
) -> None:
    leaves = records(MODEL, MODEL_ID, 0, 3_000)
    operator = Operator(env, leaves, [1_000, 2_000, 3_000])
    checkpoint = tmp_path / "watch.json"
    partial = write_log(tmp_path / "partial", leaves[:2_500])  # the operator serves less
    report = operator.tower(partial, checkpoint).run_once()
    assert report.exit_code == 4 and report.heads == 2
    assert report.withheld is not None and report.withheld.size == 3_000
    assert report.withheld.previous_size == 2_000
    # served in full later: only the last head is verified, from the checkpoint
    full = write_log(tmp_path / "full", leaves)
    report = operator.tower(full, checkpoint).run_once()
    assert (report.exit_code, report.heads, report.records) == (0, 1, 1_000)


def test_records_other_than_the_anchored_ones_are_withheld_data(env: Env, tmp_path: Path) -> None:
    leaves = records(MODEL, MODEL_ID, 0, 1_000)
    operator = Operator(env, leaves, [1_000])
    other = records(MODEL, MODEL_ID, 0, 1_000, seed=99)  # honest-looking, not anchored
    report = operator.tower(write_log(tmp_path / "other", other), tmp_path / "w.json").run_once()
    assert report.exit_code == 4 and report.withheld is not None
    assert "do not hash to the anchored root" in report.withheld.detail
    assert report.heads == 0 and report.faults == []


def test_a_reorg_that_drops_a_verified_head_is_verified_again(
    embedded: Env, tmp_path: Path
) -> None:
    leaves = records(MODEL, MODEL_ID, 0, 3_000)
    operator = Operator(embedded, leaves, [1_000, 2_000])
    source, checkpoint = write_log(tmp_path / "op", leaves), tmp_path / "watch.json"
    with embedded.snapshot():  # the anchor of 3,000 will be reorged away
        anchor(operator.log, leaves, 2_000, 3_000)
        assert operator.tower(source, checkpoint).run_once().heads == 3
    assert bytes(operator.log.roots(3_000)) == bytes(32)  # gone from the chain
    anchor(operator.log, leaves, 2_000, 2_500)  # the operator anchors again, differently
    tower = operator.tower(source, checkpoint)
    assert tower.reorged == [3_000] and tower.state.size == 2_000
    report = tower.run_once()
    assert (report.exit_code, report.heads, report.records) == (0, 1, 500)
    anchor(operator.log, leaves, 2_500, 3_000)
    report = operator.tower(source, checkpoint).run_once()
    assert (report.exit_code, report.heads, report.records) == (0, 1, 500)
    state = load_state(checkpoint, embedded.chain_id, operator.log.address)
    assert state.frontier.root() == bytes(operator.log.roots(3_000))
    assert [f.size for f in state.earlier] == [1_000, 2_000, 2_500]


def test_a_running_watcher_sees_a_reorg_of_its_last_verified_head(
    embedded: Env, tmp_path: Path
) -> None:
    leaves = records(MODEL, MODEL_ID, 0, 3_000)
    operator = Operator(embedded, leaves, [1_000, 2_000])
    source, checkpoint = write_log(tmp_path / "op", leaves), tmp_path / "watch.json"
    tower = operator.tower(source, checkpoint)  # one watcher, never restarted
    with embedded.snapshot():
        anchor(operator.log, leaves, 2_000, 3_000)
        assert tower.run_once().heads == 3
    anchor(operator.log, leaves, 2_000, 2_500)  # re-anchored below what the watcher verified
    report = tower.run_once()
    assert report.reorged == [3_000] and report.to_json()["reorged"] == [3_000]
    assert (report.exit_code, report.heads, report.records, report.size) == (0, 1, 500, 2_500)
    assert tower.run_once().reorged == []  # nothing dropped since


def test_a_pass_reads_anchored_events_from_just_before_the_last_verified_head(
    embedded: Env, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    leaves = records(MODEL, MODEL_ID, 0, 3_000)
    operator = Operator(embedded, leaves, [1_000])
    embedded.mine(2 * REORG_MARGIN)
    anchor(operator.log, leaves, 1_000, 2_000)
    anchored_at = embedded.block_number
    embedded.mine(2 * REORG_MARGIN)
    ranges: list[tuple[int, int | None]] = []
    real_logs = embedded.logs

    def logs(log_filter: LogFilter) -> list[Log]:
        if operator.log.address in log_filter.addresses:
            ranges.append((log_filter.from_block, log_filter.to_block))
        return real_logs(log_filter)

    monkeypatch.setattr(embedded, "logs", logs)
    source, checkpoint = write_log(tmp_path / "op", leaves), tmp_path / "watch.json"
    assert operator.tower(source, checkpoint).run_once().heads == 2
    assert [start for start, _ in ranges] == [0]  # nothing verified yet: the whole history
    state = load_state(checkpoint, embedded.chain_id, operator.log.address)
    assert (state.size, state.block) == (2_000, anchored_at)
    ranges.clear()
    anchor(operator.log, leaves, 2_000, 3_000)
    report = operator.tower(source, checkpoint).run_once()
    assert (report.exit_code, report.heads, report.records) == (0, 1, 1_000)
    assert ranges == [(anchored_at - REORG_MARGIN, embedded.block_number)]
    ranges.clear()
    assert operator.tower(source, checkpoint).run_once().heads == 0
    assert [start for start, _ in ranges] == [embedded.block_number - REORG_MARGIN]


def test_a_checkpoint_without_blocks_loads_and_reads_from_block_zero(
    embedded: Env, tmp_path: Path
) -> None:
    leaves = records(MODEL, MODEL_ID, 0, 2_000)
    operator = Operator(embedded, leaves, [1_000, 2_000])
    source, checkpoint = write_log(tmp_path / "op", leaves), tmp_path / "watch.json"
    assert operator.tower(source, checkpoint).run_once().heads == 2
    document = json.loads(checkpoint.read_text())
    del document["block"], document["earlier_blocks"]  # as written before blocks were kept
    checkpoint.write_text(json.dumps(document))
    state = load_state(checkpoint, embedded.chain_id, operator.log.address)
    assert (state.size, state.block, state.earlier_blocks) == (2_000, 0, [0])
    assert state.from_block() == 0
    assert state.step_back() and (state.size, state.block) == (1_000, 0)
