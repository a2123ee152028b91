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
        unchanged (exports below), so the Merkle code exists once. Only `anchor` (and the
        size/root views over its packed state) is its own: besides the core's checks it
        refuses a halted or under-bonded log. Its ABI is a superset of DecisionLog's.

        Storage layout, chosen for gas: the honest case pays one anchor per batch, and it
        must cost what DecisionLog's does (<= 1 gas a decision at 100k decisions a batch), so
        everything an anchor reads or writes besides the root lives in one slot, `_state`:
        size (bits 0-63), bond (64-143, wei), required bond (144-223, wei), window (224-253,
        blocks) and halted (bit 255). Each head's challenge data takes the slot DecisionLog
        uses for `anchored_at`: anchored block (0-63), window end (64-127), previous size
        (128-191), faulty (bit 192). A challenge therefore reads 3 cold slots of this
        contract and writes 2 warm ones. The challenger's share of the bond is immutable.

        Which head a record belongs to: the first head that contains it, i.e. index in
        [previous_size, size) of head `size`. A record that an earlier, final head already
        covered cannot be challenged through a later head, so finality is per record.
        "Approved at the anchor's block" B: approved_block <= B < retired_block (retired 0:
        never), so a retirement in B itself counts (the chain does not order the two).
        Records of at most MAX_FEATURES (128) features can be challenged: the bound keeps
        the memory a challenge touches, and so its gas, small.

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
    core.roots,
    core.verify_inclusion,
    core.verify_leaf,
    core.transfer_ownership,
    core.add_anchorer,
    core.remove_anchorer,
)


interface Registry:
    def binding(model_id: bytes32) -> (address, bytes32, uint256, uint256, uint256): view


LEAF_PREFIX: constant(bytes1) = 0x00
EMPTY_TREE_ROOT: constant(bytes32) = 0xe3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855
MAX_PROOF: constant(uint256) = 64
MAX_TREE_SIZE: constant(uint256) = 2**63 - 1
# Largest record a challenge accepts: 12 head words + MAX_FEATURES features.
MAX_FEATURES: constant(uint256) = 128
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
MASK80: constant(uint256) = 2**80 - 1
MASK30: constant(uint256) = 2**30 - 1
FAULTY_BIT: constant(uint256) = 2**192
HALTED_BIT: constant(uint256) = 2**255
# _state's fields: their shifts
BOND_AT: constant(uint256) = 64
REQUIRED_AT: constant(uint256) = 144
WINDOW_AT: constant(uint256) = 224
# _state without the bond field
NOT_BOND: constant(uint256) = max_value(uint256) ^ (MASK80 << BOND_AT)

REGISTRY: public(immutable(address))
# keccak256(use) >> 128 for the use this log serves ("fraud-screening", ...); 0: any use.
USE_TAG: public(immutable(uint256))
# Share of the bond (basis points) paid to a successful challenger; the rest stays bonded.
REWARD_BPS: public(immutable(uint256))

_state: uint256
_heads: HashMap[uint256, uint256]
# The longest window ever set: no head anchored before block B is open after B + this, which
# is what withdraw_bond checks (windows may shrink, so the latest head may not end last).
longest_window: public(uint256)

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


@deploy
def __init__(
    registry: address, use: String[64], window: uint256, required_bond: uint256, reward_bps: uint256
):
    """
    @notice The deployer becomes the owner and first anchorer (as in DecisionLog).
    @param registry The ModelRegistry whose approvals records are checked against.
    @param use The use this log's models must be approved for; empty accepts any use.
    @param window Blocks each head stays open to challenges, in [1, 2^30).
    @param required_bond Wei the bond must hold before an anchor is accepted (< 2^80).
    @param reward_bps Share of the bond a successful challenger receives (basis points).
    """
    core.__init__()
    assert registry.is_contract, "registry has no code"
    assert reward_bps <= BPS, "reward share above 100%"
    REGISTRY = registry
    # keccak256(use) >> 128, or 0 for any use (an immutable cannot be assigned in a branch)
    USE_TAG = (convert(keccak256(use), uint256) >> 128) * convert(len(use) != 0, uint256)
    REWARD_BPS = reward_bps
    self._state = self._with_parameters(0, window, required_bond)


@internal
def _with_parameters(state: uint256, window: uint256, required_bond: uint256) -> uint256:
    assert window > 0 and window <= MASK30, "window must be in [1, 2^30) blocks"
    assert required_bond <= MASK80, "required bond must be below 2^80 wei"
    log ParametersChanged(window=window, required_bond=required_bond)
    self.longest_window = max(self.longest_window, window)
    kept: uint256 = state & (MASK64 | (MASK80 << BOND_AT) | HALTED_BIT)
    return kept | (required_bond << REQUIRED_AT) | (window << WINDOW_AT)


# -- reading the state ---------------------------------------------------------------------


