# pragma version ~=0.4.3
"""
@title ModelRegistry
@notice The on-chain register of chainml models: each version is identified by its model id
        (the SHA-256 of its canonical artifact) and carries its artifact hash, model-card hash,
        URI and registrant. Only the governor (normally a Governor contract, so every change
        is a passed vote) approves a model for a named use ("fraud-screening", ...), retires
        it, or reassigns a registered entry; anyone may register.
@dev    Rules:
        - register: anyone; the model id and the artifact hash must not be zero; an id is
          registered once and never reused, even after retirement.
        - Status lifecycle: Registered -> Approved -> Retired, or Registered -> Retired.
          Retired is final; an Approved model cannot be approved again (for another use either:
          a model serves at most one use; register a new version for another).
        - approve(model_id, use, replaces, registrant, target): governor only; the model must
          be Registered and `use` non-empty. Compare-and-swap: the call carries what the
          proposal's voters saw, and reverts unless it is still true when it executes:
          `replaces` is the model approved for `use` now (zero: none), `registrant` is the
          model's registrant and `target` its attached contract (zero: none). A stale
          approval therefore never replaces a model approved after it was proposed, and a
          contract attached or an entry reassigned after the vote is never approved by it.
          The model becomes the approved model for `use`; `replaces` (if any) is retired in
          the same transaction.
        - retire(model_id): governor only; a Registered or Approved model becomes Retired; an
          Approved one stops being the approved model for its use (the use then has none).
        - attach_contract(model_id, target): the registrant only, while the model is still
          Registered and only once; records `target` and its code hash, so the code a vote
          approved cannot change afterwards without the hash telling.
        - reassign(model_id, registrant, artifact_hash, card_hash, uri): governor only, while
          the model is Registered (never approved). Squatting defence: anyone who has seen an
          artifact can register its id first, with their own URI and card and their own
          contract attached. Governance replaces such an entry wholesale: the new registrant,
          hashes and URI, and the attached contract is cleared (the new registrant attaches
          theirs). The new registrant must differ from the current one.
        - set_governor: governor only (a governor may hand its role to a new governor).
        - binding(model_id): what a fraud proof needs in one call: the attached contract, its
          code hash, the blocks where the model was approved and retired (0: never) and the
          use tag (keccak256 of the use it was approved for, as uint256, >> 128). A model
          counts as approved at block B when approved_block <= B and (retired_block == 0 or
          B < retired_block): the registry keeps that history, so ChallengeableLog asks
          "approved at the anchor's block", not "approved now". The three are packed in one
          slot (one cold read for a challenge); a retirement in the block of an approval
          counts from that block.
"""

# Status values; 0 means "no such model".
UNKNOWN: constant(uint8) = 0
REGISTERED: constant(uint8) = 1
APPROVED: constant(uint8) = 2
RETIRED: constant(uint8) = 3

MAX_URI: constant(uint256) = 256
MAX_USE: constant(uint256) = 64


struct Model:
    artifact_hash: bytes32
    card_hash: bytes32
    uri: String[MAX_URI]
    registrant: address
    registered_block: uint256
    status: uint8
    use: String[MAX_USE]  # the use it was approved for; empty if never approved
    target: address  # the attached model contract, if any
    codehash: bytes32  # that contract's code hash when it was attached


governor: public(address)
model_count: public(uint256)
_models: HashMap[bytes32, Model]
# The currently approved model for each use (empty(bytes32) when none).
approved_model: public(HashMap[String[MAX_USE], bytes32])
# When each model was approved (bits 0-63) and retired (64-127), block numbers (0: not yet),
# and its use tag (bits 128-255: keccak256(use) >> 128, 0 if never approved). Kept apart from Model
# so that the struct (and its ABI) is unchanged; read it through binding().
_approval: HashMap[bytes32, uint256]
MASK64: constant(uint256) = 2**64 - 1

event ModelRegistered:
    model_id: indexed(bytes32)
    registrant: indexed(address)
    artifact_hash: bytes32
    card_hash: bytes32
    uri: String[MAX_URI]

event ModelApproved:
    model_id: indexed(bytes32)
    use: String[MAX_USE]
    replaced: bytes32  # the model approved for this use before, now retired (or zero)
    registrant: address  # who registered the approved model
    target: address  # its attached contract (zero: none)

event ModelRetired:
    model_id: indexed(bytes32)
    use: String[MAX_USE]  # the use it was approved for (empty if it never was)

event ContractAttached:
    model_id: indexed(bytes32)
    target: indexed(address)
    codehash: bytes32

event ModelReassigned:
    model_id: indexed(bytes32)
    previous_registrant: indexed(address)
    registrant: indexed(address)
    artifact_hash: bytes32
    card_hash: bytes32
    uri: String[MAX_URI]

event GovernorChanged:
    previous_governor: indexed(address)
    new_governor: indexed(address)


@deploy
def __init__(governor: address):
    """
    @notice `governor` alone may approve and retire models (normally a Governor contract).
    """
    assert governor != empty(address), "governor is the zero address"
    self.governor = governor
    log GovernorChanged(previous_governor=empty(address), new_governor=governor)


@external
def set_governor(new_governor: address):
    """
    @notice Hand the governor role to `new_governor`.
    """
    assert msg.sender == self.governor, "only the governor"
    assert new_governor != empty(address), "governor is the zero address"
    log GovernorChanged(previous_governor=msg.sender, new_governor=new_governor)
    self.governor = new_governor


