# pragma version ~=0.4.3
"""
@title GuardedToken
@notice An ERC-20 token (2 decimals: the payments simulator counts cents) that screens every
        transfer with an approved fraud model before it moves any money. The token computes
        the transfer's 11 payment features on chain from per-account running statistics,
        exactly as chainml.models.payments.PaymentFeatures does (docs/payment-features.md),
        asks the model contract for a score with a gas-capped STATICCALL, and either passes
        the transfer or holds it in escrow. A held transfer is released to the recipient or
        refunded to the sender by the reviewer, or released by anyone once its deadline has
        passed; it settles exactly once.
@dev    Roles:
        - owner (the deployer): mints initial balances until it calls seal_supply(); after
          that nobody can mint, and the owner has no other power.
        - governor (normally a Governor contract): the only account that may change the model,
          its threshold (set_model) and the reviewer (set_reviewer).
        - reviewer: releases or refunds held transfers.
        Screening rules:
        - Before the first set_model there is no model: transfers pass unscreened (the
          statistics are kept all the same). After it there is always a model.
        - held when score >= threshold (reason 1), or when the model call fails: it reverts,
          runs out of its MODEL_GAS, or returns something other than one 32-byte word
          (reason 2; fail safe). A call starved of gas by the sender's own gas limit (63/64
          rule) reverts the transfer instead, so a hold never depends on the gas limit chosen.
        - set_model(model_id, model, threshold): governor only, and only for a model that the
          ModelRegistry marks APPROVED for this token's `model_use`, whose attached contract is
          `model` with the code hash the registry recorded, and that takes 11 features.
        Statistics and held transfers: the statistics of both parties are updated when a
        transfer is submitted, whether it passes or is held, and never when it settles. So a
        hold changes no feature except through balances: the held amount leaves the sender at
        once (into escrow, which is this contract's own balance) and reaches the recipient
        only on release (or goes back to the sender on refund). With no holds the features
        equal PaymentFeatures bit for bit. A zero-value transfer moves nothing, is not
        screened and updates no statistic (transferFrom(victim, x, 0) needs no allowance, so
        counting it would let anyone write a victim's sending history).
        Invariants: sum of balanceOf over all accounts == totalSupply; balanceOf[self] ==
        escrowed() == sum of the amounts of transfers still held.
        Checks-effects-interactions: the only external call of a transfer is the static model
        call, made before any write, so even a read-only re-entry sees a consistent state.
"""

interface ScoringModel:
    def N_FEATURES() -> uint256: view


# ModelRegistry.model(model_id) returns this struct (same fields, same order).
struct RegistryModel:
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
    def model(model_id: bytes32) -> RegistryModel: view


# -- the feature specification (chainml.models.payments) ---------------------------------------
N_FEATURES: constant(uint256) = 11
BPS: constant(uint256) = 10_000
AMOUNT_CAP: constant(uint256) = 10**12
RATIO_CAP: constant(uint256) = 1_000_000
WINDOW: constant(uint256) = 3_600
SECONDS_CAP: constant(uint256) = 30 * 86_400
AGE_CAP: constant(uint256) = 365 * 86_400
COUNT_CAP: constant(uint256) = 10_000

# -- packed statistics -------------------------------------------------------------------------
# Two storage words per account, so a transfer writes two statistic slots, not eight.
#   _sending[a]: last_sent [0,40) | window_start [40,80) | window_count [80,120)
#                | sent_count [120,160) | sent_sum [160,256)
#   _seen[a]:    first_seen [0,40) | last_received [40,80) | received_count [80,120)
#                | seen flag (bit 120)
# Timestamps must stay below 2**40 (year 36812) and counts below 2**40 (both asserted); then
# sent_sum <= sent_count * AMOUNT_CAP < 2**80 fits its 96 bits, and nothing overflows.
MASK40: constant(uint256) = 2**40 - 1
LIMIT40: constant(uint256) = 2**40
SEEN: constant(uint256) = 2**120

# -- screening ---------------------------------------------------------------------------------
MODEL_GAS: constant(uint256) = 300_000
PASSED: constant(uint8) = 0
HELD_SCORE: constant(uint8) = 1  # score >= threshold
HELD_MODEL_FAILED: constant(uint8) = 2  # the model call failed: held, fail safe

