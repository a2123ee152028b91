# pragma version ~=0.4.3
"""
@title ZkVerifierRegistry
@notice Which zero-knowledge verifier proves which model: for a model id of the ModelRegistry,
        the EZKL verifier contract, its code hash, the hash of its verifying key and the
        model's integer threshold, set only by the governor (normally the Governor contract, so
        every entry is a passed vote). `verify_public` checks a proof of one logged decision
        against the entry: the features must hash to the record's input commitment, the
        verifier must accept them with the logged score as the circuit's public output, and
        the logged label must be the threshold's verdict on that score (the circuit proves
        the score; two models with the same weights and other thresholds share a circuit).
@dev    Rules:
        - set_verifier: governor only; the model must be Registered or Approved in the
          ModelRegistry, `codehash` must be the verifier's code hash now (compare-and-swap: the
          code the vote saw), `inputs` is 1 (public), 2 (hashed) or 3 (private). A new vote
          may replace an entry (a new circuit for the same model).
        - verify_*: anyone. Reverts unless the model has an entry, is not Retired (nor
          unknown), the verifier's code hash is still the recorded one, and the verifier
          accepts the proof. Integers enter the proof as BN254 field elements (x mod r); only
          |x| < 2**252 is accepted so that two integers never share one field element.
        - This contract is separate from ModelRegistry on purpose: the registry's storage
          layout and interface stay as they are.
"""

MAX_FEATURES: constant(uint256) = 256
MAX_HASHES: constant(uint256) = 4
MAX_INSTANCES: constant(uint256) = 261  # features (or hashes) + the score
MAX_PROOF: constant(uint256) = 32768
FIELD: constant(uint256) = 21888242871839275222246405745257275088548364400416034343698204186575808495617
BOUND: constant(int256) = 2**252

INPUTS_PUBLIC: constant(uint8) = 1
INPUTS_HASHED: constant(uint8) = 2
INPUTS_PRIVATE: constant(uint8) = 3

# ModelRegistry's status values
REGISTERED: constant(uint8) = 1
APPROVED: constant(uint8) = 2


struct Model:  # ModelRegistry.model's return value, field for field
    artifact_hash: bytes32
    card_hash: bytes32
    uri: String[256]
    registrant: address
    registered_block: uint256
    status: uint8
    use: String[64]
    target: address
    codehash: bytes32


interface ModelRegistry:
    def model(model_id: bytes32) -> Model: view


struct Entry:
    verifier: address
    codehash: bytes32
    vk_hash: bytes32
    inputs: uint8
    features: uint256
    threshold: int256
    set_block: uint256


governor: public(address)
registry: public(address)
entries: public(HashMap[bytes32, Entry])

event VerifierSet:
    model_id: indexed(bytes32)
    verifier: indexed(address)
    codehash: bytes32
    vk_hash: bytes32
    inputs: uint8
    features: uint256
    threshold: int256

event ProofVerified:
    model_id: indexed(bytes32)
    input_commitment: bytes32
    score: int256

event GovernorChanged:
    previous_governor: indexed(address)
    new_governor: indexed(address)


@deploy
def __init__(governor: address, registry: address):
    assert governor != empty(address), "governor is the zero address"
    assert registry.is_contract, "registry has no code"
    self.governor = governor
    self.registry = registry
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
def set_verifier(
    model_id: bytes32,
    verifier: address,
    codehash: bytes32,
    vk_hash: bytes32,
    inputs: uint8,
    features: uint256,
    threshold: int256,
):
    """
    @notice Record `verifier` (with code hash `codehash`, verifying key hash `vk_hash`) as
            the zk verifier of `model_id`.
    """
    assert msg.sender == self.governor, "only the governor"
    status: uint8 = self._status(model_id)
    assert status == REGISTERED or status == APPROVED, "model is not registered or approved"
    assert verifier.is_contract, "verifier has no code"
    assert verifier.codehash == codehash, "stale vote: the verifier's code hash changed"
    assert inputs >= INPUTS_PUBLIC and inputs <= INPUTS_PRIVATE, "inputs must be 1, 2 or 3"
    assert features > 0 and features <= MAX_FEATURES, "features out of range"
    self.entries[model_id] = Entry(
        verifier=verifier,
        codehash=codehash,
        vk_hash=vk_hash,
        inputs=inputs,
        features=features,
        threshold=threshold,
        set_block=block.number,
    )
    log VerifierSet(
        model_id=model_id,
        verifier=verifier,
        codehash=codehash,
        vk_hash=vk_hash,
        inputs=inputs,
        features=features,
        threshold=threshold,
    )


