"""Passing a proposal on a development chain: vote with every member key held, wait, execute.

For demos, simulations and tests, where one process holds the members' keys. On a real
network the members vote from their own machines (`chainml gov vote`).
"""

from __future__ import annotations

from chainml.errors import ChainError
from chainml.governance.governor import Governor, ProposalState, Support


class ProposalNotPassedError(ChainError):
    """A governance proposal did not pass with the votes this process could cast."""

    def __init__(self, proposal_id: int, state: ProposalState, description: str) -> None:
        self.proposal_id = proposal_id
        self.state = state
        super().__init__(
            f"proposal {proposal_id} ({description}) is {state.name.lower()} after voting with "
            "every member key this process holds; other members must vote "
            f"(`chainml gov vote {proposal_id} for`), then execute it"
        )


def pass_proposal(governor: Governor, target: str, calldata: bytes, description: str) -> int:
    """Propose a call, vote for it with every member key the Env holds, wait, execute it."""
    env = governor.env
    proposal_id = governor.propose(target, calldata, description)
    members = governor.members()
    for account in env.accounts:
        if members.get(account, 0) > 0:
            governor.vote(proposal_id, Support.FOR, sender=account)
    proposal = governor.proposal(proposal_id)
    latest = env.block_number  # seals: the next transaction lands in latest + 1
    if proposal.executable_after > latest:
        env.mine(proposal.executable_after - latest)
    state = governor.state(proposal_id)
    if state != ProposalState.READY:
        raise ProposalNotPassedError(proposal_id, state, description)
    governor.execute(proposal_id)
    return proposal_id
