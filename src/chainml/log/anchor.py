"""Anchoring: putting the log's tree head on chain, by policy, idempotently, through outages.

The ``DecisionLog`` contract accepts a new head only with a consistency proof from the head
it holds, so the chain itself refuses a rewritten history. The :class:`Anchorer` adds the
client half: it checks that the local log still extends the anchored head before it sends,
never anchors two roots for one size, and — run in the background — keeps trying while the
node is unreachable while the log keeps accepting decisions. It records a head as final only
after ``confirmations`` blocks, anchors again when a reorg drops a pending anchor, and reports
a final anchor that disappears (see :mod:`chainml.log.finality`). On a bonded
``ChallengeableLog`` it posts the bond the contract requires before the first anchor (and tops
it up before any later one), see :mod:`chainml.log.anchor_bond`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from chainml.chain import Contract
from chainml.chain.tx_journal import InFlight
from chainml.chain.txmanager import TxStatus
from chainml.errors import (
    BudgetExceededError,
    ChainUnavailableError,
    ContractRevertError,
    FeeCapExceededError,
    InvalidInputError,
    NotFoundError,
    TransactionTimeoutError,
    VerificationError,
)
from chainml.log.anchor_bond import ensure_bond
from chainml.log.anchor_contract import CONTRACT_NAME, contract_key, log_contract
from chainml.log.decision_log import DecisionLog
from chainml.log.finality import FinalAnchorLostError, PendingAnchor, confirmations_for
from chainml.log.store import AnchorRecord
from chainml.retry import Stopped, background_policy

__all__ = [
    "CONTRACT_NAME",
    "AnchorPolicy",
    "Anchorer",
    "contract_key",
    "log_contract",
]
_log = logging.getLogger(__name__)
_MOST_BACKOFF = 60.0  # seconds between attempts while the chain stays down
_FEE_WINDOW = 86_400.0  # seconds of asked fees whose median is "usual" (a daily cycle)


@dataclass(frozen=True)
class AnchorPolicy:
    """Anchor when this many decisions wait, or when the oldest waited this long."""

    every_decisions: int = 10_000
    every_seconds: float = 60.0
    retry_seconds: float = 2.0  # first back-off after a failure; doubles up to a minute
    check_seconds: float = 1.0  # how often a pending anchor is checked for confirmations
    # Patience: with a maximum delay, a due anchor waits while the fee the network asks is
    # above ``patience_factor`` times the median it asked over the last day, until the oldest
    # waiting decision has waited ``max_delay_seconds``; one anchor then covers them all.
    # None: anchor whenever due (the fee cap still holds).
    max_delay_seconds: float | None = None
    patience_factor: float = 1.25


class Anchorer:
    """Anchors one log through one contract.

    ``confirmations`` is how many blocks must be on top of an anchor before it is recorded as
    final (None: by the chain, see :func:`~chainml.log.finality.confirmations_for`).
    """

    def __init__(
        self,
        log: DecisionLog,
        contract: Contract,
        policy: AnchorPolicy | None = None,
        clock: Callable[[], float] = time.monotonic,
        *,
        confirmations: int | None = None,
    ) -> None:
        self.log = log
        self.contract = contract
        self.policy = policy or AnchorPolicy()
        self.confirmations = confirmations_for(contract.env, confirmations)
        self._clock = clock
        self._last_attempt = self._last_check = clock()
        self._pending: PendingAnchor | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.last_error: Exception | None = None
        self._failing_since: float | None = None  # clock time of the first failure in a row
        self._waiting_since: float | None = None  # when decisions began to wait for an anchor
        self._asked: deque[tuple[float, int]] = deque()  # (time, fee asked) over a day
        #: pending anchors a reorg dropped (each was anchored again)
        self.reorgs = 0

    def _latest(self) -> AnchorRecord | None:
        return self.log.store.latest_anchor(self.contract.env.chain_id, self.contract.address)

    @property
    def latest_final(self) -> AnchorRecord | None:
        """The latest head this log recorded as final through this contract."""
        return self._latest()

    @property
    def anchored_size(self) -> int:
        """Size of the latest head this log recorded as final through this contract."""
        latest = self._latest()
        return latest.size if latest else 0

    @property
    def pending(self) -> PendingAnchor | None:
        """The head on chain that waits for its confirmations (as of the last check), if any."""
        return self._pending

    @property
    def covered_size(self) -> int:
        """Size of the latest head on chain, final or pending."""
        pending = self._pending
        return max(self.anchored_size, pending.size if pending else 0)

    def depth(self, pending: PendingAnchor) -> int:
        """Blocks on top of the one that holds ``pending`` (final at ``confirmations``)."""
        return max(0, self.contract.env.block_number - pending.record.block_number)

    # -- what the chain holds ------------------------------------------------------------

    def reconcile(
        self, from_block: int | None = None, *, record: bool = True
    ) -> list[AnchorRecord]:
        """Record the final heads the contract holds that the log has not recorded yet.

        That happens after a crash between the anchor transaction and its bookkeeping, when
        another anchorer of the same log anchored, and as pending heads gain their
        confirmations. Every such head must be a head of this log (VerificationError
        otherwise). ``from_block=0`` re-checks every final head. With ``record=False`` the
        heads are checked and returned but not written (an audit of a read-only copy).
        """
        store, env = self.log.store, self.contract.env
        latest = self._latest()
        if from_block is None:
            from_block = latest.block_number if latest else 0
        to_block = env.block_number - self.confirmations  # the newest block that is final
        if to_block < from_block:
            return []
        added: list[AnchorRecord] = []
        events = self.contract.events("Anchored", from_block=from_block, to_block=to_block)
        for event in events:
            size, root = int(event["size"]), bytes(event["root"])
            if size > store.size:
                raise VerificationError(
                    f"contract {self.contract.address} holds a head of size {size}, beyond this "
                    f"log's {store.size} records: is this the log it anchors?"
                )
            if store.root(size) != root:
                raise VerificationError(
                    f"the anchored head of size {size} (block {event['_block']}) has root "
                    f"0x{root.hex()}, but this log's root at that size is "
                    f"0x{store.root(size).hex()}: the log was changed after anchoring"
                )
            if latest is not None and size <= latest.size:
                continue
            found = self._record_of(event, size, root)
            if record:
                store.record_anchor(found)
            added.append(found)
        return added

    def check_final(self) -> None:
        """Raise FinalAnchorLostError if the contract no longer holds the latest final head."""
        latest = self._latest()
        if latest is None or self._holds(latest):
            return
        gone = not self.contract.env.backend.code(self.contract.address)
        raise FinalAnchorLostError(latest, self.confirmations, contract_gone=gone)

    def _holds(self, record: AnchorRecord) -> bool:
        try:
            return bytes(self.contract.roots(record.size)) == record.root
        except InvalidInputError:  # the answer does not decode: no contract answers there
            return False

    def _record_of(self, event: Any, size: int, root: bytes) -> AnchorRecord:
        """The anchor record of one of the contract's ``Anchored`` events."""
        return AnchorRecord(
            size=size,
            root=root,
            chain_id=self.contract.env.chain_id,
            contract=self.contract.address,
            tx_hash=bytes(event["_tx"]),
            block_number=int(event["_block"]),
            anchored_at=time.time(),
        )

    def settle(self) -> list[AnchorRecord]:
        """Bring the bookkeeping up to date with the chain; return the heads newly final.

        Checks that the latest final head is still held (FinalAnchorLostError otherwise),
        records the heads that gained their confirmations, and follows the pending one: a
        reorg may have moved it to another block, or dropped it (then :meth:`anchor` sends it
        again).
        """
        self._last_check = self._clock()
        self.check_final()
        added = self.reconcile()
        self._track_pending()
        return added

    def _track_pending(self) -> None:
        previous = self._pending
        if previous is not None and previous.size > self.anchored_size:
            if self._unmoved(previous):
                return  # still waiting for its confirmations
            if not self._holds(previous.record):
                self.reorgs += 1
                _log.warning(
                    "a reorg dropped the anchor of size %d (tx 0x%s, block %d) before it was "
                    "final; anchoring again",
                    previous.size,
                    previous.record.tx_hash.hex(),
                    previous.record.block_number,
                )
                self.contract.env.forget_nonces()  # its nonce may be free again
        self._pending = self._unconfirmed_head() if self.confirmations else None

    def _unmoved(self, pending: PendingAnchor) -> bool:
        """Whether the block that held ``pending`` is still there, and the head with it."""
        try:
            block_hash = self.contract.env.block(pending.record.block_number).hash
        except NotFoundError:  # the chain is shorter now than when it was mined
            return False
        return block_hash == pending.block_hash and self._holds(pending.record)

    def _unconfirmed_head(self) -> PendingAnchor | None:
        """The head the contract holds beyond the final one (from its event), if any."""
        store, env = self.log.store, self.contract.env
        final = self._latest()
        chain_size = int(self.contract.size())
        if chain_size <= (final.size if final else 0):
            return None
        events = self.contract.events(
            "Anchored", from_block=final.block_number if final else 0, size=chain_size
        )
        if not events:
            return None  # the chain moved under the two reads: look again next time
        event = events[-1]
        root = bytes(event["root"])
        if chain_size > store.size or store.root(chain_size) != root:
            return None  # not a head of this log: anchor() refuses to go on, naming it
        record = self._record_of(event, chain_size, root)
        return PendingAnchor(record, env.block(record.block_number).hash)

    # -- anchoring -----------------------------------------------------------------------

    def due(self) -> bool:
        """Whether the policy asks for an anchor now (patience included)."""
        waiting = self.log.store.size - self.covered_size
        if waiting <= 0:
            self._waiting_since = None
            return False
        now = self._clock()
        if self._waiting_since is None:
            self._waiting_since = now
        waited = now - self._last_attempt
        if waiting < self.policy.every_decisions and waited < self.policy.every_seconds:
            return False
        return not self._patient(now)

    def _patient(self, now: float) -> bool:
        """Whether a due anchor waits for cheaper fees (see AnchorPolicy.max_delay_seconds)."""
        limit = self.policy.max_delay_seconds
        env = self.contract.env
        if limit is None or env.read_only or self._waiting_since is None:
            return False
        asked = env.tx_manager().quote()
        self._asked.append((now, asked))
        while self._asked and self._asked[0][0] < now - _FEE_WINDOW:
            self._asked.popleft()
        if now - self._waiting_since >= limit:
            return False
        usual = sorted(fee for _, fee in self._asked)[len(self._asked) // 2]
        return asked > self.policy.patience_factor * usual

    def anchor(self) -> AnchorRecord | None:
        """Anchor the current head now; None when the chain already holds it.

        Without confirmations the head is recorded as final at once. Otherwise it is
        :attr:`pending` until :meth:`settle` (called by every anchor, by the background
        loop, and by :meth:`wait_final`) finds it ``confirmations`` blocks deep.
        """
        previous, self._last_attempt = self._last_attempt, self._clock()
        try:
            self.settle()
            if self._follow_in_flight():
                # an anchor is on its way: never a second one for a head; following it is
                # not an attempt, so the next one is due on the policy's schedule
                self._last_attempt = previous
                return None
            return self._anchor()
        except (ChainUnavailableError, FeeCapExceededError, BudgetExceededError):
            # held back, not attempted: still due, so it goes out as soon as it can
            self._last_attempt = previous
            raise

    def _anchor(self) -> AnchorRecord | None:
        store, env = self.log.store, self.contract.env
        head = self.log.head()
        chain_size = int(self.contract.size())
        chain_root = bytes(self.contract.root())
        if chain_size > head.size:
            raise VerificationError(
                f"the chain holds a head of size {chain_size} but this log has only "
                f"{head.size} records: is this the log that contract {self.contract.address} "
                "anchors?"
            )
        if chain_size and store.root(chain_size) != chain_root:
            raise VerificationError(
                f"the local log no longer matches its anchored head at size {chain_size}: "
                f"chain root {chain_root.hex()}, local root {store.root(chain_size).hex()}; "
                "run `chainml log audit`"
            )
        if chain_size == head.size:
            return None  # settle() recorded it, or follows it until it is final
        proof = store.consistency_proof(chain_size, head.size) if chain_size else []
        ensure_bond(self.contract)  # a challengeable log refuses an anchor without its bond
        try:
            receipt = self.contract.anchor(head.size, head.root, proof)
            self._waiting_since = None  # what waits from now on, waits from now on
        except TransactionTimeoutError:
            self._waiting_since = None
            _log.info("the anchor of size %d is sent and not mined yet; following it", head.size)
            return None  # in flight: the next anchor() follows it (replaced, re-sent)
        except ContractRevertError:
            if int(self.contract.size()) >= head.size:  # another anchorer got there first
                self.settle()
                return None
            raise
        record = AnchorRecord(
            size=head.size,
            root=head.root,
            chain_id=env.chain_id,
            contract=self.contract.address,
            tx_hash=receipt.tx_hash,
            block_number=receipt.block_number,
            anchored_at=time.time(),
        )
        if self.confirmations == 0:
            store.record_anchor(record)
            self._pending = None
        else:
            self._pending = PendingAnchor(record, env.block(receipt.block_number).hash)
        _log.info(
            "anchored size %d root %s in block %d (final after %d confirmations)",
            head.size,
            head.root.hex(),
            record.block_number,
            self.confirmations,
        )
        return record

    def in_flight(self) -> list[InFlight]:
        """Anchor transactions sent to this contract and not mined yet (any version)."""
        env = self.contract.env
        if env.read_only:
            return []
        return env.tx_manager().in_flight(self.contract.address)

    def _follow_in_flight(self) -> bool:
        """Poll an anchor transaction in flight; True when there was one.

        It is replaced (same call, same nonce, higher fees) or re-sent by the transaction
        manager; whichever version is mined anchors the head it carries, once. Mined, the
        bookkeeping follows it (:meth:`settle`) before anything new is sent.
        """
        flights = self.in_flight()
        if not flights:
            return False
        receipt = self.contract.env.tx_manager().poll(flights[0].nonce)
        if receipt is None:
            return True
        self.settle()
        return True  # this round followed an anchor; the policy says when the next is due

    def wait_final(self, timeout: float, poll_seconds: float = 1.0) -> AnchorRecord | None:
        """Anchor the head and wait until it is final, anchoring again after a reorg.

        Returns the latest final record, or None when a head is still pending at the timeout.
        """
        deadline = time.monotonic() + timeout
        self.anchor()
        while self._pending is not None:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            time.sleep(min(poll_seconds, left))
            self.anchor()
        return self._latest()

    # -- in the background ---------------------------------------------------------------

    def start(self, poll_seconds: float = 0.5) -> None:
        """Anchor by policy in a background thread until :meth:`stop`."""
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(
            target=self._run, args=(poll_seconds,), name="chainml-anchorer", daemon=True
        )
        self._thread.start()

    def stop(self, final_anchor: bool = False, timeout: float = 30.0) -> None:
        """Stop the background thread (optionally anchoring what is left, once)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        if final_anchor:
            self.anchor()

    def step(self) -> AnchorRecord | None:
        """One round of the background loop: anchor when due, else check when it is time.

        A pending anchor is checked every ``check_seconds``; with nothing pending the final
        head is still checked every ``every_seconds``, so a lost anchor is noticed when idle.
        """
        if self.due() or self.in_flight():
            return self.anchor()
        every = self.policy.check_seconds if self._pending else self.policy.every_seconds
        if self._clock() - self._last_check >= every:
            self.settle()
        return None

    def _run(self, poll_seconds: float) -> None:
        retrying = background_policy(
            self.policy.retry_seconds, _MOST_BACKOFF, self._stop, self._failed
        )
        while not self._stop.wait(poll_seconds):
            try:
                retrying(self.step)
            except Stopped:
                return
            self.last_error = None
            self._failing_since = None

    def tx_status(self) -> TxStatus | None:
        """The anchoring account's transactions (None for a read-only Env)."""
        env = self.contract.env
        return None if env.read_only else env.tx_manager().status()

    @property
    def stuck_for_seconds(self) -> float:
        """How long anchoring has made no progress: failing, held back, or waiting on a tx.

        0 while it works. /readyz compares it with a threshold: fees above the cap, a spent
        budget, a transaction that does not get mined and a node that stays down all count.
        """
        failing = 0.0 if self._failing_since is None else self._clock() - self._failing_since
        status = self.tx_status()
        return max(failing, status.stuck_for_seconds if status is not None else 0.0)

    def _failed(self, err: BaseException) -> None:
        """Keep the thread alive: the error is recorded and logged, and the step retried."""
        self.last_error = err if isinstance(err, Exception) else None
        if self._failing_since is None:
            self._failing_since = self._clock()
        if isinstance(err, ChainUnavailableError | FeeCapExceededError | BudgetExceededError):
            _log.warning("anchoring postponed: %s", err)  # wait, then try again
        elif isinstance(err, FinalAnchorLostError):  # a broken promise: loud, never re-recorded
            _log.critical("%s", err)
        else:
            _log.error("anchoring failed: %s", err)