@internal
@view
def _status(model_id: bytes32) -> uint8:
    model: Model = staticcall ModelRegistry(self.registry).model(model_id)
    return model.status


@internal
@pure
def _felt(number: int256) -> uint256:
    assert number < BOUND and number > -BOUND, "integer outside the field's range"
    if number >= 0:
        return convert(number, uint256)
    return FIELD - convert(-number, uint256)


@internal
@view
def _entry(model_id: bytes32, inputs: uint8) -> Entry:
    entry: Entry = self.entries[model_id]
    assert entry.verifier != empty(address), "no verifier for this model"
    assert entry.inputs == inputs, "the model's circuit has another input visibility"
    status: uint8 = self._status(model_id)
    assert status == REGISTERED or status == APPROVED, "model is retired or unknown"
    assert entry.verifier.codehash == entry.codehash, "the verifier's code changed"
    return entry


@internal
@pure
def _check_label(entry: Entry, score: int256, label: uint8):
    expected: uint8 = 1 if score >= entry.threshold else 0
    assert label == expected, "the label is not the threshold's verdict on the score"


@internal
def _check(verifier: address, proof: Bytes[MAX_PROOF], instances: DynArray[uint256, MAX_INSTANCES]):
    success: bool = False
    response: Bytes[32] = b""
    success, response = raw_call(
        verifier,
        abi_encode(proof, instances, method_id=method_id("verifyProof(bytes,uint256[])")),
        max_outsize=32,
        revert_on_failure=False,
    )
    assert success and len(response) == 32, "proof rejected"
    assert convert(response, uint256) == 1, "proof rejected"


@external
def verify_public(
    model_id: bytes32,
    proof: Bytes[MAX_PROOF],
    features: DynArray[int256, MAX_FEATURES],
    score: int256,
    label: uint8,
    input_commitment: bytes32,
) -> bool:
    """
    @notice Check a proof that model `model_id` gives `score` on `features`, which hash to
            `input_commitment` (SHA-256 of abi.encode(int256[] features), as logged), and
            that `label` is 1 exactly when `score` reaches the model's threshold.
    """
    entry: Entry = self._entry(model_id, INPUTS_PUBLIC)
    self._check_label(entry, score, label)
    assert len(features) == entry.features, "wrong number of features"
    assert sha256(abi_encode(features)) == input_commitment, (
        "features do not match the input commitment"
    )
    instances: DynArray[uint256, MAX_INSTANCES] = []
    for feature: int256 in features:
        instances.append(self._felt(feature))
    instances.append(self._felt(score))
    self._check(entry.verifier, proof, instances)
    log ProofVerified(model_id=model_id, input_commitment=input_commitment, score=score)
    return True


@external
def verify_hidden(
    model_id: bytes32,
    proof: Bytes[MAX_PROOF],
    hashes: DynArray[uint256, MAX_HASHES],
    score: int256,
    label: uint8,
    input_commitment: bytes32,
) -> bool:
    """
    @notice Check a proof with hashed inputs (`hashes`: their Poseidon hash as the circuit
            publishes it) or private inputs (`hashes` empty) that model `model_id` gives
            `score`. The link between `hashes` and `input_commitment` is the prover's word:
            the features stay private.
    """
    entry: Entry = self._entry(model_id, INPUTS_HASHED if len(hashes) > 0 else INPUTS_PRIVATE)
    self._check_label(entry, score, label)
    instances: DynArray[uint256, MAX_INSTANCES] = []
    for digest: uint256 in hashes:
        assert digest < FIELD, "hash is not a field element"
        instances.append(digest)
    instances.append(self._felt(score))
    self._check(entry.verifier, proof, instances)
    log ProofVerified(model_id=model_id, input_commitment=input_commitment, score=score)
    return True
