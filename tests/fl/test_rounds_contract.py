"""FederatedRounds.vy on the embedded chain: admission, rounds in order, one commitment each."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from chainml.chain import Env
from chainml.errors import ContractRevertError
from chainml.fl.rounds import FederatedRounds

H = ["0x" + f"{i:02x}" * 32 for i in range(1, 10)]


@pytest.fixture
def chain(embedded_env: Env) -> Iterator[Env]:
    with embedded_env.snapshot():
        yield embedded_env


@pytest.fixture
def rounds(chain: Env) -> FederatedRounds:
    owner = chain.accounts[0]
    deployed = FederatedRounds.deploy(chain, governor=owner, coordinator=owner, max_rounds=3)
    for account in chain.accounts[1:4]:
        deployed.admit(account)
    return deployed


def test_a_round_is_recorded_and_read_back(chain: Env, rounds: FederatedRounds) -> None:
    a, b, c = chain.accounts[1:4]
    rounds.commit_global(0, H[0])
    rounds.commit_update(1, H[1], 100, sender=a)
    rounds.commit_update(1, H[2], 50, sender=b)
    rounds.commit_global(1, H[3])
    record = rounds.record()
    assert record.participants == [a, b, c]
    assert record.global_hashes == [H[0], H[3]]
    assert [(u.participant, u.update_hash, u.samples) for u in record.updates] == [
        (a, H[1], 100), (b, H[2], 50)
    ]  # fmt: skip
    assert record.digests[1] == record.recomputed_digest(1)
    assert rounds.contract.call("last_round", a) == 1
    assert rounds.contract.call("last_round", c) == 0


def test_rejects_a_non_participant(chain: Env, rounds: FederatedRounds) -> None:
    outsider = chain.accounts[5]
    rounds.commit_global(0, H[0])
    with pytest.raises(ContractRevertError, match="not a participant"):
        rounds.commit_update(1, H[1], 10, sender=outsider)


def test_rejects_a_second_commitment_for_the_same_round(
    chain: Env, rounds: FederatedRounds
) -> None:
    a = chain.accounts[1]
    rounds.commit_global(0, H[0])
    rounds.commit_update(1, H[1], 10, sender=a)
    with pytest.raises(ContractRevertError, match="already committed"):
        rounds.commit_update(1, H[2], 10, sender=a)
    rounds.commit_global(1, H[3])
    rounds.commit_update(2, H[2], 10, sender=a)  # the next round is open to it again


def test_rejects_closed_and_future_rounds(chain: Env, rounds: FederatedRounds) -> None:
    a = chain.accounts[1]
    with pytest.raises(ContractRevertError, match="round is not open"):
        rounds.commit_update(1, H[1], 10, sender=a)  # round 0 not committed yet
    rounds.commit_global(0, H[0])
    rounds.commit_global(1, H[1])
    with pytest.raises(ContractRevertError, match="round is not open"):
        rounds.commit_update(1, H[2], 10, sender=a)  # round 1 closed


def test_only_the_coordinator_commits_globals_in_order(chain: Env, rounds: FederatedRounds) -> None:
    with pytest.raises(ContractRevertError, match="only the coordinator"):
        rounds.commit_global(0, H[0], sender=chain.accounts[1])
    with pytest.raises(ContractRevertError, match="not the next round"):
        rounds.commit_global(1, H[0])
    for r in range(4):
        rounds.commit_global(r, H[r])
    with pytest.raises(ContractRevertError, match=r"past the last round|not the next"):
        rounds.commit_global(4, H[4])


def test_only_the_governor_admits_once(chain: Env, rounds: FederatedRounds) -> None:
    with pytest.raises(ContractRevertError, match="only the governor"):
        rounds.admit(chain.accounts[6], sender=chain.accounts[1])
    with pytest.raises(ContractRevertError, match="already admitted"):
        rounds.admit(chain.accounts[1])


def test_gas_per_round_per_participant_is_under_60000(chain: Env) -> None:
    owner, participants = chain.accounts[0], chain.accounts[1:6]
    rounds = FederatedRounds.deploy(chain, governor=owner, coordinator=owner, max_rounds=3)
    for account in participants:
        rounds.admit(account)
    rounds.commit_global(0, H[0])
    for r in (1, 2):
        gas = [rounds.commit_update(r, H[p], 100 + p, sender=a).gas_used
               for p, a in enumerate(participants)]  # fmt: skip
        coordinator = rounds.commit_global(r, H[r]).gas_used
        assert max(gas) <= 60_000, gas  # each participant's own transaction
        assert (sum(gas) + coordinator) / len(participants) <= 60_000  # all-in, 5 participants


def test_a_governor_vote_admits_and_a_run_checks_the_record(chain: Env) -> None:
    from chainml.errors import InvalidInputError
    from chainml.governance.governor import Governor

    owner, a, b = chain.accounts[:3]
    governor = Governor.deploy(chain, {owner: 1}, voting_period_blocks=2, timelock_blocks=1)
    rounds = FederatedRounds.deploy(
        chain, governor=governor.address, coordinator=owner, max_rounds=2
    )
    with pytest.raises(ContractRevertError, match="only the governor"):
        rounds.admit(a)  # the deployer is not the governor
    proposal = governor.propose_call(rounds.contract, "admit", a, description="admit a")
    governor.vote(proposal, "for")
    chain.mine(4)  # past the voting period and the timelock
    governor.execute(proposal)
    assert rounds.contract.call("is_participant", a)
    with pytest.raises(InvalidInputError, match=f"has not admitted {b}"):
        rounds.check_ready(owner, [a, b], 2)
    rounds.check_ready(owner, [a], 2)
    rounds.commit_global(0, H[0])
    rounds.commit_update(1, H[1], 10, sender=a)
    with pytest.raises(InvalidInputError, match="already holds rounds"):
        rounds.check_ready(owner, [a], 2)
