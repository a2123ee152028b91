"""Payment features from per-account running statistics, in integer arithmetic a contract can copy.

:class:`PaymentFeatures` is the reference state machine for the guarded token: for a transfer
``(sender, recipient, amount, now)`` it computes :data:`FEATURE_NAMES` from the statistics held
*before* the transfer (:meth:`PaymentFeatures.features`), then updates them
(:meth:`PaymentFeatures.apply`). Everything is non-negative integer arithmetic with floor
division, saturating subtraction and caps, so a Vyper contract using ``uint256`` reproduces it
bit for bit. ``docs/payment-features.md`` is the specification; in short (``sat(a - b)`` is
``a - b`` if ``a > b`` else 0, ``a_c = min(amount, AMOUNT_CAP)``):

====  =========================  ==========================================================
 #    name                       value
====  =========================  ==========================================================
 0    amount                     ``a_c``
 1    amount_to_mean_bps         ``min(a_c * 10000 // (sent_sum // sent_count), RATIO_CAP)``;
                                 10000 when ``sent_count == 0`` or the mean is 0
 2    sender_tx_in_hour_window   ``min(window_count, COUNT_CAP)`` if ``sent_count > 0`` and
                                 ``sat(now - window_start) < 3600``, else 0
 3    seconds_since_sender_last  ``min(sat(now - last_sent), SECONDS_CAP)``; SECONDS_CAP if
                                 the sender never sent
 4    recipient_age              ``min(sat(now - first_seen[recipient]), AGE_CAP)``; 0 if the
                                 recipient was never seen
 5    sender_age                 as recipient_age, for the sender
 6    sender_tx_count            ``min(sent_count, COUNT_CAP)``
 7    recipient_rx_count         ``min(received_count[recipient], COUNT_CAP)``
 8    hour_of_day                ``now // 3600 % 24`` (UTC)
 9    amount_to_balance_bps      ``min(a_c * 10000 // balance, 10000)``; 10000 if balance is 0
 10   seconds_since_sender_rx    ``min(sat(now - last_received), SECONDS_CAP)``; SECONDS_CAP
                                 if the sender never received
====  =========================  ==========================================================

An account is *seen* once it has sent or received a transfer (minting an initial balance with
:meth:`PaymentFeatures.credit` does not count).
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass, replace

from chainml.errors import InvalidInputError

FEATURE_NAMES: tuple[str, ...] = (
    "amount",
    "amount_to_mean_bps",
    "sender_tx_in_hour_window",
    "seconds_since_sender_last",
    "recipient_age",
    "sender_age",
    "sender_tx_count",
    "recipient_rx_count",
    "hour_of_day",
    "amount_to_balance_bps",
    "seconds_since_sender_rx",
)
BPS = 10_000
AMOUNT_CAP = 10**12  # token base units (cents in the simulator): 10 billion
RATIO_CAP = 1_000_000  # 100x the running mean, in basis points
WINDOW = 3_600  # seconds
SECONDS_CAP = 30 * 86_400
AGE_CAP = 365 * 86_400
COUNT_CAP = 10_000
#: The largest value each feature can take (all features are >= 0).
FEATURE_MAX: tuple[int, ...] = (
    AMOUNT_CAP,
    RATIO_CAP,
    COUNT_CAP,
    SECONDS_CAP,
    AGE_CAP,
    AGE_CAP,
    COUNT_CAP,
    COUNT_CAP,
    23,
    BPS,
    SECONDS_CAP,
)


def _since(now: int, then: int) -> int:
    """Saturating ``now - then`` (never negative, as uint256 code must write it)."""
    return now - then if now > then else 0


@dataclass(slots=True)
class AccountStats:
    """The running statistics of one account (all zero for an account never seen)."""

    first_seen: int = 0
    sent_count: int = 0
    sent_sum: int = 0  # sum of min(amount, AMOUNT_CAP) over sent transfers
    last_sent: int = 0
    window_start: int = 0
    window_count: int = 0
    received_count: int = 0
    last_received: int = 0

    @property
    def seen(self) -> bool:
        """True once the account has sent or received a transfer."""
        return self.sent_count > 0 or self.received_count > 0


class PaymentFeatures:
    """Balances and per-account statistics; features of a transfer before it is applied."""

    names = FEATURE_NAMES

    def __init__(self) -> None:
        self._stats: dict[Hashable, AccountStats] = {}
        self._balances: dict[Hashable, int] = {}

    def credit(self, account: Hashable, amount: int) -> None:
        """Mint ``amount`` to ``account`` (an initial balance); statistics are untouched."""
        if amount < 0:
            raise InvalidInputError(f"cannot credit a negative amount ({amount})")
        self._balances[account] = self._balances.get(account, 0) + amount

    def balance(self, account: Hashable) -> int:
        """The account's balance (0 if unknown)."""
        return self._balances.get(account, 0)

    def stats(self, account: Hashable) -> AccountStats:
        """A copy of the account's statistics."""
        found = self._stats.get(account)
        return AccountStats() if found is None else replace(found)

    @property
    def total_supply(self) -> int:
        """Sum of all balances (constant under transfers)."""
        return sum(self._balances.values())

    def features(
        self, sender: Hashable, recipient: Hashable, amount: int, now: int
    ) -> tuple[int, ...]:
        """The features of a transfer, from the state before it (nothing is changed)."""
        empty = _EMPTY
        s = self._stats.get(sender, empty)
        r = self._stats.get(recipient, empty)
        capped = amount if amount < AMOUNT_CAP else AMOUNT_CAP
        mean = s.sent_sum // s.sent_count if s.sent_count else 0
        to_mean = min(capped * BPS // mean, RATIO_CAP) if mean else BPS
        in_window = s.sent_count > 0 and _since(now, s.window_start) < WINDOW
        balance = self._balances.get(sender, 0)
        return (
            capped,
            to_mean,
            min(s.window_count, COUNT_CAP) if in_window else 0,
            min(_since(now, s.last_sent), SECONDS_CAP) if s.sent_count else SECONDS_CAP,
            min(_since(now, r.first_seen), AGE_CAP) if r.seen else 0,
            min(_since(now, s.first_seen), AGE_CAP) if s.seen else 0,
            min(s.sent_count, COUNT_CAP),
            min(r.received_count, COUNT_CAP),
            now // 3600 % 24,
            min(capped * BPS // balance, BPS) if balance else BPS,
            min(_since(now, s.last_received), SECONDS_CAP) if s.received_count else SECONDS_CAP,
        )

    def apply(self, sender: Hashable, recipient: Hashable, amount: int, now: int) -> None:
        """Move ``amount`` and update both accounts' statistics (sender first)."""
        if amount < 0 or now < 0:
            raise InvalidInputError(f"amount and time must be >= 0, got {amount} at {now}")
        balance = self._balances.get(sender, 0)
        if amount > balance:
            raise InvalidInputError(
                f"account {sender!r} cannot send {amount}: its balance is {balance}"
            )
        s = self._stats.get(sender)
        if s is None:
            s = self._stats[sender] = AccountStats()
        if not s.seen:
            s.first_seen = now
        if s.sent_count == 0 or _since(now, s.window_start) >= WINDOW:
            s.window_start = now
            s.window_count = 0
        s.window_count += 1
        s.sent_count += 1
        s.sent_sum += amount if amount < AMOUNT_CAP else AMOUNT_CAP
        s.last_sent = now
        r = self._stats.get(recipient)
        if r is None:
            r = self._stats[recipient] = AccountStats()
        if not r.seen:
            r.first_seen = now
        r.received_count += 1
        r.last_received = now
        self._balances[sender] = balance - amount
        self._balances[recipient] = self._balances.get(recipient, 0) + amount

    def transfer(
        self, sender: Hashable, recipient: Hashable, amount: int, now: int
    ) -> tuple[int, ...]:
        """Features of the transfer, then apply it; returns the features."""
        values = self.features(sender, recipient, amount, now)
        self.apply(sender, recipient, amount, now)
        return values


_EMPTY = AccountStats()
