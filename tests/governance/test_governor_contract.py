"""The Governor contract's rules, each on the embedded chain and on anvil.

Members are the Env's two accounts: A (weight 2) and B (weight 1) unless a test says otherwise.
Block steering goes through ``mine_to``: the next transaction lands in the block after it.
"""

from __future__ import annotations

from typing import Any

import pytest

from chainml.chain import CompiledContract, Contract, Env

from .conftest import ZERO_ADDRESS, mine_to, revert_reason

PERIOD, TIMELOCK, WINDOW = 4, 3, 6
AGAINST, FOR, ABSTAIN = 0, 1, 2
ACTIVE, DEFEATED, SUCCEEDED, READY, EXECUTED, CANCELED, EXPIRED = range(7)


def deploy(
    env: Env,
    code: CompiledContract,
    members: dict[str, int] | None = None,
    quorum: int = 5000,
    majority: int = 5000,
    period: int = PERIOD,
    timelock: int = TIMELOCK,
    window: int = WINDOW,
) -> Contract:
    members = members if members is not None else {env.accounts[0]: 2, env.accounts[1]: 1}
    return env.deploy(
        code, list(members), list(members.values()), quorum, majority, period, timelock, window
    )


@pytest.fixture
def gov(env: Env, governor_code: CompiledContract) -> Contract:
    return deploy(env, governor_code)


@pytest.fixture
def target(env: Env, counter_code: CompiledContract) -> Contract:
    """A Counter whose ``add`` the proposals call."""
    return env.deploy(counter_code, 0)


def add_call(target: Contract, amount: int = 5) -> bytes:
    return target.function("add", 1).encode_call((amount,))


def propose_raw(gov: Contract, to: str, data: bytes, sender: str | None = None) -> int:
    receipt = gov.transact("propose", to, data, "a proposal", sender=sender)
    (event,) = gov.decode_receipt(receipt, "ProposalCreated")
    return int(event["id"])


def propose(gov: Contract, target: Contract, sender: str | None = None, amount: int = 5) -> int:
    return propose_raw(gov, target.address, add_call(target, amount), sender)


def proposal(gov: Contract, pid: int) -> dict[str, Any]:
    names = [
        "proposer", "target", "calldata", "description", "start_block", "end_block", "version",
        "total_weight", "for_votes", "against_votes", "abstain_votes", "executed", "canceled",
    ]  # fmt: skip
    return dict(zip(names, gov.proposal(pid), strict=True))


def pass_and_wait(env: Env, gov: Contract, pid: int) -> None:
    """A votes for (weight 2 of 3 passes the defaults); mine past voting and timelock."""
    gov.vote(pid, FOR)
    mine_to(env, proposal(gov, pid)["end_block"] + TIMELOCK)


