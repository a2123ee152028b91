# pragma version ~=0.4.3
"""
@title Governor
@notice Weighted-member governance for chainml: members propose a call on a target contract
        (for instance ModelRegistry.approve), vote for, against or abstain, and once the vote
        has passed and a timelock has run out anyone may execute the call. Every step is an
        event.
@dev    Rules:
        - Members and weights: set in the constructor; afterwards only by set_member, which
          only this contract itself may call, i.e. only by executing a passed proposal.
          Weight 0 removes a member; the last member cannot be removed.
        - Snapshots: every membership change bumps `version` and checkpoints the member's
          weight. A proposal records the version and the total weight at its creation, and a
          vote counts with the voter's weight at that version: members added or re-weighted
          later do not count for it, and members removed later still do.
        - propose(target, calldata, description): current members only; target not zero.
          Voting opens at once: start = the creation block, end = start + voting_period.
        - vote(id, support): 0 against, 1 for, 2 abstain; once per member per proposal; only
          while block.number <= end and the proposal is not canceled.
        - Outcome, fixed once block.number > end (no early decision):
          quorum   (for + against + abstain) * 10000 >= quorum_bps * snapshot total weight
          majority for * 10000 > majority_bps * (for + against)   (abstentions count for
                   quorum only; with no for/against votes the proposal fails)
        - Timelock, one step: a passed proposal may be executed by anyone once
          block.number > end + timelock_blocks; there is no separate queue transaction.
          (timelock_blocks = 0: executable in the first block after voting closed.)
        - Expiry: a passed proposal may be executed only in the execution window, the
          `execution_window` blocks after the timelock: end + timelock_blocks < block.number
          <= end + timelock_blocks + execution_window. After that it is Expired and never
          executes, so a forgotten approval cannot be replayed long after the world moved on
          (propose again instead). The window is at least one block.
        - execute(id): calls target with calldata; if that call reverts, execute reverts with
          the target's own revert data (its reason), so nothing changes and it may be retried.
          A proposal executes at most once.
        - cancel(id): the proposer, or this contract itself (through a proposal), any time
          before execution. A canceled proposal takes no votes and never executes.
"""

MAX_MEMBERS: constant(uint256) = 64  # constructor arrays only; governance may add more
MAX_CALLDATA: constant(uint256) = 2048
MAX_DESCRIPTION: constant(uint256) = 1024
MAX_RETURN: constant(uint256) = 1024
MAX_WEIGHT: constant(uint256) = 2**128
MAX_BLOCKS: constant(uint256) = 2**64  # bound on every block count: end + timelock + window fits
BPS: constant(uint256) = 10000

# Votes.
VOTE_AGAINST: constant(uint8) = 0
VOTE_FOR: constant(uint8) = 1
VOTE_ABSTAIN: constant(uint8) = 2

# Proposal states.
ACTIVE: constant(uint8) = 0  # voting open
DEFEATED: constant(uint8) = 1  # voting closed without quorum or majority
SUCCEEDED: constant(uint8) = 2  # passed, timelock running
READY: constant(uint8) = 3  # passed, timelock over: executable
EXECUTED: constant(uint8) = 4
CANCELED: constant(uint8) = 5
EXPIRED: constant(uint8) = 6  # passed, but the execution window closed unexecuted


struct Proposal:
    proposer: address
    target: address
    calldata: Bytes[MAX_CALLDATA]
    description: String[MAX_DESCRIPTION]
    start_block: uint256
    end_block: uint256
    version: uint256  # membership version the votes are weighed at
    total_weight: uint256  # total weight at that version: the quorum's base
    for_votes: uint256
    against_votes: uint256
    abstain_votes: uint256
    executed: bool
    canceled: bool


struct Ballot:
    voted: bool
    support: uint8
    weight: uint256


struct Checkpoint:
    version: uint256
    weight: uint256


quorum_bps: public(uint256)
majority_bps: public(uint256)
voting_period: public(uint256)
timelock_blocks: public(uint256)
execution_window: public(uint256)

weight_of: public(HashMap[address, uint256])
total_weight: public(uint256)
member_count: public(uint256)
version: public(uint256)
_checkpoints: HashMap[address, HashMap[uint256, Checkpoint]]
_checkpoint_count: HashMap[address, uint256]

proposal_count: public(uint256)
_proposals: HashMap[uint256, Proposal]
_ballots: HashMap[uint256, HashMap[address, Ballot]]

event MemberChanged:
    member: indexed(address)
    old_weight: uint256
    new_weight: uint256
    total_weight: uint256
    version: uint256

event ProposalCreated:
    id: indexed(uint256)
    proposer: indexed(address)
    target: indexed(address)
    calldata: Bytes[MAX_CALLDATA]
    description: String[MAX_DESCRIPTION]
    start_block: uint256
    end_block: uint256
    total_weight: uint256

