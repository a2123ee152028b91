"""The service's health, kept current off the request path: readiness checks and cached counts.

:class:`HealthMonitor` runs two background threads. One looks at what is local — the serving
model, the log (readable, its directory writable, room on the disk), anchoring's state — a few
times a second, and caches the log's size and anchored size for ``/healthz``. The other asks
the chain for its block number, so that a chain call that hangs delays nothing else; the chain
counts as reachable while it answered within the last ``chain_grace`` seconds. Probes then
read memory only (:mod:`chainml.service.readiness`).
"""

from __future__ import annotations

import logging
import os
import shutil
import threading
import time
from dataclasses import dataclass

from chainml.service.readiness import STARTING, Readiness
from chainml.service.runtime import ServiceRuntime

_log = logging.getLogger(__name__)
MIN_FREE_BYTES = 16 * 1024 * 1024  # below this the next group commit may fail: not ready


@dataclass(frozen=True)
class HealthPolicy:
    """How often health is looked at, and how long a failure is tolerated before not-ready."""

    interval: float = 0.5  # seconds between looks at the local state
    chain_interval: float = 1.0  # seconds between chain polls
    chain_grace: float = 30.0  # the chain is "reachable" while it answered within this
    anchor_stuck: float = 600.0  # anchoring failing this long makes the service not ready


@dataclass(frozen=True)
class Counts:
    """The log's size and anchored size when last looked at (``/healthz`` reports them)."""

    log_size: int = 0
    anchored_size: int = 0


class HealthMonitor:
    """Sets the ``model``, ``log``, ``anchoring`` and ``chain`` checks of ``runtime.readiness``."""

    def __init__(self, runtime: ServiceRuntime, policy: HealthPolicy | None = None) -> None:
        self.runtime = runtime
        self.readiness: Readiness = runtime.readiness
        self.policy = policy or HealthPolicy()
        self.counts = Counts()
        #: ``off``, ``starting`` (not connected yet), ``ok``, ``retrying`` or ``down`` (the
        #: chain process is not running)
        self.anchoring = "off" if not runtime.options.anchor else "starting"
        self.uses_chain = not runtime.pinned or runtime.options.anchor
        self._anchor_failing_since: float | None = None
        self._chain_reached: float | None = None
        self._started = time.monotonic()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        # the service can score without the chain: anchoring and the chain are shown as
        # starting, but only the model and the log hold readiness back until they report
        for check in ("model", "log"):
            self.readiness.require(check)
        if runtime.options.anchor:
            self.readiness.set("anchoring", True, STARTING)
        if self.uses_chain:
            self.readiness.set("chain", True, STARTING)

    def start(self) -> None:
        """Look once now (so the first probe after start-up knows the model and log), then poll."""
        self._stop.clear()
        self.refresh()
        loops = [(self._local_loop, "chainml-health")]
        if self.uses_chain:
            loops.append((self._chain_loop, "chainml-health-chain"))
        for target, name in loops:
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self) -> None:
        """Stop polling (a chain poll in progress is left to finish on its own: daemon)."""
        self._stop.set()
        for thread in self._threads:
            thread.join(2 * self.policy.interval)
        self._threads = []

    def _local_loop(self) -> None:
        while not self._stop.wait(self.policy.interval):
            self.refresh()

    def refresh(self) -> None:
        """Look at the model, the log and anchoring once, and set their checks."""
        runtime = self.runtime
        current = runtime.slot.current
        detail = "" if current else f"no model approved for {runtime.options.use!r}"
        self.readiness.set("model", current is not None, detail)
        self._refresh_log()
        if runtime.options.anchor:
            self._refresh_anchoring(time.monotonic())

    def _refresh_log(self) -> None:
        store = self.runtime.log.store
        data_dir = self.runtime.settings.data_dir
        try:
            latest = store.latest_anchor()
            self.counts = Counts(store.size, latest.size if latest else 0)
            free = shutil.disk_usage(data_dir).free
        except Exception as err:  # any failure to read the log is the log's state, not a crash
            self.readiness.set("log", False, f"the log cannot be read: {err}")
            return
        if not os.access(data_dir, os.W_OK):
            self.readiness.set("log", False, f"the data directory {data_dir} is not writable")
        elif free < MIN_FREE_BYTES:
            self.readiness.set("log", False, f"{free} bytes free on the log's disk")
        else:
            self.readiness.set("log", True)

    def _refresh_anchoring(self, now: float) -> None:
        # The anchorer runs in the chain process (or beside a given Env); its status is a
        # snapshot in memory, so this reads no chain and no database.
        status = self.runtime.anchoring_status()
        self.anchoring = status.state
        if status.state == "off":
            return
        stalled = status.stalled_for()  # held back by the fee cap or budget, or a slow tx
        if status.ok and stalled <= self.policy.anchor_stuck:
            self._anchor_failing_since = None
            detail = STARTING if status.state == "starting" else ""
            if stalled and status.state != "starting":
                detail = f"waiting: {status.detail}"
            self.readiness.set("anchoring", True, detail)
            return
        if self._anchor_failing_since is None:
            self._anchor_failing_since = now
        failing = max(now - self._anchor_failing_since, stalled)
        # a final anchor gone from the chain is a broken promise, not an outage to wait out;
        # a step that has hung for minutes is stuck whatever it reports
        stuck = failing > self.policy.anchor_stuck or status.final_lost or status.stuck_for() > 0
        verb = "stuck" if stuck else status.state
        self.readiness.set("anchoring", not stuck, f"{verb}: {status.detail}")

    def _chain_loop(self) -> None:
        while True:
            self.poll_chain()
            if self._stop.wait(self.policy.chain_interval):
                return

    def poll_chain(self) -> None:
        """Ask the chain for its block number once, and set the ``chain`` check."""
        now = time.monotonic()
        try:
            self.runtime.chain().block_number  # noqa: B018 - the call is the probe
        except Exception as err:  # whatever the node or connection does, the chain is away
            self._chain_unreachable(now, err)
            return
        self._chain_reached = now
        self.readiness.set("chain", True)

    def _chain_unreachable(self, now: float, err: Exception) -> None:
        grace = self.policy.chain_grace
        last = self._chain_reached
        if now - (self._started if last is None else last) <= grace:  # tolerated for a while
            since = "not reached yet" if last is None else "not answering"
            self.readiness.set("chain", True, f"{since} (not ready after {grace:g} s): {err}")
            return
        self.readiness.set("chain", False, f"not reached for over {grace:g} s: {err}")