class TestMembers:
    def test_constructor_sets_members_weights_and_parameters(self, env: Env, gov: Contract):
        a, b = env.accounts[:2]
        assert (gov.weight_of(a), gov.weight_of(b), gov.total_weight()) == (2, 1, 3)
        assert gov.member_count() == 2 and gov.version() == 0
        assert (gov.quorum_bps(), gov.majority_bps()) == (5000, 5000)
        assert (gov.voting_period(), gov.timelock_blocks()) == (PERIOD, TIMELOCK)
        assert gov.execution_window() == WINDOW
        assert gov.decode_receipt(gov.deployment, "MemberChanged") == [
            {"member": a, "old_weight": 0, "new_weight": 2, "total_weight": 2, "version": 0},
            {"member": b, "old_weight": 0, "new_weight": 1, "total_weight": 3, "version": 0},
        ]

    @pytest.mark.parametrize(
        ("members", "weights", "quorum", "majority", "period", "blocks", "reason"),
        [
            (2, [1], 5000, 5000, 4, (1, 1), "members and weights differ in length"),
            (0, [], 5000, 5000, 4, (1, 1), "no members"),
            (1, [0], 5000, 5000, 4, (1, 1), "member weight is zero"),
            ("dup", [1, 1], 5000, 5000, 4, (1, 1), "duplicate member"),
            ("zero", [1], 5000, 5000, 4, (1, 1), "member is the zero address"),
            (1, [1], 10001, 5000, 4, (1, 1), "quorum above 10000 bps"),
            (1, [1], 5000, 10000, 4, (1, 1), "majority must be below 10000 bps"),
            (1, [1], 5000, 5000, 0, (1, 1), "voting period is zero"),
            (1, [1], 5000, 5000, 4, (1, 0), "execution window is zero"),
            (1, [1], 5000, 5000, 2**64 + 1, (1, 1), "voting period too long"),
            (1, [1], 5000, 5000, 4, (2**64 + 1, 1), "timelock too long"),
            (1, [1], 5000, 5000, 4, (1, 2**256 - 1), "execution window too long"),
        ],
    )
    def test_constructor_rejects_bad_setups(
        self, env: Env, governor_code: CompiledContract, members, weights, quorum, majority,
        period, blocks, reason,
    ):  # fmt: skip
        if members == "dup":
            addresses = [env.accounts[0], env.accounts[0]]
        elif members == "zero":
            addresses = [ZERO_ADDRESS]
        else:
            addresses = env.accounts[:members]
        assert (
            revert_reason(
                lambda: env.deploy(
                    governor_code, addresses, weights, quorum, majority, period, *blocks
                )
            )
            == reason
        )

    def test_set_member_only_through_governance(self, env: Env, gov: Contract):
        for sender in env.accounts[:2]:
            reason = revert_reason(lambda s=sender: gov.transact("set_member", s, 5, sender=s))
            assert reason == "only through governance"
        assert gov.weight_of(env.accounts[0]) == 2 and gov.version() == 0

    def test_a_passed_proposal_changes_weights(self, env: Env, gov: Contract):
        a, b = env.accounts[:2]
        newcomer = "0x" + "11" * 20
        calls = [(newcomer, 4), (b, 0), (a, 7)]
        ids = [
            propose_raw(gov, gov.address, gov.function("set_member", 2).encode_call(c))
            for c in calls
        ]
        for pid in ids:
            gov.vote(pid, FOR)
        mine_to(env, proposal(gov, ids[-1])["end_block"] + TIMELOCK)
        receipt = gov.execute(ids[0])
        assert gov.decode_receipt(receipt, "MemberChanged") == [
            {"member": newcomer, "old_weight": 0, "new_weight": 4, "total_weight": 7, "version": 1}
        ]
        gov.execute(ids[1])
        gov.execute(ids[2])
        assert [gov.weight_of(x) for x in (a, b, newcomer)] == [7, 0, 4]
        assert (gov.total_weight(), gov.member_count(), gov.version()) == (11, 2, 3)
        # History stays: b had weight 1 up to version 1 and none from version 2.
        assert [gov.weight_at(b, v) for v in range(4)] == [1, 1, 0, 0]
        assert [gov.weight_at(newcomer, v) for v in range(4)] == [0, 4, 4, 4]
        # A removed member can no longer propose or vote on new proposals.
        reason = revert_reason(lambda: gov.transact("propose", a, b"", "x", sender=b))
        assert reason == "only members may propose"

    def test_governance_refuses_pointless_or_fatal_member_changes(self, env: Env, gov: Contract):
        a, b = env.accounts[:2]
        single = gov.function("set_member", 2)
        unchanged = propose_raw(gov, gov.address, single.encode_call((a, 2)))
        remove_b = propose_raw(gov, gov.address, single.encode_call((b, 0)))
        remove_a = propose_raw(gov, gov.address, single.encode_call((a, 0)))
        for pid in (unchanged, remove_b, remove_a):
            gov.vote(pid, FOR)
        mine_to(env, proposal(gov, remove_a)["end_block"] + TIMELOCK)
        # The target's own reason comes back through execute.
        assert revert_reason(lambda: gov.execute(unchanged)) == "weight unchanged"
        gov.execute(remove_b)
        assert revert_reason(lambda: gov.execute(remove_a)) == "cannot remove the last member"
        assert gov.weight_of(a) == 2 and gov.member_count() == 1
        assert not proposal(gov, remove_a)["executed"]

    def test_votes_count_with_the_weights_at_proposal_creation(self, env: Env, gov: Contract):
        a, b = env.accounts[:2]
        setter = gov.function("set_member", 2)
        raise_b = propose_raw(gov, gov.address, setter.encode_call((b, 10)))
        gov.vote(raise_b, FOR)
        mine_to(env, proposal(gov, raise_b)["end_block"] + TIMELOCK - 1)
        before = propose_raw(gov, a, b"")  # created while b still weighs 1
        mine_to(env, proposal(gov, raise_b)["end_block"] + TIMELOCK)
        gov.execute(raise_b)
        after = propose_raw(gov, a, b"")
        assert gov.weight_of(b) == 10
        for pid, weight, total in ((before, 1, 3), (after, 10, 12)):
            receipt = gov.transact("vote", pid, AGAINST, sender=b)
            (event,) = gov.decode_receipt(receipt, "VoteCast")
            assert event == {"id": pid, "voter": b, "support": AGAINST, "weight": weight}
            assert proposal(gov, pid)["total_weight"] == total
            assert gov.ballot(pid, b) == (True, AGAINST, weight)