event VoteCast:
    id: indexed(uint256)
    voter: indexed(address)
    support: uint8
    weight: uint256

event ProposalExecuted:
    id: indexed(uint256)
    executor: indexed(address)

event ProposalCanceled:
    id: indexed(uint256)
    by: indexed(address)


@deploy
def __init__(
    members: DynArray[address, MAX_MEMBERS],
    weights: DynArray[uint256, MAX_MEMBERS],
    quorum_bps: uint256,
    majority_bps: uint256,
    voting_period: uint256,
    timelock_blocks: uint256,
    execution_window: uint256,
):
    """
    @notice Start with `members` holding `weights` (at membership version 0).
    @param quorum_bps Share of the snapshot total weight that must vote (0..10000).
    @param majority_bps For-votes must exceed this share of for + against (0..9999).
    @param voting_period Blocks a proposal is open for votes after its creation block (> 0).
    @param timelock_blocks Blocks between the end of voting and the first execution.
    @param execution_window Blocks after the timelock in which a passed proposal may be
           executed (> 0); later it is Expired.
    """
    assert len(members) == len(weights), "members and weights differ in length"
    assert len(members) > 0, "no members"
    assert quorum_bps <= BPS, "quorum above 10000 bps"
    assert majority_bps < BPS, "majority must be below 10000 bps"
    assert voting_period > 0, "voting period is zero"
    assert execution_window > 0, "execution window is zero"
    assert voting_period <= MAX_BLOCKS, "voting period too long"
    assert timelock_blocks <= MAX_BLOCKS, "timelock too long"
    assert execution_window <= MAX_BLOCKS, "execution window too long"
    for i: uint256 in range(len(members), bound=MAX_MEMBERS):
        assert weights[i] > 0, "member weight is zero"
        assert self.weight_of[members[i]] == 0, "duplicate member"
        self._set_weight(members[i], weights[i])
    self.quorum_bps = quorum_bps
    self.majority_bps = majority_bps
    self.voting_period = voting_period
    self.timelock_blocks = timelock_blocks
    self.execution_window = execution_window


# -- members -------------------------------------------------------------------------------


@internal
def _set_weight(member: address, weight: uint256):
    assert member != empty(address), "member is the zero address"
    assert weight <= MAX_WEIGHT, "weight too large"
    old: uint256 = self.weight_of[member]
    if old == 0 and weight > 0:
        self.member_count += 1
    elif old > 0 and weight == 0:
        self.member_count -= 1
    self.weight_of[member] = weight
    self.total_weight = self.total_weight - old + weight
    n: uint256 = self._checkpoint_count[member]
    if n > 0 and self._checkpoints[member][n - 1].version == self.version:
        self._checkpoints[member][n - 1].weight = weight  # same version: overwrite
    else:
        self._checkpoints[member][n] = Checkpoint(version=self.version, weight=weight)
        self._checkpoint_count[member] = n + 1
    log MemberChanged(
        member=member,
        old_weight=old,
        new_weight=weight,
        total_weight=self.total_weight,
        version=self.version,
    )


@external
def set_member(member: address, weight: uint256):
    """
    @notice Give `member` voting weight `weight` (0 removes it). Only through a proposal.
    """
    assert msg.sender == self, "only through governance"
    assert weight != self.weight_of[member], "weight unchanged"
    assert self.total_weight - self.weight_of[member] + weight > 0, "cannot remove the last member"
    self.version += 1
    self._set_weight(member, weight)


@view
@internal
def _weight_at(member: address, version: uint256) -> uint256:
    # Binary search for the last checkpoint at or before `version`.
    low: uint256 = 0
    high: uint256 = self._checkpoint_count[member]
    for _: uint256 in range(256):
        if low >= high:
            break
        mid: uint256 = (low + high) // 2
        if self._checkpoints[member][mid].version > version:
            high = mid
        else:
            low = mid + 1
    if low == 0:
        return 0
    return self._checkpoints[member][low - 1].weight


@view
@external
def weight_at(member: address, version: uint256) -> uint256:
    """
    @notice `member`'s weight at membership version `version`.
    """
    return self._weight_at(member, version)


# -- proposals -----------------------------------------------------------------------------


