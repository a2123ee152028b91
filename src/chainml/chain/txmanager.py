"""The transaction manager: how one account's transactions get mined, whatever the network does.

Every writer (anchoring, governance, deployments, challenges) sends through :class:`Env`, and
the Env through one :class:`TxManager` per account. The manager

* prices a transaction from ``eth_feeHistory`` (:mod:`chainml.chain.fees`) and sends nothing
  while the network asks more than the fee cap or the day's budget is spent — it records why
  (:attr:`TxStatus.blocked`) and raises, so the caller waits and reports;
* takes the nonce from the node's ``pending`` count and its own journal, whichever is higher,
  so another sender of the same key and a restart both leave no gap and no reuse;
* writes each signed transaction to the journal (:mod:`chainml.chain.tx_journal`) before it
  sends it, so a restart re-sends the same bytes instead of a second transaction;
* while a transaction waits: re-sends it when the node forgot it (dropped), and after
  ``bump_after_seconds`` replaces it at the same nonce, with the same call, with both fees
  raised at least 10% — so exactly one version is ever mined, and :meth:`poll` finds it
  whichever it is;
* counts what was paid, per UTC day, and says how long it has been stuck.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from chainml.chain.accounts import Signer, UnsignedTx
from chainml.chain.backend import ChainBackend, Receipt
from chainml.chain.fees import FeePolicy, Price
from chainml.chain.tx_journal import Blocked, InFlight, Journal, JournalState, read_journals
from chainml.errors import (
    BudgetExceededError,
    ChainError,
    ChainUnavailableError,
    FeeCapExceededError,
    NonceConflictError,
    NotFoundError,
    TransactionTimeoutError,
)

_log = logging.getLogger(__name__)
_FIRST_POLL = 0.01  # seconds; doubles up to _MOST_POLL while a receipt is awaited
_MOST_POLL = 1.0


@dataclass(frozen=True)
class TxStatus:
    """One account's transactions at a glance (metrics, /readyz, ``log head``)."""

    pending: int
    oldest_pending_seconds: float
    fees_paid_wei: int
    spent_today_wei: int
    budget_left_wei: int | None
    replacements: int
    resubmissions: int
    blocked: Blocked | None
    stuck_for_seconds: float  # since a transaction waits, or sending is held back