class TestProposeAndVote:
    def test_propose_records_everything(self, env: Env, gov: Contract, target: Contract):
        data = add_call(target, 9)
        receipt = gov.propose(target.address, data, "add nine")
        (event,) = gov.decode_receipt(receipt, "ProposalCreated")
        start = receipt.block_number
        assert event == {
            "id": 1,
            "proposer": env.accounts[0],
            "target": target.address,
            "calldata": data,
            "description": "add nine",
            "start_block": start,
            "end_block": start + PERIOD,
            "total_weight": 3,
        }
        assert proposal(gov, 1) == {
            "proposer": env.accounts[0], "target": target.address, "calldata": data,
            "description": "add nine", "start_block": start, "end_block": start + PERIOD,
            "version": 0, "total_weight": 3, "for_votes": 0, "against_votes": 0,
            "abstain_votes": 0, "executed": False, "canceled": False,
        }  # fmt: skip
        assert gov.proposal_count() == 1
        assert propose(gov, target, sender=env.accounts[1]) == 2

    def test_non_member_cannot_propose_or_vote(
        self, env: Env, governor_code: CompiledContract, target: Contract
    ):
        a, outsider = env.accounts[:2]
        gov = deploy(env, governor_code, {a: 1})
        reason = revert_reason(lambda: propose(gov, target, sender=outsider))
        assert reason == "only members may propose"
        pid = propose(gov, target)
        reason = revert_reason(lambda: gov.transact("vote", pid, FOR, sender=outsider))
        assert reason == "not a member when the proposal was created"
        assert proposal(gov, pid)["for_votes"] == 0

    def test_proposals_need_a_target(self, env: Env, gov: Contract):
        reason = revert_reason(lambda: gov.propose(ZERO_ADDRESS, b"", "nothing"))
        assert reason == "target is the zero address"

    def test_votes_are_tallied_by_weight(self, env: Env, gov: Contract, target: Contract):
        a, b = env.accounts[:2]
        pid = propose(gov, target)
        receipt = gov.vote(pid, FOR)
        assert gov.decode_receipt(receipt, "VoteCast") == [
            {"id": pid, "voter": a, "support": FOR, "weight": 2}
        ]
        gov.transact("vote", pid, ABSTAIN, sender=b)
        p = proposal(gov, pid)
        assert (p["for_votes"], p["against_votes"], p["abstain_votes"]) == (2, 0, 1)
        assert gov.ballot(pid, a) == (True, FOR, 2)
        assert gov.ballot(pid, b) == (True, ABSTAIN, 1)
        assert gov.ballot(pid, ZERO_ADDRESS) == (False, 0, 0)

    def test_double_voting_is_refused(self, env: Env, gov: Contract, target: Contract):
        pid = propose(gov, target)
        gov.vote(pid, AGAINST)
        for support in (AGAINST, FOR, ABSTAIN):
            assert revert_reason(lambda s=support: gov.vote(pid, s)) == "already voted"
        p = proposal(gov, pid)
        assert (p["for_votes"], p["against_votes"], p["abstain_votes"]) == (0, 2, 0)

    def test_bad_votes_are_refused(self, env: Env, gov: Contract, target: Contract):
        pid = propose(gov, target)
        assert revert_reason(lambda: gov.vote(pid, 3)) == (
            "support must be 0 (against), 1 (for) or 2 (abstain)"
        )
        assert revert_reason(lambda: gov.vote(pid + 1, FOR)) == "unknown proposal"
        assert revert_reason(lambda: gov.vote(0, FOR)) == "unknown proposal"
        assert revert_reason(lambda: gov.state(7)) == "unknown proposal"

    def test_voting_closes_after_the_end_block(self, env: Env, gov: Contract, target: Contract):
        b = env.accounts[1]
        pid = propose(gov, target)
        end = proposal(gov, pid)["end_block"]
        mine_to(env, end - 1)
        receipt = gov.vote(pid, FOR)  # lands in the end block: still open
        assert receipt.block_number == end
        mine_to(env, end)  # seal it: the next transaction lands in end + 1
        assert revert_reason(lambda: gov.transact("vote", pid, FOR, sender=b)) == (
            "voting is closed"
        )
        assert proposal(gov, pid)["for_votes"] == 2


