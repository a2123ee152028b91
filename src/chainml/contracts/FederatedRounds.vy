# pragma version ~=0.4.3
"""
@title FederatedRounds
@notice The on-chain record of one federated-learning run: which participants the governor
        admitted, the hash of the global model after every round, and each participant's
        commitment to its own update (hash and sample count), sent from its own account.
@dev    Rules:
        - governor (normally a Governor contract, or the deployer) admits participants; only
          admitted accounts commit updates. An account is admitted once.
        - coordinator commits the global model hash of round r with commit_global(r, hash):
          round 0 is the initial model; round r >= 1 is the aggregate of round r's updates.
          Rounds are committed in order (r == rounds_committed), at most max_rounds + 1 of
          them; after commit_global(r) the contract is open for the updates of round r + 1.
        - commit_update(r, update_hash, samples): an admitted participant, for the open round
          only, once per round (a second commitment for the same round reverts), with a
          non-zero hash and at least one sample. The hash and count are in the event (the
          receipt); storage keeps the participant's last round and, per round, a running
          digest of every commitment in order: keccak256(digest, participant, hash, samples),
          so a reader checks the events it was given against the chain's own state.
        Gas (measured): a participant's commitment ~39,000 (~56,000 for the round's first,
        which creates the digest slot); the coordinator's global commitment ~55,000.
"""

MAX_ROUNDS: constant(uint256) = 10000

governor: public(address)
coordinator: public(address)
max_rounds: public(uint256)
# 0: not admitted; 1: admitted, no update yet; r + 1: last update was for round r
_standing: HashMap[address, uint256]
participant_count: public(uint256)
# number of global models committed so far (round 0 included); updates are for this round
rounds_committed: public(uint256)
global_hash: public(HashMap[uint256, bytes32])
update_digest: public(HashMap[uint256, bytes32])

event ParticipantAdmitted:
    participant: indexed(address)

event GlobalCommitted:
    round: indexed(uint256)
    model_hash: bytes32

event UpdateCommitted:
    round: indexed(uint256)
    participant: indexed(address)
    update_hash: bytes32
    samples: uint256


@deploy
def __init__(governor: address, coordinator: address, max_rounds: uint256):
    assert governor != empty(address), "governor is zero"
    assert coordinator != empty(address), "coordinator is zero"
    assert max_rounds >= 1 and max_rounds <= MAX_ROUNDS, "max_rounds out of range"
    self.governor = governor
    self.coordinator = coordinator
    self.max_rounds = max_rounds


@external
def admit(participant: address):
    """Admit ``participant`` (governor only; once per account)."""
    assert msg.sender == self.governor, "only the governor admits"
    assert participant != empty(address), "participant is zero"
    assert self._standing[participant] == 0, "already admitted"
    self._standing[participant] = 1
    self.participant_count += 1
    log ParticipantAdmitted(participant=participant)


@view
@external
def is_participant(account: address) -> bool:
    """Whether ``account`` was admitted."""
    return self._standing[account] != 0


@view
@external
def last_round(account: address) -> uint256:
    """The last round ``account`` committed an update for (0: none)."""
    standing: uint256 = self._standing[account]
    if standing <= 1:
        return 0
    return standing - 1


@external
def commit_global(round: uint256, model_hash: bytes32):
    """Commit the global model of ``round`` (coordinator only; rounds in order)."""
    assert msg.sender == self.coordinator, "only the coordinator commits global models"
    assert model_hash != empty(bytes32), "model hash is zero"
    assert round == self.rounds_committed, "not the next round"
    assert round <= self.max_rounds, "past the last round"
    self.global_hash[round] = model_hash
    self.rounds_committed = round + 1
    log GlobalCommitted(round=round, model_hash=model_hash)


@external
def commit_update(round: uint256, update_hash: bytes32, samples: uint256):
    """Commit this participant's update of the open ``round`` (once per round)."""
    standing: uint256 = self._standing[msg.sender]
    assert standing != 0, "not a participant"
    assert round == self.rounds_committed and round >= 1, "round is not open"
    assert round <= self.max_rounds, "past the last round"
    assert standing < round + 1, "already committed for this round"
    assert update_hash != empty(bytes32), "update hash is zero"
    assert samples != 0, "no samples"
    self._standing[msg.sender] = round + 1
    self.update_digest[round] = keccak256(
        concat(self.update_digest[round], convert(msg.sender, bytes20), update_hash,
               convert(samples, bytes32))
    )
    log UpdateCommitted(
        round=round, participant=msg.sender, update_hash=update_hash, samples=samples
    )
