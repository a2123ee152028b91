"""Background anchoring for the service: the log's Anchorer, started once the chain answers.

The service never waits for the chain. Until the node answers (and the log's anchor contract
is found or deployed) a thread keeps trying with back-off; then the log's
:class:`~chainml.log.anchor.Anchorer` anchors by policy in its own thread, retrying through
outages, never anchoring a size twice, recording heads as final only after the configured
confirmations and anchoring again when a reorg drops a pending one. Scoring goes on whatever
the chain does.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

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
Sample = tuple[Labels, float]


class CountingAnchorer(Anchorer):
    """An Anchorer that counts its anchors and failures in the service's metrics."""

    def __init__(
        self,
        log: DecisionLog,
        contract: Contract,
        policy: AnchorPolicy,
        metrics: Metrics,
        confirmations: int | None = None,
    ) -> None:
        super().__init__(log, contract, policy, confirmations=confirmations)
        self.metrics = metrics

    def step(self) -> AnchorRecord | None:
        """One round of the loop (see :meth:`Anchorer.step`), counting the outcome."""
        try:
            record = super().step()
        except Exception:
            self.metrics.count("anchor_errors")
            raise
        if record is not None:
            self.metrics.count("anchors")
        return record


class BackgroundAnchoring:
    """Connects to the chain when it can, then anchors by policy until stopped."""

    def __init__(
        self,
        log: DecisionLog,
        chain: Callable[[], Env],
        policy: AnchorPolicy,
        metrics: Metrics,
        confirmations: int | None = None,
    ) -> None:
        self.log = log
        self._chain = chain
        self.policy = policy
        self.metrics = metrics
        self.confirmations = confirmations  # None: by the chain (0 on development chains)
        self.anchorer: CountingAnchorer | None = None
        self.last_error: Exception | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._not_connected_since: float | None = None  # first failed connection attempt
        self._register_gauges()

    def _register_gauges(self) -> None:
        def gauge(read: Callable[[CountingAnchorer], float]) -> Callable[[], list[Sample]]:
            return lambda: [((), read(self.anchorer) if self.anchorer is not None else 0)]

        def pending_size(anchorer: CountingAnchorer) -> float:
            pending = anchorer.pending
            return pending.size if pending is not None else 0

        self.metrics.gauges.update(tx_gauges(self.tx_status))
        self.metrics.gauges.update(
            {
                "chainml_anchor_stuck_seconds": (
                    "Seconds anchoring has made no progress: failing, held back by the fee "
                    "cap or budget, or waiting for a transaction (0: it works).",
                    lambda: [((), self.stuck_for_seconds)],
                ),
                "chainml_anchor_pending_size": (
                    "Size of the head anchored on chain and waiting for its confirmations "
                    "(0: none).",
                    gauge(pending_size),
                ),
                "chainml_anchor_reorgs": (
                    "Anchors a reorg dropped before they were final (each anchored again).",
                    gauge(lambda anchorer: anchorer.reorgs),
                ),
                "chainml_anchor_final_lost": (
                    "1 while an anchor recorded as final is missing from the chain (a reorg "
                    "deeper than the confirmations, or a reset node).",
                    lambda: [((), isinstance(self._last_error(), FinalAnchorLostError))],
                ),
            }
        )

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
        """``ok`` while anchoring works, ``retrying`` while the chain fails."""
        if self.anchorer is None:
            return "retrying"
        return "retrying" if self.anchorer.last_error is not None else "ok"

    def _last_error(self) -> Exception | None:
        return self.anchorer.last_error if self.anchorer is not None else self.last_error

    @property
    def error(self) -> str | None:
        """The last anchoring problem, for /healthz."""
        err = self._last_error()
        return None if err is None else str(err)

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
        self.anchorer = anchorer
        anchorer.start(POLL_SECONDS)

    def _connect_once(self) -> CountingAnchorer:
        env = self._chain()
        anchorer = CountingAnchorer(
            self.log, log_contract(env, self.log), self.policy, self.metrics, self.confirmations
        )
        anchorer.settle()  # heads anchored before a crash are recorded (or followed)
        return anchorer

    def _not_started(self, err: BaseException) -> None:
        """The chain is not there yet: recorded, counted and logged; tried again later."""
        self.last_error = err if isinstance(err, Exception) else None
        if self._not_connected_since is None:
            self._not_connected_since = time.monotonic()
        self.metrics.count("anchor_errors")
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
