"""The Python API: Governor and ModelRegistry wrappers driving each other, on both backends."""

from __future__ import annotations

import pytest
from eth_utils import keccak

from chainml.chain import Env
from chainml.errors import ContractRevertError, InvalidInputError, NotFoundError
from chainml.governance import (
    Governor,
    ModelRegistry,
    ModelStatus,
    ProposalState,
    RegisteredModel,
    Support,
)

from .conftest import mine_to, model_id, revert_reason

TIMELOCK = 2
USE = "fraud-screening"


@pytest.fixture
def pair(env: Env) -> tuple[Governor, ModelRegistry]:
    a, b = env.accounts[:2]
    governor = Governor.deploy(env, {a: 2, b: 1}, voting_period_blocks=3, timelock_blocks=TIMELOCK)
    return governor, ModelRegistry.deploy(env, governor.address)


def test_approval_through_a_vote(env: Env, pair: tuple[Governor, ModelRegistry]):
    governor, registry = pair
    a, b = env.accounts[:2]
    registry.register(model_id(1), b"\x01" * 32, "0x" + "02" * 32, "s3://m/1", sender=b)
    pid = governor.propose(registry.address, registry.approve_calldata(model_id(1), USE), "go")
    assert pid == 1 and governor.count() == 1
    governor.vote(pid, "for")
    governor.vote(pid, Support.AGAINST, sender=b)
    assert governor.ballot(pid, a) == (Support.FOR, 2)
    assert governor.ballot(pid, b) == (Support.AGAINST, 1)
    assert governor.ballot(pid, "0x" + "33" * 20) is None

    p = governor.proposal(pid)
    assert (p.for_votes, p.against_votes, p.abstain_votes, p.votes_cast) == (2, 1, 0, 3)
    assert (p.total_weight, p.quorum_weight) == (3, 2)  # ceil(50% of 3)
    assert p.executable_after == p.end_block + TIMELOCK
    assert p.target == registry.address and p.description == "go"
    # The state is the one the next transaction sees, exactly at the boundaries.
    mine_to(env, p.end_block - 1)
    assert governor.state(pid) == ProposalState.ACTIVE
    mine_to(env, p.end_block)
    assert governor.state(pid) == ProposalState.SUCCEEDED
    mine_to(env, p.executable_after - 1)
    assert governor.state(pid) == ProposalState.SUCCEEDED
    with pytest.raises(ContractRevertError, match="timelock has not passed"):
        governor.execute(pid)
    mine_to(env, p.executable_after)
    assert governor.state(pid) == ProposalState.READY
    governor.execute(pid, sender=b)
    assert governor.state(pid) == ProposalState.EXECUTED

    assert registry.approved(USE) == "0x" + model_id(1).hex()
    assert registry.approved("other-use") is None
    model = registry.model(model_id(1))
    assert model == RegisteredModel(
        model_id="0x" + model_id(1).hex(),
        artifact_hash="0x" + "01" * 32,
        card_hash="0x" + "02" * 32,
        uri="s3://m/1",
        registrant=b,
        registered_block=model.registered_block,
        status=ModelStatus.APPROVED,
        use=USE,
        contract=None,
        codehash=None,
    )
    assert model.registered_block <= p.start_block


def test_replacement_and_retirement_through_votes(env: Env, pair: tuple[Governor, ModelRegistry]):
    governor, registry = pair
    for n in (1, 2):
        registry.register(model_id(n), b"\x01" * 32, bytes(32), f"m{n}")
    first = governor.propose_call(
        registry.contract, "approve", model_id(1), USE, description="first"
    )
    second = governor.propose_call(
        registry.contract, "approve", model_id(2), USE, description="second"
    )
    retire = governor.propose(registry.address, registry.retire_calldata(model_id(2)))
    for pid in (first, second, retire):
        governor.vote(pid, Support.FOR)
    mine_to(env, governor.proposal(retire).executable_after)
    assert [p.state for p in governor.proposals()] == [ProposalState.READY] * 3
    governor.execute(first)
    governor.execute(second)
    assert [m.status for m in registry.models()] == [ModelStatus.RETIRED, ModelStatus.APPROVED]
    assert registry.approved(USE) == "0x" + model_id(2).hex()
    governor.execute(retire)
    assert registry.approved(USE) is None
    assert registry.model(model_id(2)).status == ModelStatus.RETIRED