# Held transfer status.
HELD: constant(uint8) = 1
RELEASED: constant(uint8) = 2
REFUNDED: constant(uint8) = 3

APPROVED: constant(uint8) = 2  # ModelRegistry status
MAX_BATCH: constant(uint256) = 512
MAX_TIMEOUT: constant(uint256) = 365 * 86_400


struct Hold:
    sender: address
    recipient: address
    amount: uint256
    score: int256
    model_id: bytes32
    deadline: uint256  # release_expired works from this timestamp on
    status: uint8  # 0 unknown, 1 held, 2 released, 3 refunded


struct AccountStats:
    first_seen: uint256
    sent_count: uint256
    sent_sum: uint256
    last_sent: uint256
    window_start: uint256
    window_count: uint256
    received_count: uint256
    last_received: uint256


name: public(String[64])
symbol: public(String[32])
decimals: public(constant(uint8)) = 2
totalSupply: public(uint256)
balanceOf: public(HashMap[address, uint256])
allowance: public(HashMap[address, HashMap[address, uint256]])

owner: public(address)
supply_sealed: public(bool)
governor: public(address)
registry: public(address)
reviewer: public(address)
hold_timeout: public(uint256)
model_use: public(String[64])

model: public(address)
model_id: public(bytes32)
threshold: public(int256)

hold_count: public(uint256)
_holds: HashMap[uint256, Hold]
_sending: HashMap[address, uint256]
_seen: HashMap[address, uint256]


event Transfer:
    sender: indexed(address)
    receiver: indexed(address)
    value: uint256

event Approval:
    owner: indexed(address)
    spender: indexed(address)
    value: uint256

event Held:
    id: indexed(uint256)
    sender: indexed(address)
    recipient: indexed(address)
    amount: uint256
    score: int256
    model_id: bytes32
    reason: uint8  # 1 score >= threshold, 2 the model call failed
    deadline: uint256
    features: int256[N_FEATURES]

event Released:
    id: indexed(uint256)
    recipient: indexed(address)
    amount: uint256
    by: indexed(address)
    expired: bool  # True when released by release_expired after the deadline

event Refunded:
    id: indexed(uint256)
    sender: indexed(address)
    amount: uint256
    by: indexed(address)

event ModelChanged:
    model_id: indexed(bytes32)
    model: indexed(address)
    threshold: int256
    previous_model_id: bytes32
    previous_model: address

event ReviewerChanged:
    previous_reviewer: indexed(address)
    new_reviewer: indexed(address)

event SupplySealed:
    total_supply: uint256


@deploy
def __init__(
    name: String[64],
    symbol: String[32],
    governor: address,
    registry: address,
    reviewer: address,
    hold_timeout: uint256,
    model_use: String[64],
):
    """
    @notice A token screened by models that `registry` approves for `model_use`, chosen by
            `governor`; held transfers are settled by `reviewer` or expire after
            `hold_timeout` seconds.
    """
    assert governor != empty(address), "governor is the zero address"
    assert registry.is_contract, "registry has no code"
    assert reviewer != empty(address), "reviewer is the zero address"
    assert hold_timeout > 0 and hold_timeout <= MAX_TIMEOUT, "timeout must be 1 s .. 365 days"
    assert len(model_use) > 0, "model use is empty"
    self.name = name
    self.symbol = symbol
    self.owner = msg.sender
    self.governor = governor
    self.registry = registry
    self.reviewer = reviewer
    self.hold_timeout = hold_timeout
    self.model_use = model_use
    log ReviewerChanged(previous_reviewer=empty(address), new_reviewer=reviewer)


# -- supply --------------------------------------------------------------------------------


@internal
def _mint(receiver: address, amount: uint256):
    assert receiver != empty(address), "mint to the zero address"
    assert receiver != self, "mint to the token contract"
    self.balanceOf[receiver] += amount
    self.totalSupply += amount
    log Transfer(sender=empty(address), receiver=receiver, value=amount)


@external
def mint(receiver: address, amount: uint256):
    """
    @notice Mint an initial balance (owner only, before seal_supply). No statistic changes.
    """
    assert msg.sender == self.owner, "only the owner"
    assert not self.supply_sealed, "supply is sealed"
    self._mint(receiver, amount)


