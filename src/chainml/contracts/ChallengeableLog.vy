# pragma version ~=0.4.3
"""
@title ChallengeableLog
@notice A DecisionLog whose anchored heads can be proven wrong: optimistic verification of
        chainml decisions. The operator scores off chain and anchors tree heads as with
        DecisionLog, backed by an ETH bond. Each head opens a challenge window (in blocks).
        Anyone holding a record of that head and its inclusion proof may call `challenge`: the
        contract decodes the ABI record, checks it is a leaf of the head, looks up in the
        ModelRegistry the contract approved for the record's model id *at the anchor's block*,
        re-executes it on the record's features (or on features the challenger supplies that
        hash to the record's input commitment) and compares score and label. On a mismatch,
        a share of the bond goes to the challenger, the head is marked faulty and the log
        halts (no further anchor) until governance (the owner) clears it. A correct record's
        challenge reverts with "record is correct". After the window the head is final and a
        challenge reverts with "challenge window closed".
@dev    Why a new contract that *imports* DecisionLog rather than new code in DecisionLog:
        a plain log needs neither a bond nor a registry, and its anchor cost (the honest
        case, <= 1 gas a decision at 100k batches) must not grow for users who do not want
        challenges. Vyper 0.4 modules let this contract initialize DecisionLog's storage and
        reuse its roles, its RFC 9162 consistency and inclusion checks and its views
        unchanged (exports below), so the Merkle code exists once. Only `anchor` is its own:
        besides the core's checks it refuses a halted or under-bonded log and packs the
        head's challenge data into the slot where DecisionLog keeps `anchored_at`, so an
        anchor costs the same number of new storage slots as DecisionLog's.

        Which head a record belongs to: the first head that contains it, i.e. index in
        [previous_size, size) of head `size`. A record that an earlier, final head already
        covered cannot be challenged through a later head, so finality is per record.

        Faults (the `reason` of `Slashed`):
          1 WRONG_SCORE     the model's score differs from the record's
          2 WRONG_LABEL     the score agrees, the label is not (score >= THRESHOLD)
          3 NOT_APPROVED    the record's model was not approved at the anchor's block, or
                            was approved for another use than this log's
          4 BAD_COMMITMENT  the record carries features that do not hash to its commitment
          5 MALFORMED       the leaf is not a canonical version-1 decision record
          6 WRONG_SEQUENCE  the record's sequence is not its index in the log
          7 REJECTED        the model contract refuses the features (length or range), with
                            gas to spare (an out-of-gas re-execution reverts instead)
        What is not a fault (reverts, the challenger pays only gas): a record not in the
        head, a head not anchored or already faulty, a closed window, supplied features that
        do not match the commitment, an approved model without a contract, a contract whose
        code hash is not the one the registry recorded.
"""

import DecisionLog as core

initializes: core

exports: (
    core.owner,
    core.is_anchorer,
    core.size,
    core.roots,
    core.root,
    core.verify_inclusion,
    core.verify_leaf,
    core.transfer_ownership,
    core.add_anchorer,
    core.remove_anchorer,
)


interface Registry:
    def binding(model_id: bytes32) -> (address, bytes32, uint256, uint256, bytes32): view


LEAF_PREFIX: constant(bytes1) = 0x00
EMPTY_TREE_ROOT: constant(bytes32) = 0xe3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855
MAX_PROOF: constant(uint256) = 64
MAX_TREE_SIZE: constant(uint256) = 2**63 - 1
# Largest record a challenge accepts: 12 head words + MAX_FEATURES features.
MAX_FEATURES: constant(uint256) = 256
MAX_RECORD: constant(uint256) = 32 * (12 + MAX_FEATURES)
MAX_FEATURE_BYTES: constant(uint256) = 32 * (2 + MAX_FEATURES)
RECORD_VERSION: constant(uint256) = 1
BPS: constant(uint256) = 10_000

WRONG_SCORE: constant(uint8) = 1
WRONG_LABEL: constant(uint8) = 2
NOT_APPROVED: constant(uint8) = 3
BAD_COMMITMENT: constant(uint8) = 4
MALFORMED: constant(uint8) = 5
WRONG_SEQUENCE: constant(uint8) = 6
REJECTED: constant(uint8) = 7

