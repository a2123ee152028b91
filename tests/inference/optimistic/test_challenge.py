"""Fraud proofs on both backends: faults are slashed; correct records, late challenges not."""

from __future__ import annotations

import pytest

from chainml.errors import ContractRevertError
from chainml.inference.optimistic import (
    FaultReason,
    FeaturesMismatchError,
    HeadFaultyError,
    HeadState,
    NotIncludedError,
    RecordCorrectError,
    WindowClosedError,
    WrongHeadError,
    check_challenge,
    head_states,
    submit_challenge,
)
from chainml.log.record import encode_features
from tests.inference.optimistic.conftest import BOND, WINDOW, World, model_id

X = (10, -20, 30, 4)


def _challenge(world: World, index: int, **kwargs: object):  # type: ignore[no-untyped-def]
    return submit_challenge(
        world.env,
        world.log.address,
        world.leaves[index],
        index,
        world.size,
        world.proof(index),
        **kwargs,  # type: ignore[arg-type]
    )


def _state(world: World, size: int) -> HeadState:
    return next(h.state for h in head_states(world.env, world.log.address) if h.size == size)


def test_a_wrong_score_is_slashed_and_halts_the_log(world: World) -> None:
    honest = world.record(X)
    world.append(honest.encode(), world.record(X, score=honest.score + 1).encode())
    size = world.anchor()
    before = world.env.balance()

    with pytest.raises(RecordCorrectError):
        _challenge(world, 0)
    outcome = _challenge(world, 1)

    assert outcome.reason is FaultReason.WRONG_SCORE
    assert (outcome.index, outcome.size, outcome.reward) == (1, size, BOND)
    assert outcome.gas_used > 21_000
    assert int(world.log.bond()) == 0 and world.log.halted()
    fee = before - world.env.balance() + BOND
    assert 0 < fee < 10**16  # paid gas, received the bond
    assert _state(world, size) is HeadState.FAULTY
    with pytest.raises(HeadFaultyError):
        _challenge(world, 1)
    # the operator cannot anchor until governance clears the fault (and the bond is back)
    world.append(world.record(X).encode())
    with pytest.raises(ContractRevertError, match="halted"):
        world.anchor()
    world.log.clear_fault()
    world.log.post_bond(value=BOND)
    assert world.anchor() == 3


def test_a_wrong_label_is_slashed(world: World) -> None:
    _, decision = world.model.decide(list(X))
    world.append(world.record(X, label=1 - int(decision)).encode())
    world.anchor()
    assert _challenge(world, 0).reason is FaultReason.WRONG_LABEL


def test_a_retired_or_unapproved_model_is_a_fault(world: World) -> None:
    # model 2 (a different bias) replaces model 1: records of model 1 anchored after that
    # name a retired model, however right their scores are
    other = world.model.__class__(
        world.model.inputs, world.model.weights, 99, world.model.threshold, 1
    )
    world.register(model_id(2), world.deploy_model(other, model_id(2)))
    world.append(world.record(X).encode())
    first = world.anchor()
    world.env.mine(1)  # a retirement in the anchor's own block counts as before it
    world.approve(model_id(2))  # retires model 1
    world.append(world.record(X).encode(), world.record(X, model=model_id(9)).encode())
    world.anchor()

    # anchored while model 1 was approved: correct, whatever happened since
    with pytest.raises(RecordCorrectError):
        submit_challenge(
            world.env, world.log.address, world.leaves[0], 0, first, world.proof(0, first)
        )
    assert (
        check_challenge(
            world.env, world.log.address, world.leaves[2], 2, world.size, world.proof(2)
        )
        is FaultReason.NOT_APPROVED
    )
    assert _challenge(world, 1).reason is FaultReason.NOT_APPROVED


def test_features_must_match_the_commitment(world: World) -> None:
    honest = world.record(X)
    lying = bytearray(honest.encode())
    lying[160:192] = bytes(32)  # the record's features do not hash to its commitment
    bare = world.record(X, carry_features=False)  # commitment only, honest score
    bare_wrong = world.record(X, carry_features=False, score=honest.score - 5)
    world.append(bytes(lying), bare.encode(), bare_wrong.encode())
    world.anchor()

    with pytest.raises(FeaturesMismatchError):  # features needed
        _challenge(world, 1)
    with pytest.raises(FeaturesMismatchError):  # features that are not the committed ones
        _challenge(world, 1, features=[11, -20, 30, 4])
    with pytest.raises(RecordCorrectError):
        _challenge(world, 1, features=list(X))
    assert (
        check_challenge(
            world.env, world.log.address, world.leaves[2], 2, world.size, world.proof(2), X
        )
        is FaultReason.WRONG_SCORE
    )
    assert _challenge(world, 0).reason is FaultReason.BAD_COMMITMENT


def test_malformed_and_misnumbered_records_are_faults(world: World) -> None:
    honest = world.record(X)
    wrong_sequence = world.record(X, sequence=0).encode()  # numbered 0, appended at 1
    world.append(honest.encode(), wrong_sequence, b"not a record", encode_features(X))
    world.anchor()
    for index, reason in ((1, FaultReason.WRONG_SEQUENCE), (2, FaultReason.MALFORMED)):
        assert check_challenge(
            world.env, world.log.address, world.leaves[index], index, world.size,
            world.proof(index),
        ) is reason  # fmt: skip


def test_out_of_range_features_are_rejected_by_the_model(world: World) -> None:
    # feature 0 = 5000, outside [-1000, 1000]; the commitment follows, so only the model objects
    features = (5000, *X[1:])
    from chainml.log.record import DecisionRecord, commit_features

    forged = DecisionRecord(
        sequence=0, timestamp_ms=1, model_id=world.model_id,
        input_commitment=commit_features(features), score=0, label=0,
        request_id=bytes(32), features=features,
    )  # fmt: skip
    world.append(forged.encode())
    world.anchor()
    assert _challenge(world, 0).reason is FaultReason.REJECTED


def test_proofs_heads_and_windows_are_checked(world: World) -> None:
    world.append(world.record(X, score=1).encode())
    first = world.anchor()
    world.append(world.record(X).encode())
    world.anchor()
    with pytest.raises(NotIncludedError):
        submit_challenge(world.env, world.log.address, world.leaves[0], 0, first, [bytes(32)])
    # the record's first head is `first`: a later head cannot reopen it
    with pytest.raises(WrongHeadError):
        _challenge(world, 0)
    world.env.mine(WINDOW + 1)
    assert _state(world, first) is HeadState.FINAL
    with pytest.raises(WindowClosedError):
        submit_challenge(
            world.env, world.log.address, world.leaves[0], 0, first, world.proof(0, first)
        )


def test_a_starved_reexecution_never_slashes_an_honest_record(world: World) -> None:
    # With too little gas the model call runs out: the challenge must fail, never take the
    # failed call for a model that rejects the record. 43,500-51,500 spans every point of
    # this challenge where gas can run out (before, inside and after the model's call).
    world.append(world.record(X).encode())
    world.anchor()
    args = (world.leaves[0], 0, world.size, world.proof(0), b"")
    reasons = set()
    for gas in range(43_500, 52_000, 500):
        with pytest.raises(ContractRevertError) as refused:
            world.log.transact("challenge", *args, gas=gas)
        reasons.add(refused.value.reason)
    assert "record is correct" in reasons and len(reasons) > 1  # starved, and then enough
    assert not world.log.halted() and int(world.log.bond()) == BOND
    assert _state(world, world.size) is HeadState.OPEN