def test_the_registry_obeys_only_its_governor(env: Env, pair: tuple[Governor, ModelRegistry]):
    governor, registry = pair
    registry.register(model_id(1), b"\x01" * 32, bytes(32), "m")
    assert registry.governor == governor.address
    reason = revert_reason(lambda: registry.contract.approve(model_id(1), USE))
    assert reason == "only the governor"
    # A proposal for an unknown model fails at execution with the registry's reason.
    pid = governor.propose(registry.address, registry.approve_calldata(model_id(7), USE))
    governor.vote(pid, Support.FOR)
    mine_to(env, governor.proposal(pid).executable_after)
    assert revert_reason(lambda: governor.execute(pid)) == "unknown model"
    assert governor.state(pid) == ProposalState.READY


def test_defeated_and_canceled_states(env: Env, pair: tuple[Governor, ModelRegistry]):
    governor, registry = pair
    b = env.accounts[1]
    lost = governor.propose(registry.address, b"", "nobody votes")
    canceled = governor.propose(registry.address, b"", "withdrawn", sender=b)
    governor.cancel(canceled, sender=b)
    assert governor.state(canceled) == ProposalState.CANCELED
    mine_to(env, governor.proposal(lost).end_block)
    assert governor.state(lost) == ProposalState.DEFEATED


def test_attach_contract_records_the_code_hash(env: Env, pair: tuple[Governor, ModelRegistry]):
    governor, registry = pair
    registry.register(model_id(1), b"\x01" * 32, bytes(32), "m")
    registry.attach_contract(model_id(1), governor.address)  # any contract will do
    model = registry.model(model_id(1))
    assert model.contract == governor.address
    assert model.codehash == "0x" + bytes(keccak(env.backend.code(governor.address))).hex()


def test_bad_input_is_refused_before_sending(env: Env, pair: tuple[Governor, ModelRegistry]):
    governor, registry = pair
    with pytest.raises(NotFoundError, match="is not registered"):
        registry.model(model_id(5))
    with pytest.raises(NotFoundError, match="no proposal 1"):
        governor.proposal(1)
    for bad in ("0x1234", "zz" * 32, b"short", 7):
        with pytest.raises(InvalidInputError):
            registry.model(bad)  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="use must not be empty"):
        registry.approve_calldata(model_id(1), "")
    with pytest.raises(InvalidInputError, match="for, against or abstain"):
        governor.vote(1, "maybe")
    assert Support.parse("ABSTAIN") is Support.ABSTAIN and Support.parse("0") is Support.AGAINST


@pytest.mark.parametrize(
    ("members", "kwargs", "message"),
    [
        ({}, {}, "at least one member"),
        ({"a": 0}, {}, "positive weight"),
        ({"a": 1}, {"quorum_bps": 10_001}, "quorum_bps"),
        ({"a": 1}, {"majority_bps": 10_000}, "majority_bps"),
        ({"a": 1}, {"voting_period_blocks": 0}, "voting_period_blocks"),
        ({"a": 1}, {"timelock_blocks": -1}, "timelock_blocks"),
    ],
)
def test_deploy_checks_its_arguments(env: Env, members, kwargs, message):
    members = {env.sender if k == "a" else k: w for k, w in members.items()}
    with pytest.raises(InvalidInputError, match=message):
        Governor.deploy(env, members, **kwargs)


def test_governor_reports_members_and_parameters(env: Env, pair: tuple[Governor, ModelRegistry]):
    governor, _ = pair
    a, b = env.accounts[:2]
    assert governor.members() == {a: 2, b: 1}
    assert governor.parameters() == {
        "quorum_bps": 5000,
        "majority_bps": 5000,
        "voting_period": 3,
        "timelock_blocks": TIMELOCK,
    }
    pid = governor.propose_call(governor.contract, "set_member", b, 0, description="drop b")
    governor.vote(pid, Support.FOR)
    mine_to(env, governor.proposal(pid).executable_after)
    governor.execute(pid)
    assert governor.members() == {a: 2}