# Head states (head_state()).
UNKNOWN: constant(uint8) = 0
OPEN: constant(uint8) = 1
FINAL: constant(uint8) = 2
FAULTY: constant(uint8) = 3

MASK64: constant(uint256) = 2**64 - 1
FAULTY_BIT: constant(uint256) = 2**192

REGISTRY: public(immutable(address))
# keccak256 of the use this log serves ("fraud-screening", ...); zero: any approved use.
USE_HASH: public(immutable(bytes32))

# Per anchored size, one slot: anchored block (bits 0-63), window end (64-127), previous
# size (128-191), faulty (bit 192). Read it through head().
_heads: HashMap[uint256, uint256]

window: public(uint256)  # blocks a new head stays open to challenges
required_bond: public(uint256)  # wei the bond must hold for an anchor to be accepted
reward_bps: public(uint256)  # share of the bond paid to a successful challenger
bond: public(uint256)  # wei held as the operator's bond
halted: public(bool)  # a head was proven faulty; governance must clear it
faulty_heads: public(uint256)  # how many heads were proven faulty, ever

event Anchored:
    size: indexed(uint256)
    root: bytes32
    previous_size: uint256
    anchorer: indexed(address)

event BondPosted:
    by: indexed(address)
    amount: uint256
    bond: uint256

event BondWithdrawn:
    to: indexed(address)
    amount: uint256
    bond: uint256

event Slashed:
    size: indexed(uint256)
    index: uint256
    reason: uint8
    challenger: indexed(address)
    reward: uint256

event FaultCleared:
    by: indexed(address)

event ParametersChanged:
    window: uint256
    required_bond: uint256
    reward_bps: uint256


@deploy
def __init__(registry: address, use: String[64], window: uint256, required_bond: uint256):
    """
    @notice The deployer becomes the owner and first anchorer (as in DecisionLog).
    @param registry The ModelRegistry whose approvals records are checked against.
    @param use The use this log's models must be approved for; empty accepts any use.
    @param window Blocks each head stays open to challenges (at least 1).
    @param required_bond Wei the bond must hold before an anchor is accepted.
    """
    core.__init__()
    assert registry.is_contract, "registry has no code"
    assert window > 0 and window <= MASK64, "window must be in [1, 2^64)"
    REGISTRY = registry
    # keccak256(use) * (len(use) != 0), as a conditional assignment of an immutable will not compile
    USE_HASH = convert(convert(keccak256(use), uint256) * convert(len(use) != 0, uint256), bytes32)
    self.window = window
    self.required_bond = required_bond
    self.reward_bps = BPS
    log ParametersChanged(window=window, required_bond=required_bond, reward_bps=BPS)


# -- governance (the owner) ----------------------------------------------------------------


@external
def set_parameters(window: uint256, required_bond: uint256, reward_bps: uint256):
    """
    @notice Change the window (for heads anchored from now on), the required bond and the
            challenger's share of the bond (basis points). Owner only.
    """
    assert msg.sender == core.owner, "only the owner"
    assert window > 0 and window <= MASK64, "window must be in [1, 2^64)"
    assert reward_bps <= BPS, "reward share above 100%"
    self.window = window
    self.required_bond = required_bond
    self.reward_bps = reward_bps
    log ParametersChanged(window=window, required_bond=required_bond, reward_bps=reward_bps)


@external
def clear_fault():
    """
    @notice Let the log anchor again after a proven fault. Owner only. The faulty heads stay
            marked faulty for good.
    """
    assert msg.sender == core.owner, "only the owner"
    assert self.halted, "log is not halted"
    self.halted = False
    log FaultCleared(by=msg.sender)


# -- the bond ------------------------------------------------------------------------------


@payable
@external
def post_bond():
    """
    @notice Add msg.value to the operator's bond (anyone may post).
    """
    assert msg.value > 0, "no value sent"
    self.bond += msg.value
    log BondPosted(by=msg.sender, amount=msg.value, bond=self.bond)