@external
def propose(
    target: address, calldata: Bytes[MAX_CALLDATA], description: String[MAX_DESCRIPTION]
) -> uint256:
    """
    @notice Propose calling `target` with `calldata`; returns the new proposal's id (from 1).
    """
    assert self.weight_of[msg.sender] > 0, "only members may propose"
    assert target != empty(address), "target is the zero address"
    id: uint256 = self.proposal_count + 1
    self.proposal_count = id
    end: uint256 = block.number + self.voting_period
    self._proposals[id] = Proposal(
        proposer=msg.sender,
        target=target,
        calldata=calldata,
        description=description,
        start_block=block.number,
        end_block=end,
        version=self.version,
        total_weight=self.total_weight,
        for_votes=0,
        against_votes=0,
        abstain_votes=0,
        executed=False,
        canceled=False,
    )
    log ProposalCreated(
        id=id,
        proposer=msg.sender,
        target=target,
        calldata=calldata,
        description=description,
        start_block=block.number,
        end_block=end,
        total_weight=self.total_weight,
    )
    return id


@external
def vote(id: uint256, support: uint8):
    """
    @notice Vote on proposal `id`: 0 against, 1 for, 2 abstain; once, while voting is open.
    """
    assert id > 0 and id <= self.proposal_count, "unknown proposal"
    assert support <= VOTE_ABSTAIN, "support must be 0 (against), 1 (for) or 2 (abstain)"
    assert not self._proposals[id].canceled, "proposal was canceled"
    assert block.number <= self._proposals[id].end_block, "voting is closed"
    weight: uint256 = self._weight_at(msg.sender, self._proposals[id].version)
    assert weight > 0, "not a member when the proposal was created"
    assert not self._ballots[id][msg.sender].voted, "already voted"
    self._ballots[id][msg.sender] = Ballot(voted=True, support=support, weight=weight)
    if support == VOTE_FOR:
        self._proposals[id].for_votes += weight
    elif support == VOTE_AGAINST:
        self._proposals[id].against_votes += weight
    else:
        self._proposals[id].abstain_votes += weight
    log VoteCast(id=id, voter=msg.sender, support=support, weight=weight)


@view
@internal
def _state(id: uint256) -> uint8:
    assert id > 0 and id <= self.proposal_count, "unknown proposal"
    p: Proposal = self._proposals[id]
    if p.executed:
        return EXECUTED
    if p.canceled:
        return CANCELED
    if block.number <= p.end_block:
        return ACTIVE
    cast: uint256 = p.for_votes + p.against_votes + p.abstain_votes
    quorum: bool = cast * BPS >= self.quorum_bps * p.total_weight
    majority: bool = p.for_votes * BPS > self.majority_bps * (p.for_votes + p.against_votes)
    if not (quorum and majority):
        return DEFEATED
    if block.number <= p.end_block + self.timelock_blocks:
        return SUCCEEDED
    if block.number <= p.end_block + self.timelock_blocks + self.execution_window:
        return READY
    return EXPIRED


@view
@external
def state(id: uint256) -> uint8:
    """
    @notice 0 Active, 1 Defeated, 2 Succeeded (timelock running), 3 Ready, 4 Executed,
            5 Canceled, 6 Expired (passed, execution window over).
    """
    return self._state(id)


@external
def execute(id: uint256):
    """
    @notice Execute passed proposal `id` in its execution window (after the timelock, before
            it expires); anyone may call this.
    """
    state: uint8 = self._state(id)
    assert state != EXECUTED, "proposal already executed"
    assert state != CANCELED, "proposal was canceled"
    assert state != ACTIVE, "voting is still open"
    assert state != DEFEATED, "proposal was defeated"
    assert state != EXPIRED, "proposal expired: its execution window is over"
    assert state == READY, "timelock has not passed"
    self._proposals[id].executed = True  # before the call: no re-entrant second execution
    success: bool = False
    response: Bytes[MAX_RETURN] = b""
    success, response = raw_call(
        self._proposals[id].target,
        self._proposals[id].calldata,
        max_outsize=MAX_RETURN,
        revert_on_failure=False,
    )
    if not success:
        if len(response) == 0:
            raise "proposal call reverted without a reason"
        raw_revert(response)  # the target's own reason
    log ProposalExecuted(id=id, executor=msg.sender)


@external
def cancel(id: uint256):
    """
    @notice Cancel proposal `id`: its proposer, or the governor itself, before execution.
    """
    assert id > 0 and id <= self.proposal_count, "unknown proposal"
    assert msg.sender == self._proposals[id].proposer or msg.sender == self, (
        "only the proposer or the governor may cancel"
    )
    assert not self._proposals[id].executed, "proposal already executed"
    assert not self._proposals[id].canceled, "proposal already canceled"
    self._proposals[id].canceled = True
    log ProposalCanceled(id=id, by=msg.sender)


@view
@external
def proposal(id: uint256) -> Proposal:
    """
    @notice Everything recorded about proposal `id`.
    """
    assert id > 0 and id <= self.proposal_count, "unknown proposal"
    return self._proposals[id]


@view
@external
def ballot(id: uint256, voter: address) -> Ballot:
    """
    @notice How `voter` voted on proposal `id` (voted False if it did not).
    """
    return self._ballots[id][voter]