class TestOutcome:
    def test_execute_waits_for_voting_and_timelock(self, env: Env, gov: Contract, target: Contract):
        pid = propose(gov, target)
        gov.vote(pid, FOR)
        end = proposal(gov, pid)["end_block"]
        assert gov.state(pid) == ACTIVE
        assert revert_reason(lambda: gov.execute(pid)) == "voting is still open"
        mine_to(env, end)  # next block: voting closed, timelock running
        assert revert_reason(lambda: gov.execute(pid)) == "timelock has not passed"
        mine_to(env, end + TIMELOCK - 1)
        assert revert_reason(lambda: gov.execute(pid)) == "timelock has not passed"
        mine_to(env, end + TIMELOCK)
        receipt = gov.execute(pid)
        assert receipt.block_number == end + TIMELOCK + 1
        assert gov.decode_receipt(receipt, "ProposalExecuted") == [
            {"id": pid, "executor": env.accounts[0]}
        ]
        assert target.decode_receipt(receipt, "Incremented") == [{"by": gov.address, "count": 5}]
        assert target.count() == 5 and gov.state(pid) == EXECUTED

    def test_anyone_may_execute_and_only_once(self, env: Env, gov: Contract, target: Contract):
        pid = propose(gov, target)
        pass_and_wait(env, gov, pid)
        gov.transact("execute", pid, sender=env.accounts[1])
        assert revert_reason(lambda: gov.execute(pid)) == "proposal already executed"
        assert target.count() == 5 and proposal(gov, pid)["executed"]

    def test_state_view_through_the_lifecycle(self, env: Env, gov: Contract, target: Contract):
        pid = propose(gov, target)
        gov.vote(pid, FOR)
        end = proposal(gov, pid)["end_block"]
        # Views are read away from the boundaries, where backends agree on block.number.
        assert gov.state(pid) == ACTIVE
        mine_to(env, end + 1)
        assert gov.state(pid) == SUCCEEDED
        mine_to(env, end + TIMELOCK + 2)
        assert gov.state(pid) == READY
        gov.execute(pid)
        assert gov.state(pid) == EXECUTED

    def test_failing_quorum_defeats(self, env: Env, governor_code: CompiledContract, target):
        a, b = env.accounts[:2]
        gov = deploy(env, governor_code, {a: 1, b: 3}, quorum=5000)
        pid = propose(gov, target)
        gov.vote(pid, FOR)  # 1 of 4 voted: 25% < 50%
        mine_to(env, proposal(gov, pid)["end_block"] + TIMELOCK + 1)
        assert gov.state(pid) == DEFEATED
        assert revert_reason(lambda: gov.execute(pid)) == "proposal was defeated"
        assert target.count() == 0

    def test_quorum_counts_abstentions_and_is_inclusive(
        self, env: Env, governor_code: CompiledContract, target: Contract
    ):
        a, b = env.accounts[:2]
        gov = deploy(env, governor_code, {a: 1, b: 1}, quorum=10000)
        pid = propose(gov, target)
        gov.vote(pid, FOR)
        gov.transact("vote", pid, ABSTAIN, sender=b)  # 2 of 2 voted: exactly the quorum
        mine_to(env, proposal(gov, pid)["end_block"] + TIMELOCK)
        gov.execute(pid)
        assert target.count() == 5

    def test_failing_majority_defeats(self, env: Env, governor_code: CompiledContract, target):
        a, b = env.accounts[:2]
        gov = deploy(env, governor_code, {a: 1, b: 1})
        tie = propose(gov, target)
        gov.vote(tie, FOR)
        gov.transact("vote", tie, AGAINST, sender=b)  # 1 for, 1 against: not above 50%
        only_abstain = propose(gov, target)
        gov.vote(only_abstain, ABSTAIN)
        gov.transact("vote", only_abstain, ABSTAIN, sender=b)  # quorum, but nobody for
        mine_to(env, proposal(gov, only_abstain)["end_block"] + TIMELOCK + 1)
        for pid in (tie, only_abstain):
            assert gov.state(pid) == DEFEATED
            assert revert_reason(lambda p=pid: gov.execute(p)) == "proposal was defeated"

    def test_supermajority_threshold(self, env: Env, governor_code: CompiledContract, target):
        a, b = env.accounts[:2]
        gov = deploy(env, governor_code, {a: 2, b: 1}, majority=6667)
        pid = propose(gov, target)
        gov.vote(pid, FOR)
        gov.transact("vote", pid, AGAINST, sender=b)  # 2/3 = 66.66% < 66.67%
        mine_to(env, proposal(gov, pid)["end_block"] + TIMELOCK + 1)
        assert gov.state(pid) == DEFEATED

    def test_a_reverting_call_reverts_execute_with_its_reason(
        self, env: Env, gov: Contract, target: Contract
    ):
        pid = propose(gov, target, amount=0)
        reset_id = propose_raw(gov, target.address, target.function("reset", 0).encode_call(()))
        for p in (pid, reset_id):
            gov.vote(p, FOR)
        # past the timelock in the latest block itself, so the view below reads READY too
        mine_to(env, proposal(gov, reset_id)["end_block"] + TIMELOCK + 1)
        assert revert_reason(lambda: gov.execute(pid)) == "amount must be positive"
        assert revert_reason(lambda: gov.execute(reset_id)) == "only the owner may reset"
        assert gov.state(pid) == READY and not proposal(gov, pid)["executed"]