@nonreentrant
@external
def withdraw_bond(amount: uint256):
    """
    @notice Pay `amount` of the bond to the calling anchorer; only while the log is not
            halted and its latest head is final (no window open).
    """
    assert core.is_anchorer[msg.sender], "only an anchorer"
    assert not self.halted, "log is halted"
    latest: uint256 = self._heads[core.size]
    assert block.number > (latest >> 64) & MASK64, "a challenge window is open"
    assert amount <= self.bond, "amount exceeds the bond"
    self.bond -= amount
    log BondWithdrawn(to=msg.sender, amount=amount, bond=self.bond)
    raw_call(msg.sender, b"", value=amount)


# -- anchoring -----------------------------------------------------------------------------


@external
def anchor(new_size: uint256, new_root: bytes32, proof: DynArray[bytes32, MAX_PROOF]):
    """
    @notice As DecisionLog.anchor, for a log that is not halted and whose bond holds at
            least `required_bond`; the new head's challenge window opens now.
    """
    assert core.is_anchorer[msg.sender], "only an anchorer"
    old_size: uint256 = core.size
    old_root: bytes32 = core.roots[old_size]
    if new_size == old_size:
        if new_root == old_root or (old_size == 0 and new_root == EMPTY_TREE_ROOT):
            return
        raise "conflicting root for anchored size"
    assert not self.halted, "log halted: a head was proven faulty; governance must clear it"
    assert self.bond >= self.required_bond, "bond below the required bond: post_bond first"
    assert new_size > old_size, "log cannot shrink"
    assert new_size <= MAX_TREE_SIZE, "size beyond the log's bound (2^63 - 1)"
    assert new_root != empty(bytes32), "root must not be empty"
    if old_size == 0:
        assert len(proof) == 0, "invalid consistency proof"
    else:
        if not core._consistent(old_size, old_root, new_size, new_root, proof):
            raise "invalid consistency proof"
    core.size = new_size
    core.roots[new_size] = new_root
    self._heads[new_size] = block.number | ((block.number + self.window) << 64) | (old_size << 128)
    log Anchored(size=new_size, root=new_root, previous_size=old_size, anchorer=msg.sender)


@view
@external
def head(size: uint256) -> (uint256, uint256, uint256, bool):
    """
    @notice (anchored_block, window_end, previous_size, faulty) of the head of `size`; all
            zero when `size` was never anchored. Challenges are accepted up to and including
            block window_end.
    """
    packed: uint256 = self._heads[size]
    return packed & MASK64, (packed >> 64) & MASK64, (packed >> 128) & MASK64, packed & FAULTY_BIT != 0


@view
@external
def anchored_at(size: uint256) -> uint256:
    """
    @notice The block where the head of `size` was anchored (0: never), as in DecisionLog.
    """
    return self._heads[size] & MASK64


@view
@external
def head_state(size: uint256) -> uint8:
    """
    @notice 0 unknown (never anchored), 1 open (challengeable), 2 final, 3 faulty.
    """
    packed: uint256 = self._heads[size]
    if packed == 0:
        return UNKNOWN
    if packed & FAULTY_BIT != 0:
        return FAULTY
    if block.number > (packed >> 64) & MASK64:
        return FINAL
    return OPEN


# -- challenges ----------------------------------------------------------------------------


@nonreentrant
@external
def challenge(
    record: Bytes[MAX_RECORD],
    index: uint256,
    size: uint256,
    proof: DynArray[bytes32, MAX_PROOF],
    features: Bytes[MAX_FEATURE_BYTES],
) -> uint8:
    """
    @notice Prove the record at `index` of the head of `size` wrong. Returns the fault's
            reason (see the rules above) after paying the challenger; reverts when the
            record is correct or the challenge is not admissible.
    @param record The record's leaf data (its ABI encoding).
    @param index Its index in the log.
    @param size The anchored head that first contains it (index in [previous_size, size)).
    @param proof RFC 9162 inclusion proof of the leaf in that head.
    @param features abi.encode(int256[] features) for a record without features (they must
           hash to its input_commitment); empty when the record carries its features.
    """
    packed: uint256 = self._heads[size]
    assert packed != 0, "head not anchored"
    assert packed & FAULTY_BIT == 0, "head already proven faulty"
    assert block.number <= (packed >> 64) & MASK64, "challenge window closed"
    assert index >= (packed >> 128) & MASK64, "record belongs to an earlier head"
    assert core._included(sha256(concat(LEAF_PREFIX, record)), index, size, proof), (
        "record is not included in the head"
    )
    reason: uint8 = self._fault(record, index, packed & MASK64, features)
    assert reason != 0, "record is correct"

    self._heads[size] = packed | FAULTY_BIT
    self.halted = True
    self.faulty_heads += 1
    reward: uint256 = self.bond * self.reward_bps // BPS
    self.bond -= reward
    log Slashed(size=size, index=index, reason=reason, challenger=msg.sender, reward=reward)
    if reward > 0:
        raw_call(msg.sender, b"", value=reward)
    return reason