@external
def mint_batch(receivers: DynArray[address, MAX_BATCH], amounts: DynArray[uint256, MAX_BATCH]):
    """
    @notice Mint many initial balances at once (owner only, before seal_supply).
    """
    assert msg.sender == self.owner, "only the owner"
    assert not self.supply_sealed, "supply is sealed"
    assert len(receivers) == len(amounts), "receivers and amounts differ in length"
    for i: uint256 in range(len(receivers), bound=MAX_BATCH):
        self._mint(receivers[i], amounts[i])


@external
def seal_supply():
    """
    @notice End minting for good (owner only).
    """
    assert msg.sender == self.owner, "only the owner"
    assert not self.supply_sealed, "supply is already sealed"
    self.supply_sealed = True
    log SupplySealed(total_supply=self.totalSupply)


# -- features ------------------------------------------------------------------------------


@internal
@pure
def _since(now: uint256, then: uint256) -> uint256:
    # sat(now - then)
    if now > then:
        return unsafe_sub(now, then)
    return 0


@internal
@view
def _features(
    sender: address, recipient: address, amount: uint256, now: uint256, balance: uint256
) -> int256[N_FEATURES]:
    # PaymentFeatures.features, from the statistics before the transfer.
    s: uint256 = self._sending[sender]
    b: uint256 = self._seen[sender]
    r: uint256 = self._seen[recipient]
    capped: uint256 = min(amount, AMOUNT_CAP)
    sent_count: uint256 = (s >> 120) & MASK40
    x: int256[N_FEATURES] = empty(int256[N_FEATURES])
    x[0] = convert(capped, int256)
    to_mean: uint256 = BPS
    if sent_count > 0:
        mean: uint256 = (s >> 160) // sent_count
        if mean > 0:
            to_mean = min(capped * BPS // mean, RATIO_CAP)
    x[1] = convert(to_mean, int256)
    x[3] = convert(SECONDS_CAP, int256)
    if sent_count > 0:
        if self._since(now, (s >> 40) & MASK40) < WINDOW:
            x[2] = convert(min((s >> 80) & MASK40, COUNT_CAP), int256)
        x[3] = convert(min(self._since(now, s & MASK40), SECONDS_CAP), int256)
    if r >= SEEN:
        x[4] = convert(min(self._since(now, r & MASK40), AGE_CAP), int256)
    if b >= SEEN:
        x[5] = convert(min(self._since(now, b & MASK40), AGE_CAP), int256)
    x[6] = convert(min(sent_count, COUNT_CAP), int256)
    x[7] = convert(min((r >> 80) & MASK40, COUNT_CAP), int256)
    x[8] = convert(now // 3600 % 24, int256)
    x[9] = convert(BPS, int256)
    if balance > 0:
        x[9] = convert(min(capped * BPS // balance, BPS), int256)
    x[10] = convert(SECONDS_CAP, int256)
    if (b >> 80) & MASK40 > 0:
        x[10] = convert(min(self._since(now, (b >> 40) & MASK40), SECONDS_CAP), int256)
    return x


@internal
def _record(sender: address, recipient: address, amount: uint256, now: uint256):
    # PaymentFeatures.apply for the statistics: the sender first, then the recipient.
    assert now < LIMIT40, "timestamp does not fit 40 bits"
    b: uint256 = self._seen[sender]
    if b < SEEN:  # never seen: the word is still 0
        self._seen[sender] = SEEN | now
    s: uint256 = self._sending[sender]
    count: uint256 = (s >> 120) & MASK40
    start: uint256 = (s >> 40) & MASK40
    window: uint256 = (s >> 80) & MASK40
    if count == 0 or self._since(now, start) >= WINDOW:
        start = now
        window = 0
    window += 1
    count += 1
    assert count < LIMIT40, "sent count does not fit 40 bits"
    total: uint256 = (s >> 160) + min(amount, AMOUNT_CAP)
    self._sending[sender] = now | (start << 40) | (window << 80) | (count << 120) | (total << 160)
    # Read after the sender's write, so a self-transfer sees the account as seen.
    r: uint256 = self._seen[recipient]
    first: uint256 = now
    if r >= SEEN:
        first = r & MASK40
    received: uint256 = ((r >> 80) & MASK40) + 1
    assert received < LIMIT40, "received count does not fit 40 bits"
    self._seen[recipient] = first | (now << 40) | (received << 80) | SEEN


@view
@external
def features(sender: address, recipient: address, amount: uint256) -> int256[N_FEATURES]:
    """
    @notice The features a transfer of `amount` from `sender` to `recipient` would have now.
    """
    return self._features(sender, recipient, amount, block.timestamp, self.balanceOf[sender])


@view
@external
def features_at(
    sender: address, recipient: address, amount: uint256, timestamp: uint256
) -> int256[N_FEATURES]:
    """
    @notice The features of that transfer at time `timestamp`, from the current statistics.
    """
    return self._features(sender, recipient, amount, timestamp, self.balanceOf[sender])


@view
@external
def statistics(account: address) -> AccountStats:
    """
    @notice `account`'s running statistics (the fields of payments.AccountStats).
    """
    s: uint256 = self._sending[account]
    b: uint256 = self._seen[account]
    return AccountStats(
        first_seen=b & MASK40,
        sent_count=(s >> 120) & MASK40,
        sent_sum=s >> 160,
        last_sent=s & MASK40,
        window_start=(s >> 40) & MASK40,
        window_count=(s >> 80) & MASK40,
        received_count=(b >> 80) & MASK40,
        last_received=(b >> 40) & MASK40,
    )


# -- transfers -----------------------------------------------------------------------------


@internal
@view
def _screen(model: address, x: int256[N_FEATURES]) -> (int256, uint8):
    ok: bool = False
    response: Bytes[64] = b""  # room for one word more: a longer answer is a failure too
    ok, response = raw_call(
        model,
        abi_encode(x, method_id=method_id("score(int256[11])")),
        max_outsize=64,
        gas=MODEL_GAS,
        is_static_call=True,
        revert_on_failure=False,
    )
    if ok and len(response) == 32:
        score: int256 = abi_decode(response, int256)
        if score >= self.threshold:
            return score, HELD_SCORE
        return score, PASSED
    # A call that got less than MODEL_GAS because the transaction's gas ran short leaves at
    # most 1/64 of it behind (63/64 rule): revert, so that no hold is caused by the gas limit.
    assert msg.gas * 63 > MODEL_GAS, "not enough gas left to run the model"
    return 0, HELD_MODEL_FAILED


@internal
def _transfer(sender: address, receiver: address, amount: uint256):
    assert receiver != empty(address), "transfer to the zero address"
    assert receiver != self, "transfer to the token contract"
    balance: uint256 = self.balanceOf[sender]
    assert amount <= balance, "insufficient balance"
    if amount == 0:
        log Transfer(sender=sender, receiver=receiver, value=0)
        return
    now: uint256 = block.timestamp
    x: int256[N_FEATURES] = self._features(sender, receiver, amount, now, balance)
    score: int256 = 0
    reason: uint8 = PASSED
    model: address = self.model
    if model != empty(address):
        score, reason = self._screen(model, x)  # static: no state can change
    # Effects only from here on.
    self._record(sender, receiver, amount, now)
    self.balanceOf[sender] = balance - amount
    if reason == PASSED:
        self.balanceOf[receiver] += amount
        log Transfer(sender=sender, receiver=receiver, value=amount)
        return
    self.balanceOf[self] += amount
    id: uint256 = self.hold_count + 1
    self.hold_count = id
    deadline: uint256 = now + self.hold_timeout
    self._holds[id] = Hold(
        sender=sender,
        recipient=receiver,
        amount=amount,
        score=score,
        model_id=self.model_id,
        deadline=deadline,
        status=HELD,
    )
    log Transfer(sender=sender, receiver=self, value=amount)
    log Held(
        id=id,
        sender=sender,
        recipient=receiver,
        amount=amount,
        score=score,
        model_id=self.model_id,
        reason=reason,
        deadline=deadline,
        features=x,
    )


@external
def transfer(receiver: address, amount: uint256) -> bool:
    """
    @notice Send `amount` to `receiver`, screened; True also when the transfer is held.
    """
    self._transfer(msg.sender, receiver, amount)
    return True


@external
def transferFrom(owner: address, receiver: address, amount: uint256) -> bool:
    """
    @notice Send `amount` of `owner`'s tokens within your allowance; `owner` is the sender
            whose features are screened. An allowance of max(uint256) never decreases.
    """
    allowed: uint256 = self.allowance[owner][msg.sender]
    assert amount <= allowed, "insufficient allowance"
    if allowed != max_value(uint256):
        self.allowance[owner][msg.sender] = allowed - amount
    self._transfer(owner, receiver, amount)
    return True


@external
def approve(spender: address, amount: uint256) -> bool:
    """
    @notice Let `spender` move up to `amount` of your tokens.
    """
    self.allowance[msg.sender][spender] = amount
    log Approval(owner=msg.sender, spender=spender, value=amount)
    return True


# -- held transfers ------------------------------------------------------------------------


@internal
def _settle(id: uint256, to_recipient: bool, expired: bool):
    hold: Hold = self._holds[id]
    assert hold.status != 0, "unknown held transfer"
    assert hold.status == HELD, "held transfer already settled"
    receiver: address = hold.sender
    if to_recipient:
        receiver = hold.recipient
        self._holds[id].status = RELEASED
    else:
        self._holds[id].status = REFUNDED
    self.balanceOf[self] -= hold.amount
    self.balanceOf[receiver] += hold.amount
    log Transfer(sender=self, receiver=receiver, value=hold.amount)
    if to_recipient:
        log Released(
            id=id, recipient=receiver, amount=hold.amount, by=msg.sender, expired=expired
        )
    else:
        log Refunded(id=id, sender=receiver, amount=hold.amount, by=msg.sender)


@external
def release(id: uint256):
    """
    @notice Reviewer: let held transfer `id` reach its recipient.
    """
    assert msg.sender == self.reviewer, "only the reviewer"
    self._settle(id, True, False)


@external
def refund(id: uint256):
    """
    @notice Reviewer: return held transfer `id` to its sender.
    """
    assert msg.sender == self.reviewer, "only the reviewer"
    self._settle(id, False, False)


@external
def release_expired(id: uint256):
    """
    @notice Anyone: release held transfer `id` to its recipient once its deadline is reached.
    """
    assert self._holds[id].status != 0, "unknown held transfer"
    assert block.timestamp >= self._holds[id].deadline, "the hold has not expired yet"
    self._settle(id, True, True)


@view
@external
def held_transfer(id: uint256) -> Hold:
    """
    @notice Held transfer `id` (status 0 when there is none).
    """
    return self._holds[id]


@view
@external
def escrowed() -> uint256:
    """
    @notice Tokens held in escrow: the sum of the amounts of unsettled held transfers.
    """
    return self.balanceOf[self]


# -- governance ----------------------------------------------------------------------------


@external
def set_model(model_id: bytes32, model: address, threshold: int256):
    """
    @notice Governor: screen with `model` (registry model `model_id`) from now on; a transfer
            is held when its score >= `threshold`.
    """
    assert msg.sender == self.governor, "only the governor"
    entry: RegistryModel = staticcall ModelRegistry(self.registry).model(model_id)
    assert entry.status == APPROVED, "model is not approved in the registry"
    assert keccak256(entry.use) == keccak256(self.model_use), "model is approved for another use"
    assert entry.target == model, "model contract is not the one attached in the registry"
    assert model.codehash == entry.codehash, "model code differs from the registered code hash"
    assert staticcall ScoringModel(model).N_FEATURES() == N_FEATURES, "model takes other features"
    log ModelChanged(
        model_id=model_id,
        model=model,
        threshold=threshold,
        previous_model_id=self.model_id,
        previous_model=self.model,
    )
    self.model = model
    self.model_id = model_id
    self.threshold = threshold


@external
def set_reviewer(reviewer: address):
    """
    @notice Governor: hand the reviewer role to `reviewer`.
    """
    assert msg.sender == self.governor, "only the governor"
    assert reviewer != empty(address), "reviewer is the zero address"
    log ReviewerChanged(previous_reviewer=self.reviewer, new_reviewer=reviewer)
    self.reviewer = reviewer