@external
def register(model_id: bytes32, artifact_hash: bytes32, card_hash: bytes32, uri: String[MAX_URI]):
    """
    @notice Register a model version; the caller becomes its registrant.
    """
    assert model_id != empty(bytes32), "model id is zero"
    assert artifact_hash != empty(bytes32), "artifact hash is zero"
    assert self._models[model_id].status == UNKNOWN, "model already registered"
    self._models[model_id] = Model(
        artifact_hash=artifact_hash,
        card_hash=card_hash,
        uri=uri,
        registrant=msg.sender,
        registered_block=block.number,
        status=REGISTERED,
        use="",
        target=empty(address),
        codehash=empty(bytes32),
    )
    self.model_count += 1
    log ModelRegistered(
        model_id=model_id,
        registrant=msg.sender,
        artifact_hash=artifact_hash,
        card_hash=card_hash,
        uri=uri,
    )


@external
def attach_contract(model_id: bytes32, target: address):
    """
    @notice Record the contract that computes model `model_id` and its current code hash.
    """
    status: uint8 = self._models[model_id].status
    assert status != UNKNOWN, "unknown model"
    assert msg.sender == self._models[model_id].registrant, "only the registrant"
    assert status == REGISTERED, "model is no longer registered-only"
    assert self._models[model_id].target == empty(address), "contract already attached"
    assert target.is_contract, "target has no code"
    self._models[model_id].target = target
    self._models[model_id].codehash = target.codehash
    log ContractAttached(model_id=model_id, target=target, codehash=target.codehash)


@external
def approve(
    model_id: bytes32, use: String[MAX_USE], replaces: bytes32, registrant: address, target: address
):
    """
    @notice Make `model_id` the approved model for `use`, retiring `replaces`, provided the
            registry still looks as the proposal expected (see the rules above).
    """
    assert msg.sender == self.governor, "only the governor"
    assert len(use) > 0, "use is empty"
    status: uint8 = self._models[model_id].status
    assert status != UNKNOWN, "unknown model"
    assert status != APPROVED, "model already approved"
    assert status != RETIRED, "model is retired"
    previous: bytes32 = self.approved_model[use]
    assert previous == replaces, "stale approval: the approved model for this use changed"
    assert self._models[model_id].registrant == registrant, (
        "stale approval: the model's registrant changed"
    )
    assert self._models[model_id].target == target, (
        "stale approval: the model's attached contract changed"
    )
    if previous != empty(bytes32):
        self._models[previous].status = RETIRED
        self._approval[previous] |= block.number << 64
        log ModelRetired(model_id=previous, use=use)
    self._models[model_id].status = APPROVED
    self._models[model_id].use = use
    self._approval[model_id] = block.number | (convert(keccak256(use), uint256) >> 128 << 128)
    self.approved_model[use] = model_id
    log ModelApproved(
        model_id=model_id, use=use, replaced=previous, registrant=registrant, target=target
    )


@external
def reassign(
    model_id: bytes32,
    registrant: address,
    artifact_hash: bytes32,
    card_hash: bytes32,
    uri: String[MAX_URI],
):
    """
    @notice Replace a registered (never approved) entry: new registrant, hashes and URI; the
            attached contract is cleared. Governor only: the remedy for a squatted id.
    """
    assert msg.sender == self.governor, "only the governor"
    status: uint8 = self._models[model_id].status
    assert status != UNKNOWN, "unknown model"
    assert status == REGISTERED, "only a registered, never approved model can be reassigned"
    assert registrant != empty(address), "registrant is the zero address"
    assert artifact_hash != empty(bytes32), "artifact hash is zero"
    previous: address = self._models[model_id].registrant
    assert registrant != previous, "model is already registered to that account"
    self._models[model_id].registrant = registrant
    self._models[model_id].artifact_hash = artifact_hash
    self._models[model_id].card_hash = card_hash
    self._models[model_id].uri = uri
    self._models[model_id].target = empty(address)
    self._models[model_id].codehash = empty(bytes32)
    log ModelReassigned(
        model_id=model_id,
        previous_registrant=previous,
        registrant=registrant,
        artifact_hash=artifact_hash,
        card_hash=card_hash,
        uri=uri,
    )


@external
def retire(model_id: bytes32):
    """
    @notice Retire `model_id`; if it is the approved model for its use, that use has none.
    """
    assert msg.sender == self.governor, "only the governor"
    status: uint8 = self._models[model_id].status
    assert status != UNKNOWN, "unknown model"
    assert status != RETIRED, "model already retired"
    use: String[MAX_USE] = self._models[model_id].use
    if status == APPROVED and self.approved_model[use] == model_id:
        self.approved_model[use] = empty(bytes32)
    self._models[model_id].status = RETIRED
    self._approval[model_id] |= block.number << 64
    log ModelRetired(model_id=model_id, use=use)


@view
@external
def model(model_id: bytes32) -> Model:
    """
    @notice Everything recorded about `model_id` (status 0 when it was never registered).
    """
    return self._models[model_id]


@view
@external
def binding(model_id: bytes32) -> (address, bytes32, uint256, uint256, uint256):
    """
    @notice (target, codehash, approved_block, retired_block, use_tag) of `model_id`; see the
            rules above. All zero for an unknown model.
    """
    packed: uint256 = self._approval[model_id]
    return (
        self._models[model_id].target,
        self._models[model_id].codehash,
        packed & MASK64,
        (packed >> 64) & MASK64,
        packed >> 128,
    )