@view
@external
def size() -> uint256:
    """
    @notice Size of the latest anchored head (0 before the first anchor).
    """
    return self._state & MASK64


@view
@external
def root() -> bytes32:
    """
    @notice Root of the latest anchored head (empty(bytes32) before the first anchor).
    """
    return core.roots[self._state & MASK64]


@view
@external
def bond() -> uint256:
    """
    @notice Wei held as the operator's bond.
    """
    return (self._state >> BOND_AT) & MASK80


@view
@external
def required_bond() -> uint256:
    """
    @notice Wei the bond must hold for an anchor to be accepted.
    """
    return (self._state >> REQUIRED_AT) & MASK80


@view
@external
def window() -> uint256:
    """
    @notice Blocks a new head stays open to challenges.
    """
    return (self._state >> WINDOW_AT) & MASK30


@view
@external
def halted() -> bool:
    """
    @notice True after a proven fault, until the owner clears it: no anchor is accepted.
    """
    return self._state & HALTED_BIT != 0


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


# -- governance (the owner) ----------------------------------------------------------------


@external
def set_parameters(window: uint256, required_bond: uint256):
    """
    @notice Change the window (for heads anchored from now on) and the required bond. Owner
            only.
    """
    assert msg.sender == core.owner, "only the owner"
    self._state = self._with_parameters(self._state, window, required_bond)


@external
def clear_fault():
    """
    @notice Let the log anchor again after a proven fault. Owner only. The faulty heads stay
            marked faulty for good.
    """
    assert msg.sender == core.owner, "only the owner"
    state: uint256 = self._state
    assert state & HALTED_BIT != 0, "log is not halted"
    self._state = state ^ HALTED_BIT
    log FaultCleared(by=msg.sender)


# -- the bond ------------------------------------------------------------------------------


@payable
@external
def post_bond():
    """
    @notice Add msg.value to the operator's bond (anyone may post).
    """
    assert msg.value > 0, "no value sent"
    state: uint256 = self._state
    bond: uint256 = ((state >> BOND_AT) & MASK80) + msg.value
    assert bond <= MASK80, "bond would exceed 2^80 wei"
    self._state = (state & NOT_BOND) | (bond << BOND_AT)
    log BondPosted(by=msg.sender, amount=msg.value, bond=bond)


@nonreentrant
@external
def withdraw_bond(amount: uint256):
    """
    @notice Pay `amount` of the bond to the calling anchorer; only while the log is not
            halted and no head can still be open: longest_window blocks after the latest
            anchor.
    """
    assert core.is_anchorer[msg.sender], "only an anchorer"
    state: uint256 = self._state
    assert state & HALTED_BIT == 0, "log is halted"
    latest: uint256 = self._heads[state & MASK64] & MASK64
    assert block.number > latest + self.longest_window, "a challenge window may be open"
    bond: uint256 = (state >> BOND_AT) & MASK80
    assert amount <= bond, "amount exceeds the bond"
    self._state = (state & NOT_BOND) | ((bond - amount) << BOND_AT)
    log BondWithdrawn(to=msg.sender, amount=amount, bond=bond - amount)
    raw_call(msg.sender, b"", value=amount)


# -- anchoring -----------------------------------------------------------------------------