class TestExpiry:
    """A passed proposal executes only in its window: after the timelock, for WINDOW blocks."""

    def test_the_last_block_of_the_window_executes(self, env: Env, gov: Contract, target):
        pid = propose(gov, target)
        pass_and_wait(env, gov, pid)
        last = proposal(gov, pid)["end_block"] + TIMELOCK + WINDOW
        mine_to(env, last - 1)  # the next transaction lands in the window's last block
        receipt = gov.execute(pid)
        assert receipt.block_number == last and target.count() == 5

    def test_the_first_block_after_the_window_refuses(self, env: Env, gov: Contract, target):
        pid = propose(gov, target)
        pass_and_wait(env, gov, pid)
        last = proposal(gov, pid)["end_block"] + TIMELOCK + WINDOW
        mine_to(env, last)  # the next transaction lands in last + 1
        reason = revert_reason(lambda: gov.execute(pid))
        assert reason == "proposal expired: its execution window is over"
        assert target.count() == 0 and not proposal(gov, pid)["executed"]
        mine_to(env, last + 1000)  # and it never comes back
        assert gov.state(pid) == EXPIRED
        assert revert_reason(lambda: gov.execute(pid)) == reason

    def test_state_view_reads_expired(self, env: Env, gov: Contract, target: Contract):
        pid = propose(gov, target)
        pass_and_wait(env, gov, pid)
        end = proposal(gov, pid)["end_block"]
        mine_to(env, end + TIMELOCK + WINDOW - 2)  # away from the boundary: backends agree
        assert gov.state(pid) == READY
        mine_to(env, end + TIMELOCK + WINDOW + 2)
        assert gov.state(pid) == EXPIRED

    def test_a_defeated_proposal_stays_defeated(self, env: Env, governor_code, target):
        a, b = env.accounts[:2]
        gov = deploy(env, governor_code, {a: 1, b: 3})
        pid = propose(gov, target)
        gov.vote(pid, FOR)  # no quorum
        mine_to(env, proposal(gov, pid)["end_block"] + TIMELOCK + WINDOW + 2)
        assert gov.state(pid) == DEFEATED