class TxManager:
    """Sends, prices, replaces and re-sends the transactions of one account."""

    def __init__(
        self,
        backend: ChainBackend,
        signer: Signer,
        policy: FeePolicy | None = None,
        journal: Journal | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.backend = backend
        self.signer = signer
        self.policy = policy or FeePolicy()
        self.journal = journal or Journal()
        self._clock = clock  # wall time, or a simulated one: bump timing and budget days
        self._sending = threading.Lock()

    @property
    def address(self) -> str:
        """The account."""
        return self.signer.address

    # -- sending -------------------------------------------------------------------------

    def send(self, to: str | None, data: bytes, value: int, gas: int) -> InFlight:
        """Price, sign, journal and send a transaction; return it in flight.

        Raises FeeCapExceededError or BudgetExceededError (nothing sent, the reason kept for
        :meth:`status`), ChainUnavailableError (journaled: :meth:`poll` re-sends it), or the
        node's rejection (forgotten: nothing was sent).
        """
        with self._sending:
            self.tend()
            history = self.backend.fee_history(
                self.policy.history_blocks, self.policy.tip_percentile
            )
            try:
                price = self.policy.price(history)
            except FeeCapExceededError as err:
                self._hold("fee_cap", err.needed, err.cap)
                raise
            refused: BudgetExceededError | None = None
            with self.journal.change() as state:
                refused = self._over_budget(state, gas * price.max_fee)
                if refused is None:
                    state.blocked = None
                    flight = self._sign_new(state, to, data, value, gas, price)
                    state.in_flight[flight.nonce] = flight
                else:
                    self._set_blocked(state, "budget", refused.needed, refused.budget)
            if refused is not None:
                raise refused
            try:
                self.backend.send_raw_transaction(flight.raw)
            except ChainUnavailableError:
                raise  # it may have arrived: kept, and re-sent by poll()
            except BaseException:  # refused, or failed before it left: nothing was sent
                with self.journal.change() as state:
                    state.in_flight.pop(flight.nonce, None)
                raise
            return flight

    def _sign_new(
        self,
        state: JournalState,
        to: str | None,
        data: bytes,
        value: int,
        gas: int,
        price: Price,
    ) -> InFlight:
        # the node's pending count sees other senders of this key; the journal sees ours
        # that the node has not (yet, or any more)
        ours = max(state.in_flight) + 1 if state.in_flight else 0
        nonce = max(self.backend.nonce(self.address), ours)
        raw, tx_hash = self._sign(nonce, to, data, value, gas, price)
        now = self._clock()
        return InFlight(
            nonce=nonce,
            to=to,
            data=data.hex(),
            value=value,
            gas=gas,
            raws=[raw.hex()],
            hashes=[tx_hash.hex()],
            max_fee=price.max_fee,
            tip=price.tip,
            first_sent=now,
            last_sent=now,
        )

    def _sign(
        self, nonce: int, to: str | None, data: bytes, value: int, gas: int, price: Price
    ) -> tuple[bytes, bytes]:
        return self.signer.sign(
            UnsignedTx(
                chain_id=self.backend.chain_id,
                nonce=nonce,
                to=bytes.fromhex(to[2:]) if to else b"",
                value=value,
                data=data,
                gas=gas,
                max_fee_per_gas=price.max_fee,
                max_priority_fee_per_gas=price.tip,
            )
        )

    def _over_budget(self, state: JournalState, most: int) -> BudgetExceededError | None:
        budget = self.policy.daily_budget
        if budget is None:
            return None
        reserved = sum(t.gas * t.max_fee for t in state.in_flight.values())
        spent = state.spent.get(self._day(), 0) + reserved
        return BudgetExceededError(spent, budget, most) if spent + most > budget else None

    def _hold(self, reason: str, needed: int, limit: int) -> None:
        with self.journal.change() as state:
            self._set_blocked(state, reason, needed, limit)

    def _set_blocked(self, state: JournalState, reason: str, needed: int, limit: int) -> None:
        since = state.blocked.since if state.blocked is not None else self._clock()
        state.blocked = Blocked(reason=reason, since=since, needed=needed, limit=limit)

    def quote(self) -> int:
        """What the network asks per gas now (next base fee plus the policy's tip), in wei."""
        history = self.backend.fee_history(self.policy.history_blocks, self.policy.tip_percentile)
        return self.policy.required(history)

    # -- following a transaction ---------------------------------------------------------

    def in_flight(self, to: str | None = None) -> list[InFlight]:
        """The account's transactions not yet mined (to ``to`` only, when given), by nonce."""
        flights = sorted(self.journal.read().in_flight.values(), key=lambda t: t.nonce)
        if to is None:
            return flights
        return [t for t in flights if t.to is not None and t.to.lower() == to.lower()]

    def tend(self) -> None:
        """Poll every transaction in flight once (before each new one is sent).

        Mined ones are counted, dropped ones sent again, stuck ones replaced: one whose writer
        stopped waiting (it timed out) cannot leave a gap in front of the next.
        """
        for flight in self.in_flight():
            # NonceConflictError: forgotten, its nonce is used; NotFoundError: another thread
            # saw it mined since the list was read
            with contextlib.suppress(NonceConflictError, NotFoundError):
                self.poll(flight.nonce)

    def poll(self, nonce: int) -> Receipt | None:
        """One look at the transaction at ``nonce``: its receipt once mined, else None.

        Not mined yet: re-sent if the node dropped it, replaced with higher fees once it
        waited ``bump_after_seconds``. Its nonce used by a transaction that is not one of its
        versions: NonceConflictError (and it is forgotten).
        """
        flight = self.journal.read().in_flight.get(nonce)
        if flight is None:
            raise NotFoundError(f"no transaction of {self.address} in flight at nonce {nonce}")
        receipt = self._mined(flight)
        if receipt is not None:
            return receipt
        if self.backend.confirmed_nonce(self.address) > nonce:
            receipt = self._mined(flight)  # mined between the two reads?
            if receipt is not None:
                return receipt
            with self.journal.change() as state:
                state.in_flight.pop(nonce, None)
            raise NonceConflictError(
                self.address, nonce, "another transaction from this account was mined at it"
            )
        now = self._clock()
        if not self.backend.has_transaction(flight.tx_hashes[0]):
            try:
                self._resend(flight, now)
            except (NonceConflictError, ChainUnavailableError):
                raise
            except ChainError:  # refused at its price (anvil evicts those): priced anew
                self._replace(flight, now)
        elif now - flight.last_sent >= self.policy.bump_after_seconds:
            self._replace(flight, now)
        return None

    def _mined(self, flight: InFlight) -> Receipt | None:
        for tx_hash in flight.tx_hashes:
            receipt = self.backend.receipt(tx_hash)
            if receipt is not None:
                self._paid(flight, receipt)
                return receipt
        return None

    def _paid(self, flight: InFlight, receipt: Receipt) -> None:
        price = receipt.effective_gas_price
        if price is None:  # the backend does not say: the most it was, so a budget holds
            price = flight.max_fee
        cost = receipt.gas_used * price
        with self.journal.change() as state:
            if state.in_flight.pop(flight.nonce, None) is None:
                return  # another thread or process counted it
            day = self._day()
            state.spent[day] = state.spent.get(day, 0) + cost
            state.paid_total += cost
            if state.blocked is not None and state.blocked.reason == "fee_cap":
                state.blocked = None

    def _resend(self, flight: InFlight, now: float) -> None:
        """The node forgot the transaction (dropped from its pool): send the same bytes."""
        self.backend.send_raw_transaction(flight.raw)
        with self.journal.change() as state:
            if (current := state.in_flight.get(flight.nonce)) is not None:
                current.last_sent = now
                state.resubmissions += 1

    def _replace(self, flight: InFlight, now: float) -> None:
        """Same nonce, same call, both fees raised; held back when the cap leaves no room."""
        history = self.backend.fee_history(self.policy.history_blocks, self.policy.tip_percentile)
        price = self.policy.replacement(Price(flight.max_fee, flight.tip), history)
        if price is None:
            cap = self.policy.max_fee_cap or 0
            self._hold("fee_cap", max(self.policy.required(history), flight.max_fee + 1), cap)
            return
        data = bytes.fromhex(flight.data)
        raw, tx_hash = self._sign(flight.nonce, flight.to, data, flight.value, flight.gas, price)
        with self.journal.change() as state:  # journaled first: it may be the one mined
            current = state.in_flight.get(flight.nonce)
            if current is None:
                return
            current.raws.append(raw.hex())
            current.hashes.append(tx_hash.hex())
            current.max_fee, current.tip, current.last_sent = price.max_fee, price.tip, now
            state.replacements += 1
        try:
            self.backend.send_raw_transaction(raw)
        except NonceConflictError:
            pass  # mined meanwhile, or the pool wants more: the next poll sees
        except ChainUnavailableError:
            raise  # journaled: the next poll re-sends it if the node did not get it
        except ChainError as err:  # refused: it cannot be the one mined; tried again later
            _log.warning("replacement of nonce %d refused: %s", flight.nonce, err)
            with self.journal.change() as state:
                current = state.in_flight.get(flight.nonce)
                if current is not None and current.hashes[-1] == tx_hash.hex():
                    current.raws.pop()
                    current.hashes.pop()
                    current.max_fee, current.tip = flight.max_fee, flight.tip
                    state.replacements -= 1

    def wait(self, nonce: int, timeout: float, sent: Sequence[bytes] = ()) -> Receipt:
        """Poll the transaction at ``nonce`` until it is mined, up to ``timeout`` seconds.

        ``sent`` are hashes it was sent as. Not mined in time: TransactionTimeoutError; it
        stays in flight (poll it again).
        """
        deadline = time.monotonic() + timeout
        delay = _FIRST_POLL
        known = list(sent)
        while True:
            flight = self.journal.read().in_flight.get(nonce)
            if flight is not None:
                known = list(dict.fromkeys([*flight.tx_hashes, *known]))
            try:
                receipt = self.poll(nonce)
            except NotFoundError:
                # another thread or process polled it first, saw it mined and counted it
                receipt = next(
                    (r for h in known if (r := self.backend.receipt(h)) is not None), None
                )
                if receipt is None:
                    raise
            if receipt is not None:
                return receipt
            left = deadline - time.monotonic()
            if left <= 0:
                flight = self.journal.read().in_flight.get(nonce)
                newest = flight.tx_hashes[0] if flight else b""
                raise TransactionTimeoutError(newest, timeout)
            time.sleep(min(delay, left))
            delay = min(2 * delay, _MOST_POLL)

    def wait_final(self, receipt: Receipt, raw: bytes, confirmations: int) -> Receipt | None:
        """The receipt once ``confirmations`` blocks are on top of it; None while they are not.

        A reorg that removed it: the same signed ``raw`` is sent again (its nonce is free
        again, so it cannot be a second transaction), and None is returned.
        """
        now_held = self.backend.receipt(receipt.tx_hash)
        if now_held is None:
            with contextlib.suppress(NonceConflictError):  # another version of it is mined
                self.backend.send_raw_transaction(raw)
            return None
        head = self.backend.block().number
        return now_held if head - now_held.block_number >= confirmations else None

    def discard_in_flight(self) -> None:
        """Forget every transaction in flight (after a test reverted the chain under them)."""
        with self.journal.change() as state:
            state.in_flight.clear()
            state.blocked = None

    # -- reporting -----------------------------------------------------------------------

    def status(self) -> TxStatus:
        """The account's transactions, spending and holding-back, as of now."""
        return status_of(self.journal.read(), self.policy, self._clock())

    def _day(self) -> str:
        return _utc_day(self._clock())


def status_of(state: JournalState, policy: FeePolicy, now: float) -> TxStatus:
    """A journal's state seen at ``now`` under ``policy``."""
    oldest = min((t.first_sent for t in state.in_flight.values()), default=None)
    waiting = now - oldest if oldest is not None else 0.0
    held = now - state.blocked.since if state.blocked is not None else 0.0
    spent = state.spent.get(_utc_day(now), 0)
    budget = policy.daily_budget
    return TxStatus(
        pending=len(state.in_flight),
        oldest_pending_seconds=max(0.0, waiting),
        fees_paid_wei=state.paid_total,
        spent_today_wei=spent,
        budget_left_wei=None if budget is None else max(0, budget - spent),
        replacements=state.replacements,
        resubmissions=state.resubmissions,
        blocked=state.blocked,
        stuck_for_seconds=max(0.0, waiting, held),
    )


def statuses_in(data_dir: Path, policy: FeePolicy) -> list[tuple[str, TxStatus]]:
    """Every journaled account's status in ``data_dir`` ("<chain id>-<address>", status).

    Read from the journal files, so any process sees what the sending one does.
    """
    now = time.time()
    return [(name, status_of(state, policy, now)) for name, state in read_journals(data_dir)]


def _utc_day(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%d")
