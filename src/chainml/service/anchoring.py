"""Background anchoring: the log's Anchorer, started once the chain answers, and its status.

The service never waits for the chain. Until the node answers (and the log's anchor contract
is found or deployed) a thread keeps trying with back-off; then the log's
:class:`~chainml.log.anchor.Anchorer` anchors by policy in its own thread, retrying through
outages, never anchoring a size twice, recording heads as final only after the configured
confirmations and anchoring again when a reorg drops a pending one. Scoring goes on whatever
the chain does.

``chainml serve`` runs this in its chain process (:mod:`chainml.service.chain_process`), so
that py-evm execution and anchor transactions never take the serving process's GIL; the
child sends :class:`AnchoringStatus` snapshots back. An application that hands the service
its own ``Env`` runs it as a thread beside the chain it holds.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from chainml.chain import Contract, Env
from chainml.chain.txmanager import TxStatus
from chainml.log.anchor import Anchorer, AnchorPolicy, log_contract
from chainml.log.decision_log import DecisionLog
from chainml.log.finality import FinalAnchorLostError
from chainml.log.store import AnchorRecord
from chainml.retry import Stopped, background_policy
from chainml.service.metrics import Labels, Metrics
from chainml.service.tx_metrics import tx_gauges

_log = logging.getLogger(__name__)
POLL_SECONDS = 0.25
_MOST_BACKOFF = 30.0  # seconds between attempts to reach the chain while it stays down
#: an anchoring step (anchor transaction, settling) running longer than this is "stuck"
STUCK_SECONDS = 60.0
Sample = tuple[Labels, float]


@dataclass(frozen=True)
class AnchoringStatus:
    """A snapshot of anchoring, cheap to read and to send between processes.

    ``state`` is ``off``, ``starting`` (not connected yet, no failure), ``ok``, ``retrying``
    (the last attempt failed) or ``down`` (the chain process is not running). Times are
    wall-clock seconds (``time.time()``); ``failing_since`` is when the current run of
    failures began, ``step_since`` when the anchoring step now in progress began (None
    between steps). ``anchors`` and ``errors`` count since the anchoring started.
    """

    state: str
    anchored_size: int = 0
    pending_size: int = 0
    reorgs: int = 0
    anchors: int = 0
    errors: int = 0
    final_lost: bool = False
    last_error: str | None = None
    failing_since: float | None = None
    last_anchor_at: float | None = None
    step_since: float | None = None
    # since when anchoring has made no progress: failing, held back by the fee cap or the
    # budget, or waiting for its transaction (wall clock, whole seconds; None: it progresses)
    stalled_since: float | None = None
    sender: str | None = None  # the anchoring account, whose transactions the journal holds

    def stalled_for(self, now: float | None = None) -> float:
        """Seconds anchoring has made no progress (0: it progresses)."""
        if self.stalled_since is None:
            return 0.0
        return max(0.0, (time.time() if now is None else now) - self.stalled_since)

    def stuck_for(self, now: float | None = None) -> float:
        """Seconds the step in progress has run beyond :data:`STUCK_SECONDS` (0: not stuck)."""
        if self.step_since is None:
            return 0.0
        return max(0.0, (time.time() if now is None else now) - self.step_since - STUCK_SECONDS)

    @property
    def ok(self) -> bool:
        """Whether anchoring works (or is off, or still starting without a failure)."""
        return self.state in ("off", "starting", "ok") and not self.stuck_for()

    @property
    def detail(self) -> str:
        """One line for a readiness check or an operator."""
        now = time.time()
        if self.state == "off":
            return "anchoring is off"
        parts = [f"{self.state}, anchored size {self.anchored_size}"]
        if self.pending_size:
            parts.append(f"pending size {self.pending_size}")
        if self.failing_since is not None:
            parts.append(f"failing for {now - self.failing_since:.0f} s")
        elif self.stalled_since is not None:
            parts.append(f"no progress for {self.stalled_for(now):.0f} s")
        if self.stuck_for(now):
            assert self.step_since is not None
            parts.append(f"one step running for {now - self.step_since:.0f} s")
        if self.last_error is not None:
            parts.append(f"last error: {self.last_error}")
        return "; ".join(parts)


OFF = AnchoringStatus("off")


def register_anchoring_gauges(
    metrics: Metrics,
    status: Callable[[], AnchoringStatus],
    tx_status: Callable[[], TxStatus | None] | None = None,
) -> None:
    """The anchoring gauges of ``metrics``, read from ``status()`` at scrape time.

    ``tx_status()`` gives the anchoring account's transactions for the ``chainml_tx_*`` gauges.
    """

    def gauge(read: Callable[[AnchoringStatus], float]) -> Callable[[], list[Sample]]:
        return lambda: [((), read(status()))]

    metrics.gauges.update(
        {
            "chainml_anchor_pending_size": (
                "Size of the head anchored on chain and waiting for its confirmations (0: none).",
                gauge(lambda s: s.pending_size),
            ),
            "chainml_anchor_reorgs": (
                "Anchors a reorg dropped before they were final (each anchored again).",
                gauge(lambda s: s.reorgs),
            ),
            "chainml_anchor_final_lost": (
                "1 while an anchor recorded as final is missing from the chain (a reorg "
                "deeper than the confirmations, or a reset node).",
                gauge(lambda s: s.final_lost),
            ),
            "chainml_anchor_stuck_seconds": (
                "Seconds anchoring has made no progress: failing, held back by the fee "
                "cap or budget, or waiting for a transaction (0: it works).",
                gauge(lambda s: s.stalled_for()),
            ),
        }
    )
    if tx_status is not None:
        metrics.gauges.update(tx_gauges(tx_status))


class CountingAnchorer(Anchorer):
    """An Anchorer that counts its anchors and failures, and knows when a step began."""

    def __init__(
        self,
        log: DecisionLog,
        contract: Contract,
        policy: AnchorPolicy,
        owner: BackgroundAnchoring,
        confirmations: int | None = None,
    ) -> None:
        super().__init__(log, contract, policy, confirmations=confirmations)
        self.owner = owner
        self.step_since: float | None = None

    def step(self) -> AnchorRecord | None:
        """One round of the loop (see :meth:`Anchorer.step`), counting the outcome."""
        self.step_since = time.time()
        try:
            record = super().step()
        except Exception as err:
            self.owner.failed(err)
            raise
        finally:
            self.step_since = None
        self.owner.succeeded(record, self.anchored_size)
        return record


class BackgroundAnchoring:
    """Connects to the chain when it can, then anchors by policy until stopped.

    With ``metrics`` the anchors and failures are counted there and the anchoring gauges
    registered; without, :meth:`status` is the only report (the chain process sends it).
    """

    def __init__(
        self,
        log: DecisionLog,
        chain: Callable[[], Env],
        policy: AnchorPolicy,
        metrics: Metrics | None = None,
        confirmations: int | None = None,
    ) -> None:
        self.log = log
        self._chain = chain
        self.policy = policy
        self.metrics = metrics
        self.confirmations = confirmations  # None: by the chain (0 on development chains)
        self.anchorer: CountingAnchorer | None = None
        self.last_error: Exception | None = None
        self.anchors = self.errors = 0
        self.failing_since: float | None = None
        self.last_anchor_at: float | None = None
        self.anchored_size = 0  # as of the last step: status() reads no database
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._not_connected_since: float | None = None  # first failed connection attempt
        if metrics is not None:
            register_anchoring_gauges(metrics, self.status, self.tx_status)

    # -- what happened -------------------------------------------------------------------

    def failed(self, err: BaseException) -> None:
        """Count a failed attempt (the chain's, or reaching it)."""
        self.errors += 1
        if self.failing_since is None:
            self.failing_since = time.time()
        if self.metrics is not None:
            self.metrics.count("anchor_errors")

    def succeeded(self, record: AnchorRecord | None, anchored_size: int) -> None:
        """Count a step that worked (an anchor if ``record``): the failures are over."""
        self.failing_since = None
        self.anchored_size = anchored_size
        if record is not None:
            self.anchors += 1
            self.last_anchor_at = time.time()
            if self.metrics is not None:
                self.metrics.count("anchors")

    def tx_status(self) -> TxStatus | None:
        """The anchoring account's transactions; None until connected."""
        anchorer = self.anchorer
        return None if anchorer is None else anchorer.tx_status()

    @property
    def stuck_for_seconds(self) -> float:
        """How long anchoring has made no progress (connecting included); for /readyz."""
        anchorer = self.anchorer
        if anchorer is not None:
            return anchorer.stuck_for_seconds
        since = self._not_connected_since
        return 0.0 if since is None else time.monotonic() - since

    @property
    def state(self) -> str:
        """``starting``, ``ok``, or ``retrying`` while the chain fails."""
        if self._last_error() is not None:
            return "retrying"
        return "starting" if self.anchorer is None else "ok"

    def _last_error(self) -> Exception | None:
        return self.anchorer.last_error if self.anchorer is not None else self.last_error

    @property
    def error(self) -> str | None:
        """The last anchoring problem, for /healthz."""
        err = self._last_error()
        return None if err is None else str(err)

    def status(self) -> AnchoringStatus:
        """A snapshot of the anchoring (reads only memory: cheap enough for every probe)."""
        anchorer = self.anchorer
        pending = anchorer.pending if anchorer is not None else None
        return AnchoringStatus(
            state=self.state,
            anchored_size=self.anchored_size,
            pending_size=pending.size if pending is not None else 0,
            reorgs=anchorer.reorgs if anchorer is not None else 0,
            anchors=self.anchors,
            errors=self.errors,
            final_lost=isinstance(self._last_error(), FinalAnchorLostError),
            last_error=self.error,
            failing_since=self.failing_since,
            last_anchor_at=self.last_anchor_at,
            step_since=anchorer.step_since if anchorer is not None else None,
            stalled_since=round(time.time() - stuck) if (stuck := self.stuck_for_seconds) else None,
            sender=anchorer.contract.env.sender if anchorer is not None else None,
        )

    # -- running -------------------------------------------------------------------------

    def start(self) -> None:
        """Start trying (returns at once)."""
        self._stop.clear()
        self._thread = threading.Thread(
            target=self._connect, name="chainml-anchor-connect", daemon=True
        )
        self._thread.start()

    def _connect(self) -> None:
        retrying = background_policy(
            self.policy.retry_seconds, _MOST_BACKOFF, self._stop, self._not_started
        )
        try:
            anchorer = retrying(self._connect_once)
        except Stopped:
            return
        self.last_error = None
        self.failing_since = None
        self.anchored_size = anchorer.anchored_size
        self.anchorer = anchorer
        anchorer.start(POLL_SECONDS)

    def _connect_once(self) -> CountingAnchorer:
        env = self._chain()
        anchorer = CountingAnchorer(
            self.log, log_contract(env, self.log), self.policy, self, self.confirmations
        )
        anchorer.settle()  # heads anchored before a crash are recorded (or followed)
        return anchorer

    def _not_started(self, err: BaseException) -> None:
        """The chain is not there yet: recorded, counted and logged; tried again later."""
        self.last_error = err if isinstance(err, Exception) else None
        if self._not_connected_since is None:
            self._not_connected_since = time.monotonic()
        self.failed(err)
        if isinstance(err, FinalAnchorLostError):
            _log.critical("%s", err)  # a broken promise, not an outage
        else:
            _log.warning("anchoring not started yet: %s", err)

    def stop(self) -> None:
        """Stop anchoring; a last anchor is attempted when the chain is reachable."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(30)
            self._thread = None
        anchorer = self.anchorer
        if anchorer is None:
            return
        anchorer.stop()
        if anchorer.last_error is None and self.log.store.size > anchorer.covered_size:
            try:
                anchorer.anchor()
            except Exception as err:  # best effort: the next start catches up
                _log.warning("final anchor skipped: %s", err)