@internal
def _fault(
    record: Bytes[MAX_RECORD], index: uint256, anchored: uint256, features: Bytes[MAX_FEATURE_BYTES]
) -> uint8:
    """The fault of an included record (0: none), or a revert when none can be shown."""
    # Canonical version-1 encoding, as chainml.log.record writes it: outer offset 32, ten
    # head words, the features' offset 320, their count, the features.
    length: uint256 = len(record)
    if length < 384 or length % 32 != 0:
        return MALFORMED
    count: uint256 = extract32(record, 352, output_type=uint256)
    if (
        extract32(record, 0, output_type=uint256) != 32
        or extract32(record, 32, output_type=uint256) != RECORD_VERSION
        or extract32(record, 192, output_type=uint256) != 320
        or length != 384 + 32 * count
        or extract32(record, 64, output_type=uint256) > MASK64
        or extract32(record, 96, output_type=uint256) > MASK64
        or extract32(record, 256, output_type=uint256) > 255
    ):
        return MALFORMED
    if extract32(record, 64, output_type=uint256) != index:
        return WRONG_SEQUENCE

    # The model approved for this record's model id at the anchor's block.
    model_id: bytes32 = convert(slice(record, 128, 32), bytes32)
    target: address = empty(address)
    codehash: bytes32 = empty(bytes32)
    approved: uint256 = 0
    retired: uint256 = 0
    use_hash: bytes32 = empty(bytes32)
    target, codehash, approved, retired, use_hash = staticcall Registry(REGISTRY).binding(model_id)
    if approved == 0 or approved > anchored or (retired != 0 and retired <= anchored):
        return NOT_APPROVED
    if USE_HASH != empty(bytes32) and use_hash != USE_HASH:
        return NOT_APPROVED
    assert target != empty(address), "the approved model has no contract to re-execute"
    assert target.codehash == codehash, "the model contract's code is not the one registered"

    # The features: the record's own (which must hash to its commitment), or the challenger's.
    commitment: bytes32 = convert(slice(record, 160, 32), bytes32)
    x: Bytes[MAX_RECORD] = b""
    n: uint256 = count
    if count > 0:
        assert len(features) == 0, "the record carries its features: supply none"
        if sha256(concat(convert(32, bytes32), slice(record, 352, 32 + 32 * count))) != commitment:
            return BAD_COMMITMENT
        x = slice(record, 384, 32 * count)
    else:
        assert len(features) >= 64, "the record has no features: supply them"
        assert sha256(features) == commitment, "features do not match the record's input commitment"
        n = convert(slice(features, 32, 32), uint256)
        assert convert(slice(features, 0, 32), uint256) == 32 and len(features) == 64 + 32 * n, (
            "features are not abi.encode(int256[])"
        )
        x = slice(features, 64, 32 * n)

    # Re-execute: decide(int256[n]) -> (score, score >= THRESHOLD).
    selector: bytes4 = convert(
        slice(keccak256(concat("decide(int256[", uint2str(n), "])")), 0, 4), bytes4
    )
    before: uint256 = msg.gas
    ok: bool = False
    out: Bytes[64] = b""
    ok, out = raw_call(target, concat(selector, x), max_outsize=64, revert_on_failure=False, is_static_call=True)
    if not ok or len(out) != 64:
        # An out-of-gas callee leaves at most 1/64 of the gas the call started with.
        assert msg.gas > before // 64 + 5_000, "re-execution ran out of gas: send more gas"
        return REJECTED
    score: int256 = convert(slice(out, 0, 32), int256)
    decision: uint256 = convert(slice(out, 32, 32), uint256)
    if score != convert(slice(record, 224, 32), int256):
        return WRONG_SCORE
    if decision != extract32(record, 256, output_type=uint256):
        return WRONG_LABEL
    return 0