class TestCancel:
    def test_proposer_cancels_and_nothing_happens_after(
        self, env: Env, gov: Contract, target: Contract
    ):
        b = env.accounts[1]
        pid = propose(gov, target, sender=b)
        gov.vote(pid, FOR)
        assert revert_reason(lambda: gov.cancel(pid)) == (
            "only the proposer or the governor may cancel"
        )
        receipt = gov.transact("cancel", pid, sender=b)
        assert gov.decode_receipt(receipt, "ProposalCanceled") == [{"id": pid, "by": b}]
        assert gov.state(pid) == CANCELED
        assert revert_reason(lambda: gov.transact("vote", pid, FOR, sender=b)) == (
            "proposal was canceled"
        )
        assert revert_reason(lambda: gov.transact("cancel", pid, sender=b)) == (
            "proposal already canceled"
        )
        mine_to(env, proposal(gov, pid)["end_block"] + TIMELOCK)
        assert revert_reason(lambda: gov.execute(pid)) == "proposal was canceled"
        assert gov.state(pid) == CANCELED and target.count() == 0

    def test_executed_proposals_cannot_be_canceled(self, env: Env, gov: Contract, target):
        pid = propose(gov, target)
        pass_and_wait(env, gov, pid)
        gov.execute(pid)
        assert revert_reason(lambda: gov.cancel(pid)) == "proposal already executed"
        assert revert_reason(lambda: gov.cancel(99)) == "unknown proposal"

    def test_the_governor_itself_cancels_through_a_proposal(
        self, env: Env, gov: Contract, target: Contract
    ):
        b = env.accounts[1]
        victim = propose(gov, target, sender=b)
        killer_id = propose_raw(gov, gov.address, gov.function("cancel", 1).encode_call((victim,)))
        gov.vote(victim, FOR)
        gov.vote(killer_id, FOR)
        mine_to(env, proposal(gov, killer_id)["end_block"] + TIMELOCK)
        receipt = gov.execute(killer_id)
        assert gov.decode_receipt(receipt, "ProposalCanceled") == [
            {"id": victim, "by": gov.address}
        ]
        assert gov.state(victim) == CANCELED
        assert revert_reason(lambda: gov.execute(victim)) == "proposal was canceled"
