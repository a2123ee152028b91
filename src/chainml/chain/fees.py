"""Transaction fees: EIP-1559 prices from the node's fee history, the operator's cap, the bump.

A price is two numbers (``max_fee_per_gas``, ``max_priority_fee_per_gas``). The tip is a
percentile of the tips paid in recent blocks (``eth_feeHistory``), never below a floor; the max
fee leaves room for the base fee to rise for a few blocks. The operator's cap bounds the max
fee: when the network asks more than the cap (the next base fee plus the tip), nothing is
sent and :class:`~chainml.errors.FeeCapExceededError` says by how much. A replacement at the
same nonce raises both fields by at least :data:`MIN_BUMP_PERCENT` (the pool rule of geth,
reth and anvil), or to the current price when that is higher.
"""

from __future__ import annotations

from dataclasses import dataclass

from chainml.errors import FeeCapExceededError, InvalidInputError

#: the smallest raise of both fee fields a node's pool accepts for a replacement
MIN_BUMP_PERCENT = 10
GWEI = 10**9


@dataclass(frozen=True)
class FeeHistory:
    """What ``eth_feeHistory`` says about recent blocks: the next base fee and recent tips."""

    next_base_fee: int  # of the block a transaction sent now goes into
    tips: tuple[int, ...]  # one chosen-percentile tip per recent block with transactions


@dataclass(frozen=True)
class Price:
    """An EIP-1559 price: the most paid per gas, and the most of it that goes to the producer."""

    max_fee: int
    tip: int

    def bumped(self, percent: int) -> Price:
        """Both fields raised by ``percent`` (rounded up, so the raise is never short)."""
        return Price(_raise(self.max_fee, percent), _raise(self.tip, percent))

    def at_least(self, other: Price) -> Price:
        """Field by field, the higher of the two."""
        return Price(max(self.max_fee, other.max_fee), max(self.tip, other.tip))


@dataclass(frozen=True)
class FeePolicy:
    """How much a sender pays, and how patiently.

    ``max_fee_cap`` (wei per gas; None: no cap) bounds every transaction; ``daily_budget``
    (wei per UTC day; None: none) bounds what is spent. A pending transaction is replaced at
    the same nonce with both fees raised ``bump_percent`` after ``bump_after_seconds``.
    """

    max_fee_cap: int | None = None
    daily_budget: int | None = None
    tip_percentile: float = 50.0
    history_blocks: int = 10
    min_tip: int = GWEI // 100  # 0.01 gwei: what blocks include on quiet mainnet hours
    max_tip: int = 5 * GWEI
    base_fee_headroom: int = 2  # the max fee survives the base fee doubling (six full blocks)
    bump_after_seconds: float = 60.0
    bump_percent: int = MIN_BUMP_PERCENT
    wait_seconds: float = 120.0  # how long a writer blocks for a receipt before it reports

    def __post_init__(self) -> None:
        if self.bump_percent < MIN_BUMP_PERCENT:
            raise InvalidInputError(
                f"bump_percent must be at least {MIN_BUMP_PERCENT} (nodes refuse smaller "
                f"replacements), got {self.bump_percent}"
            )
        if not 0 <= self.tip_percentile <= 100:
            raise InvalidInputError(f"tip_percentile is 0..100, got {self.tip_percentile}")
        if not 1 <= self.history_blocks <= 1024:
            raise InvalidInputError(f"history_blocks is 1..1024, got {self.history_blocks}")
        for name in ("max_fee_cap", "daily_budget"):
            value = getattr(self, name)
            if value is not None and value <= 0:
                raise InvalidInputError(f"{name} must be positive wei, got {value}")
        if self.min_tip < 0 or self.max_tip < self.min_tip:
            raise InvalidInputError("min_tip must be ≥ 0 and max_tip ≥ min_tip")
        if self.base_fee_headroom < 1 or self.bump_after_seconds < 0 or self.wait_seconds < 0:
            raise InvalidInputError("headroom ≥ 1, bump_after_seconds and wait_seconds ≥ 0")

    def required(self, history: FeeHistory) -> int:
        """What the next block asks at least: its base fee plus the tip this policy pays."""
        return history.next_base_fee + self.tip(history)

    def tip(self, history: FeeHistory) -> int:
        """The median of recent chosen-percentile tips, within [min_tip, max_tip]."""
        paid = sorted(history.tips)
        median = paid[len(paid) // 2] if paid else 0
        return min(self.max_tip, max(self.min_tip, median))

    def price(self, history: FeeHistory) -> Price:
        """The price of a new transaction; FeeCapExceededError when the cap is too low."""
        tip = self.tip(history)
        needed = history.next_base_fee + tip
        cap = self.max_fee_cap
        if cap is not None and needed > cap:
            raise FeeCapExceededError(needed=needed, cap=cap)
        max_fee = self.base_fee_headroom * history.next_base_fee + tip
        return Price(max_fee if cap is None else min(cap, max_fee), tip)

    def replacement(self, sent: Price, history: FeeHistory) -> Price | None:
        """The price of a replacement for ``sent``; None when the cap leaves no room.

        No room: the bumped price is above the cap, or the network asks more than the cap.
        """
        bumped = sent.bumped(self.bump_percent)
        try:
            current = self.price(history)
        except FeeCapExceededError:
            return None  # nothing under the cap gets in now: wait for fees to fall
        wanted = bumped.at_least(current)
        if wanted.tip > wanted.max_fee:
            wanted = Price(wanted.max_fee, wanted.max_fee)  # tip above max fee is invalid
            if wanted.tip < bumped.tip:
                return None
        if self.max_fee_cap is not None and wanted.max_fee > self.max_fee_cap:
            return None
        return wanted


def _raise(value: int, percent: int) -> int:
    # ceil(value * (100 + percent) / 100), and at least one wei more than value
    return max(value + 1, -(-value * (100 + percent) // 100))
