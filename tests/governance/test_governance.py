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
    first = governor.propose(registry.address, registry.approve_calldata(model_id(1), USE))
    governor.vote(first, Support.FOR)
    mine_to(env, governor.proposal(first).executable_after)
    governor.execute(first)
    # built now, the approval of 2 expects to replace 1; the retirement follows it
    second = governor.propose(registry.address, registry.approve_calldata(model_id(2), USE))
    retire = governor.propose(registry.address, registry.retire_calldata(model_id(2)))
    assert (
        "replacing 0x" + model_id(1).hex() in registry.approval_terms(model_id(2), USE).describe()
    )
    for pid in (second, retire):
        governor.vote(pid, Support.FOR)
    mine_to(env, governor.proposal(retire).executable_after)
    assert [p.state for p in governor.proposals()[1:]] == [ProposalState.READY] * 2
    governor.execute(second)
    assert [m.status for m in registry.models()] == [ModelStatus.RETIRED, ModelStatus.APPROVED]
    assert registry.approved(USE) == "0x" + model_id(2).hex()
    governor.execute(retire)
    assert registry.approved(USE) is None
    assert registry.model(model_id(2)).status == ModelStatus.RETIRED


def test_a_stale_approval_never_replaces_a_newer_one(
    env: Env, pair: tuple[Governor, ModelRegistry]
):
    """Finding 7: approve A passes, approve B passes and executes; A must never retire B."""
    governor, registry = pair
    outsider = env.accounts[1]
    for n in (1, 2):
        registry.register(model_id(n), b"\x01" * 32, bytes(32), f"m{n}")
    approve_a = governor.propose(registry.address, registry.approve_calldata(model_id(1), USE))
    approve_b = governor.propose(registry.address, registry.approve_calldata(model_id(2), USE))
    for pid in (approve_a, approve_b):
        governor.vote(pid, Support.FOR)
    a = governor.proposal(approve_a)
    mine_to(env, governor.proposal(approve_b).executable_after)
    governor.execute(approve_b)
    assert registry.approved(USE) == "0x" + model_id(2).hex()
    # inside A's window: the registry's compare-and-swap refuses it
    assert governor.state(approve_a) == ProposalState.READY
    reason = revert_reason(lambda: governor.execute(approve_a, sender=outsider))
    assert reason == "stale approval: the approved model for this use changed"
    # after A's window: the governor refuses it before calling the registry at all
    mine_to(env, a.expires_after + 1_000)
    assert governor.state(approve_a) == ProposalState.EXPIRED
    reason = revert_reason(lambda: governor.execute(approve_a, sender=outsider))
    assert reason == "proposal expired: its execution window is over"
    assert registry.approved(USE) == "0x" + model_id(2).hex()
    assert registry.model(model_id(2)).status == ModelStatus.APPROVED
    assert registry.model(model_id(1)).status == ModelStatus.REGISTERED


def test_expiry_boundary_from_python(env: Env, pair: tuple[Governor, ModelRegistry]):
    """The last block of the window executes; the client's state agrees at both edges."""
    governor, registry = pair
    registry.register(model_id(1), b"\x01" * 32, bytes(32), "m")
    late = governor.propose(registry.address, registry.approve_calldata(model_id(1), USE))
    too_late = governor.propose(registry.address, registry.approve_calldata(model_id(1), USE))
    for pid in (late, too_late):
        governor.vote(pid, Support.FOR)
    p = governor.proposal(late)
    window = governor.parameters()["execution_window"]
    assert p.expires_after == p.executable_after + window == p.end_block + TIMELOCK + window
    mine_to(env, p.expires_after - 1)  # the next transaction lands in the last block
    assert governor.state(late) == ProposalState.READY
    assert governor.proposal(late).facts(env.block_number)["execution_blocks_left"] == 1
    receipt = governor.execute(late)
    assert receipt.block_number == p.expires_after
    q = governor.proposal(too_late)
    # the embedded chain puts both proposals in one block, anvil in consecutive ones
    assert q.expires_after in (p.expires_after, p.expires_after + 1)
    mine_to(env, q.expires_after)  # the next transaction lands one block past the window
    assert governor.state(too_late) == ProposalState.EXPIRED
    assert governor.proposal(too_late).facts(env.block_number)["state"] == "expired"
    with pytest.raises(ContractRevertError, match="proposal expired"):
        governor.execute(too_late)


def test_a_squatted_id_is_recovered_through_governance(
    env: Env, pair: tuple[Governor, ModelRegistry]
):
    """Finding 8: the squatter registers the real id first; their contract is never approved."""
    governor, registry = pair
    owner, squatter = env.accounts[:2]
    theirs = Governor.deploy(env, {squatter: 1})  # any contract stands in for a model
    mine = Governor.deploy(env, {owner: 1})
    artifact, card = "0x" + "0a" * 32, "0x" + "0c" * 32
    registry.register(model_id(1), "0x" + "66" * 32, card, "evil://", sender=squatter)
    registry.attach_contract(model_id(1), theirs.address, sender=squatter)
    with pytest.raises(ContractRevertError, match="model already registered"):
        registry.register(model_id(1), artifact, card, "file:///real")
    # voters see the squatter and their contract in the approval's terms
    terms = registry.approval_terms(model_id(1), USE)
    assert (terms.registrant, terms.contract) == (squatter, theirs.address)
    squat_approval = governor.propose(
        registry.address, registry.approve_calldata(model_id(1), USE), terms.describe()
    )
    reassign = governor.propose(
        registry.address,
        registry.reassign_calldata(model_id(1), owner, artifact, card, "file:///real"),
        "give the id to its owner",
    )
    for pid in (squat_approval, reassign):
        governor.vote(pid, Support.FOR)
    mine_to(env, governor.proposal(reassign).executable_after)
    governor.execute(reassign)
    entry = registry.model(model_id(1))
    assert (entry.registrant, entry.contract, entry.artifact_hash, entry.uri) == (
        owner,
        None,
        artifact,
        "file:///real",
    )
    # even passed, the approval pinned to the squatter can no longer execute
    reason = revert_reason(lambda: governor.execute(squat_approval))
    assert reason == "stale approval: the model's registrant changed"
    with pytest.raises(ContractRevertError, match="only the registrant"):
        registry.attach_contract(model_id(1), theirs.address, sender=squatter)
    registry.attach_contract(model_id(1), mine.address)
    approval = governor.propose(registry.address, registry.approve_calldata(model_id(1), USE))
    governor.vote(approval, Support.FOR)
    mine_to(env, governor.proposal(approval).executable_after)
    governor.execute(approval)
    entry = registry.model(model_id(1))
    assert (entry.status, entry.registrant, entry.contract) == (
        ModelStatus.APPROVED,
        owner,
        mine.address,
    )


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
    with pytest.raises(InvalidInputError, match="new registrant must be an address"):
        registry.reassign_calldata(model_id(1), "0x" + "00" * 20, model_id(2), model_id(3), "u")
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
        ({"a": 1}, {"timelock_blocks": 2**64 + 1}, "timelock_blocks"),
        ({"a": 1}, {"execution_window_blocks": 0}, "execution_window_blocks"),
        ({"a": 1}, {"execution_window_blocks": True}, "execution_window_blocks"),
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
        "execution_window": 100,
    }
    pid = governor.propose_call(governor.contract, "set_member", b, 0, description="drop b")
    governor.vote(pid, Support.FOR)
    mine_to(env, governor.proposal(pid).executable_after)
    governor.execute(pid)
    assert governor.members() == {a: 2}
