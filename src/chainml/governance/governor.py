"""The ``Governor`` contract from Python: propose calls, vote, execute, read proposal state.

:meth:`Governor.state` computes a proposal's state with the contract's own rules for the
block the next transaction lands in (the latest block + 1), so "Ready" means an ``execute``
sent now succeeds, on every backend (nodes disagree on ``block.number`` inside a view call).

A passed proposal is executable only in its execution window, the ``execution_window`` blocks
after the timelock; after the window it is ``EXPIRED`` and never executes.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import IntEnum
from typing import Any

from chainml import contracts
from chainml.chain import Contract, Env, Receipt
from chainml.errors import InvalidInputError, NotFoundError

CONTRACT_NAME = "Governor"
BPS = 10_000
#: Blocks after the timelock in which a passed proposal may be executed, unless told otherwise:
#: ten default voting periods. On a real network choose it in wall-clock terms (a day is about
#: 7,200 blocks on Ethereum mainnet).
DEFAULT_EXECUTION_WINDOW = 100
MAX_BLOCKS = 2**64  # the contract's bound on every block count


class Support(IntEnum):
    """A vote."""

    AGAINST = 0
    FOR = 1
    ABSTAIN = 2

    @classmethod
    def parse(cls, value: Support | int | str) -> Support:
        """From a Support, 0/1/2, or ``for``/``against``/``abstain``."""
        try:
            if isinstance(value, str) and not value.isdigit():
                return cls[value.upper()]
            return cls(int(value))
        except (KeyError, ValueError):
            raise InvalidInputError(
                f"a vote is for, against or abstain (1, 0, 2), got {value!r}"
            ) from None


class ProposalState(IntEnum):
    """Where a proposal stands (values as the contract's ``state()``)."""

    ACTIVE = 0  # voting open
    DEFEATED = 1  # closed without quorum or majority
    SUCCEEDED = 2  # passed; timelock running
    READY = 3  # passed; executable now
    EXECUTED = 4
    CANCELED = 5
    EXPIRED = 6  # passed, but not executed within the execution window


@dataclass(frozen=True)
class Proposal:
    """A proposal as the contract records it, plus its state at the next block."""

    id: int
    proposer: str
    target: str
    calldata: bytes
    description: str
    start_block: int
    end_block: int  # last block that accepts votes
    executable_after: int  # execute lands in a later block than this one
    expires_after: int  # ... and at the latest in this one
    total_weight: int  # snapshot: the quorum's base
    quorum_weight: int  # votes (any kind) needed for quorum
    for_votes: int
    against_votes: int
    abstain_votes: int
    executed: bool
    canceled: bool
    state: ProposalState

    @property
    def votes_cast(self) -> int:
        """Weight of every vote cast (for, against and abstain)."""
        return self.for_votes + self.against_votes + self.abstain_votes

    def facts(self, latest_block: int) -> dict[str, Any]:
        """JSON-ready values; block counts are relative to ``latest_block``."""
        return {
            "id": self.id,
            "state": self.state.name.lower(),
            "description": self.description,
            "proposer": self.proposer,
            "target": self.target,
            "calldata": "0x" + self.calldata.hex(),
            "votes": {
                "for": self.for_votes,
                "against": self.against_votes,
                "abstain": self.abstain_votes,
            },
            "quorum": {
                "cast": self.votes_cast,
                "needed": self.quorum_weight,
                "total_weight": self.total_weight,
                "reached": self.votes_cast >= self.quorum_weight,
            },
            "start_block": self.start_block,
            "end_block": self.end_block,
            "executable_after": self.executable_after,
            "expires_after": self.expires_after,
            # blocks in which a vote can still land; blocks to mine before execute succeeds;
            # blocks in which an execute can still land
            "voting_blocks_left": max(0, self.end_block - latest_block),
            "blocks_until_executable": max(0, self.executable_after - latest_block),
            "execution_blocks_left": max(
                0, self.expires_after - max(latest_block, self.executable_after)
            ),
        }


class Governor:
    """A handle on one deployed Governor."""

    def __init__(self, contract: Contract) -> None:
        self.contract = contract
        self.env = contract.env

    @classmethod
    def deploy(
        cls,
        env: Env,
        members: dict[str, int],
        quorum_bps: int = 5000,
        majority_bps: int = 5000,
        voting_period_blocks: int = 10,
        timelock_blocks: int = 5,
        execution_window_blocks: int = DEFAULT_EXECUTION_WINDOW,
    ) -> Governor:
        """Deploy a Governor with ``members`` (address -> weight) and these thresholds."""
        if not members:
            raise InvalidInputError("a governor needs at least one member")
        for address, weight in members.items():
            if not isinstance(weight, int) or isinstance(weight, bool) or weight <= 0:
                raise InvalidInputError(f"member {address} needs a positive weight, got {weight!r}")
        limits = {
            "quorum_bps": (quorum_bps, 0, BPS),
            "majority_bps": (majority_bps, 0, BPS - 1),
            "voting_period_blocks": (voting_period_blocks, 1, MAX_BLOCKS),
            "timelock_blocks": (timelock_blocks, 0, MAX_BLOCKS),
            "execution_window_blocks": (execution_window_blocks, 1, MAX_BLOCKS),
        }
        for name, (value, low, high) in limits.items():
            if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
                bound = f"{low}..{high}"
                raise InvalidInputError(f"{name} must be an integer {bound}, got {value!r}")
        compiled = env.compile(contracts.source_path(CONTRACT_NAME))
        args = (
            quorum_bps,
            majority_bps,
            voting_period_blocks,
            timelock_blocks,
            execution_window_blocks,
        )
        return cls(env.deploy(compiled, list(members), list(members.values()), *args))

    @classmethod
    def at(cls, env: Env, address: str) -> Governor:
        """The Governor deployed at ``address`` (NotFoundError if there is no code)."""
        return cls(env.at(address, env.compile(contracts.source_path(CONTRACT_NAME))))

    @property
    def address(self) -> str:
        """The contract's address."""
        return self.contract.address

    def parameters(self) -> dict[str, int]:
        """Quorum, majority (basis points); voting period, timelock, execution window (blocks)."""
        c = self.contract
        return {
            "quorum_bps": int(c.quorum_bps()),
            "majority_bps": int(c.majority_bps()),
            "voting_period": int(c.voting_period()),
            "timelock_blocks": int(c.timelock_blocks()),
            "execution_window": int(c.execution_window()),
        }

    def members(self) -> dict[str, int]:
        """Current members and their weights (from the MemberChanged events)."""
        weights: dict[str, int] = {}
        for event in self.contract.events("MemberChanged"):
            weights[str(event["member"])] = int(event["new_weight"])
        return {member: weight for member, weight in weights.items() if weight > 0}

    # -- transactions ---------------------------------------------------------------------

    def propose(
        self, target: str, calldata: bytes, description: str = "", *, sender: str | None = None
    ) -> int:
        """Propose calling ``target`` with ``calldata``; returns the proposal id."""
        receipt = self.contract.transact("propose", target, calldata, description, sender=sender)
        (event,) = self.contract.decode_receipt(receipt, "ProposalCreated")
        return int(event["id"])

    def propose_call(
        self,
        contract: Contract,
        function_name: str,
        *args: Any,
        description: str = "",
        sender: str | None = None,
    ) -> int:
        """Propose calling ``contract.function_name(*args)``, encoded with its ABI."""
        calldata = contract.function(function_name, len(args)).encode_call(args)
        return self.propose(contract.address, calldata, description, sender=sender)

    def vote(
        self, proposal_id: int, support: Support | int | str, *, sender: str | None = None
    ) -> Receipt:
        """Vote on ``proposal_id`` (for, against or abstain)."""
        choice = Support.parse(support)
        return self.contract.transact("vote", proposal_id, int(choice), sender=sender)

    def execute(self, proposal_id: int, *, sender: str | None = None) -> Receipt:
        """Execute a passed proposal in its execution window (after the timelock, not expired)."""
        return self.contract.transact("execute", proposal_id, sender=sender)

    def cancel(self, proposal_id: int, *, sender: str | None = None) -> Receipt:
        """Cancel a proposal (its proposer only) before it is executed."""
        return self.contract.transact("cancel", proposal_id, sender=sender)

    # -- reading --------------------------------------------------------------------------

    def count(self) -> int:
        """Number of proposals made so far (ids run from 1 to this)."""
        return int(self.contract.proposal_count())

    def proposal(self, proposal_id: int) -> Proposal:
        """Proposal ``proposal_id``; NotFoundError for an id never used."""
        if not isinstance(proposal_id, int) or not 1 <= proposal_id <= self.count():
            raise NotFoundError(f"there is no proposal {proposal_id} in governor {self.address}")
        raw: tuple[Any, ...] = self.contract.proposal(proposal_id)
        proposer, target, calldata, description, start, end, _, total = raw[:8]
        for_votes, against, abstain, executed, canceled = raw[8:]
        params = self.parameters()
        recorded = Proposal(
            id=proposal_id,
            proposer=str(proposer),
            target=str(target),
            calldata=bytes(calldata),
            description=str(description),
            start_block=int(start),
            end_block=int(end),
            executable_after=int(end) + params["timelock_blocks"],
            expires_after=int(end) + params["timelock_blocks"] + params["execution_window"],
            total_weight=int(total),
            quorum_weight=-(-params["quorum_bps"] * int(total) // BPS),  # rounded up
            for_votes=int(for_votes),
            against_votes=int(against),
            abstain_votes=int(abstain),
            executed=bool(executed),
            canceled=bool(canceled),
            state=ProposalState.ACTIVE,
        )
        state = _state(recorded, self.env.block_number + 1, params["majority_bps"])
        return replace(recorded, state=state)

    def state(self, proposal_id: int) -> ProposalState:
        """The state a transaction sent now would see (see the module docstring)."""
        return self.proposal(proposal_id).state

    def proposals(self) -> list[Proposal]:
        """Every proposal, oldest first."""
        return [self.proposal(i) for i in range(1, self.count() + 1)]

    def ballot(self, proposal_id: int, voter: str) -> tuple[Support, int] | None:
        """How ``voter`` voted on ``proposal_id`` and with which weight; None if it did not."""
        voted, support, weight = self.contract.ballot(proposal_id, voter)
        return (Support(support), int(weight)) if voted else None


def _state(p: Proposal, block: int, majority_bps: int) -> ProposalState:
    """The contract's ``_state`` rule for ``p``, evaluated in ``block``."""
    if p.executed:
        return ProposalState.EXECUTED
    if p.canceled:
        return ProposalState.CANCELED
    if block <= p.end_block:
        return ProposalState.ACTIVE
    quorum = p.votes_cast >= p.quorum_weight
    majority = p.for_votes * BPS > majority_bps * (p.for_votes + p.against_votes)
    if not (quorum and majority):
        return ProposalState.DEFEATED
    if block <= p.executable_after:
        return ProposalState.SUCCEEDED
    if block <= p.expires_after:
        return ProposalState.READY
    return ProposalState.EXPIRED
