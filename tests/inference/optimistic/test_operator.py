"""The operator's side: the anchorer posts the bond, heads age from open to final, reorgs."""

from __future__ import annotations

from pathlib import Path

import pytest

from chainml.chain import Env
from chainml.errors import ContractRevertError
from chainml.inference.optimistic import (
    HeadNotAnchoredError,
    HeadState,
    RecordCorrectError,
    check_challenge,
    head_states,
    withdraw_bond,
)
from chainml.log.anchor import Anchorer
from chainml.log.anchor_contract import adopt_contract, log_contract
from chainml.log.decision_log import Decision, DecisionLog
from tests.inference.optimistic.conftest import BOND, WINDOW, World, build_world

X = (1, 2, 3, 4)


def _decisions(world: World, start: int, count: int) -> list[Decision]:
    score, label = world.model.decide(list(X))
    return [
        Decision(world.model_id, score, int(label), i.to_bytes(32, "big"), X)
        for i in range(start, start + count)
    ]


def test_the_anchorer_posts_the_bond_and_heads_become_final(env: Env, tmp_path: Path) -> None:
    world = build_world(env, bond=0)  # no bond posted yet
    world.log.set_parameters(WINDOW, BOND)  # governance raises the bond before the first anchor
    with DecisionLog.open(tmp_path / "log") as log:
        adopt_contract(env, log, world.log.address)
        log.append(_decisions(world, 0, 5))
        contract = log_contract(env, log, deploy=False)
        assert contract.address == world.log.address
        anchorer = Anchorer(log, contract, confirmations=0)
        record = anchorer.anchor()
        assert record is not None and record.size == 5
        assert int(world.log.bond()) == BOND  # posted on first use, by the anchorer
        log.append(_decisions(world, 5, 3))
        anchorer.anchor()
        assert int(world.log.bond()) == BOND  # not posted twice

        heads = head_states(env, world.log.address)
        assert [(h.size, h.previous_size, h.state) for h in heads] == [
            (5, 0, HeadState.OPEN),
            (8, 5, HeadState.OPEN),
        ]
        assert heads[0].window_end == heads[0].anchored_block + WINDOW
        proof = log.store.inclusion_proof(2, 5)
        with pytest.raises(RecordCorrectError):
            check_challenge(env, world.log.address, log.store.leaf_data(2), 2, 5, proof)
        env.mine(WINDOW + 1)
        assert {h.state for h in head_states(env, world.log.address)} == {HeadState.FINAL}


def test_a_reorged_anchor_disappears_and_is_anchored_again(env: Env) -> None:
    world = build_world(env)
    world.append(world.record(X, score=0).encode())  # a lie, anchored in a block a reorg drops
    taken = env.backend.snapshot()  # anvil: evm_snapshot
    size = world.anchor()
    assert [h.size for h in head_states(env, world.log.address)] == [size]
    env.backend.revert(taken)  # the anchor transaction's block is gone
    assert head_states(env, world.log.address) == []
    with pytest.raises(HeadNotAnchoredError):
        check_challenge(env, world.log.address, world.leaves[0], 0, size, world.proof(0))
    # the operator anchors again; the same record is challengeable in the new head
    world.size = 0
    world.anchor()
    [head] = head_states(env, world.log.address)
    assert head.size == size and head.state is HeadState.OPEN
    assert (
        check_challenge(env, world.log.address, world.leaves[0], 0, size, world.proof(0)).name
        == "WRONG_SCORE"
    )


def test_the_bond_is_locked_while_any_window_may_be_open(env: Env) -> None:
    world = build_world(env)
    world.append(world.record(X).encode())
    world.anchor()
    world.log.set_parameters(1, BOND)  # a shorter window does not free the bond earlier
    with pytest.raises(ContractRevertError, match="window may be open"):
        withdraw_bond(env, world.log.address, BOND)
    env.mine(WINDOW + 1)
    held = env.balance(world.log.address)
    receipt = withdraw_bond(env, world.log.address, BOND)
    [event] = world.log.decode_receipt(receipt, "BondWithdrawn")
    assert (event["to"], event["amount"], event["bond"]) == (env.sender, BOND, 0)
    assert env.balance(world.log.address) == held - BOND and int(world.log.bond()) == 0
    with pytest.raises(ContractRevertError, match="exceeds the bond"):
        withdraw_bond(env, world.log.address, 1)


def test_the_anchorer_bonds_and_anchors_again_after_a_reorg(env: Env, tmp_path: Path) -> None:
    world = build_world(env, bond=0)
    world.log.set_parameters(WINDOW, BOND)
    with DecisionLog.open(tmp_path / "log") as log:
        adopt_contract(env, log, world.log.address)
        log.append(_decisions(world, 0, 4))
        anchorer = Anchorer(log, log_contract(env, log), confirmations=1)
        taken = env.backend.snapshot()
        assert anchorer.anchor() is not None and anchorer.pending is not None
        env.backend.revert(taken)  # the bond and the anchor transactions are both gone
        assert int(world.log.bond()) == 0 and head_states(env, world.log.address) == []
        anchorer.anchor()  # notices the drop, posts the bond again, anchors again
        assert anchorer.reorgs == 1
        assert int(world.log.bond()) == BOND
        [head] = head_states(env, world.log.address)
        assert (head.size, head.state) == (4, HeadState.OPEN)