@external
def anchor(new_size: uint256, new_root: bytes32, proof: DynArray[bytes32, MAX_PROOF]):
    """
    @notice As DecisionLog.anchor, for a log that is not halted and whose bond holds at
            least its required bond; the new head's challenge window opens now.
    """
    assert core.is_anchorer[msg.sender], "only an anchorer"
    state: uint256 = self._state
    old_size: uint256 = state & MASK64
    old_root: bytes32 = core.roots[old_size]
    if new_size == old_size:
        if new_root == old_root or (old_size == 0 and new_root == EMPTY_TREE_ROOT):
            return
        raise "conflicting root for anchored size"
    assert state & HALTED_BIT == 0, "log halted: a head was proven faulty; governance must clear it"
    assert (state >> BOND_AT) & MASK80 >= (state >> REQUIRED_AT) & MASK80, (
        "bond below the required bond: post_bond first"
    )
    assert new_size > old_size, "log cannot shrink"
    assert new_size <= MAX_TREE_SIZE, "size beyond the log's bound (2^63 - 1)"
    assert new_root != empty(bytes32), "root must not be empty"
    if old_size == 0:
        assert len(proof) == 0, "invalid consistency proof"
    else:
        if not core._consistent(old_size, old_root, new_size, new_root, proof):
            raise "invalid consistency proof"
    self._state = (state ^ old_size) | new_size
    core.roots[new_size] = new_root
    window_end: uint256 = block.number + ((state >> WINDOW_AT) & MASK30)
    self._heads[new_size] = block.number | (window_end << 64) | (old_size << 128)
    log Anchored(size=new_size, root=new_root, previous_size=old_size, anchorer=msg.sender)


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
    head: uint256 = self._heads[size]
    assert head != 0, "head not anchored"
    assert head & FAULTY_BIT == 0, "head already proven faulty"
    assert block.number <= (head >> 64) & MASK64, "challenge window closed"
    assert index >= (head >> 128) & MASK64, "record belongs to an earlier head"
    assert core._included(sha256(concat(LEAF_PREFIX, record)), index, size, proof), (
        "record is not included in the head"
    )

    reason: uint8 = 0
    # Canonical version-1 encoding, as chainml.log.record writes it: outer offset 32, ten
    # head words, the features' offset 320, their count, the features.
    length: uint256 = len(record)
    count: uint256 = 0
    if length < 384 or length % 32 != 0:
        reason = MALFORMED
    else:
        count = extract32(record, 352, output_type=uint256)
        if count > MAX_FEATURES:
            reason = MALFORMED  # no record that long fits here (and 32 * count could overflow)
        elif (
            extract32(record, 0, output_type=uint256) != 32
            or extract32(record, 32, output_type=uint256) != RECORD_VERSION
            or extract32(record, 192, output_type=uint256) != 320
            or length != 384 + 32 * count
            or extract32(record, 96, output_type=uint256) > MASK64
            or extract32(record, 256, output_type=uint256) > 255
        ):
            reason = MALFORMED
        elif extract32(record, 64, output_type=uint256) != index:
            reason = WRONG_SEQUENCE  # (a sequence above 2^64 is no index either)

    if reason == 0:
        # The model approved for the record's model id at the anchor's block (and this use).
        target: address = empty(address)
        codehash: bytes32 = empty(bytes32)
        approved: uint256 = 0
        retired: uint256 = 0
        use_tag: uint256 = 0
        target, codehash, approved, retired, use_tag = staticcall Registry(REGISTRY).binding(
            extract32(record, 128, output_type=bytes32)
        )
        anchored: uint256 = head & MASK64
        if (
            approved == 0
            or approved > anchored
            or (retired != 0 and retired <= anchored)
            or (USE_TAG != 0 and use_tag != USE_TAG)
        ):
            reason = NOT_APPROVED
        else:
            assert target != empty(address), "the approved model has no contract to re-execute"
            assert target.codehash == codehash, "the model contract's code is not the one registered"
            # The features: the record's own (they must hash to its commitment), or the
            # challenger's (they must hash to it, or the challenge is refused).
            commitment: bytes32 = extract32(record, 160, output_type=bytes32)
            n: uint256 = count
            if count == 0:
                assert len(features) >= 64, "the record has no features: supply them"
                n = extract32(features, 32, output_type=uint256)
            # decide(int256[n]) -> (score, score >= THRESHOLD), called on the features
            selector: bytes4 = convert(
                slice(keccak256(concat("decide(int256[", uint2str(n), "])")), 0, 4), bytes4
            )
            payload: Bytes[4 + MAX_RECORD] = b""
            if count > 0:
                assert len(features) == 0, "the record carries its features: supply none"
                if sha256(concat(convert(32, bytes32), slice(record, 352, 32 + 32 * count))) != commitment:
                    reason = BAD_COMMITMENT
                else:
                    payload = concat(selector, slice(record, 384, 32 * count))
            else:
                assert sha256(features) == commitment, (
                    "features do not match the record's input commitment"
                )
                assert extract32(features, 0, output_type=uint256) == 32 and len(features) == 64 + 32 * n, (
                    "features are not abi.encode(int256[])"
                )
                payload = concat(selector, slice(features, 64, 32 * n))
            if reason == 0:
                before: uint256 = msg.gas
                ok: bool = False
                out: Bytes[64] = b""
                ok, out = raw_call(
                    target, payload, max_outsize=64, revert_on_failure=False, is_static_call=True
                )
                if not ok or len(out) != 64:
                    # An out-of-gas callee leaves at most 1/64 of the gas it started with.
                    assert msg.gas > before // 64 + 5_000, "re-execution ran out of gas: send more gas"
                    reason = REJECTED
                elif extract32(out, 0, output_type=int256) != extract32(record, 224, output_type=int256):
                    reason = WRONG_SCORE
                elif extract32(out, 32, output_type=uint256) != extract32(record, 256, output_type=uint256):
                    reason = WRONG_LABEL
    assert reason != 0, "record is correct"

    self._heads[size] = head | FAULTY_BIT
    state: uint256 = self._state
    bond: uint256 = (state >> BOND_AT) & MASK80
    reward: uint256 = bond * REWARD_BPS // BPS
    self._state = (state & NOT_BOND) | ((bond - reward) << BOND_AT) | HALTED_BIT
    log Slashed(size=size, index=index, reason=reason, challenger=msg.sender, reward=reward)
    if reward > 0:
        raw_call(msg.sender, b"", value=reward)
    return reason

