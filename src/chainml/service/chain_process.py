"""The service's chain process: it holds the chain and anchors, off the serving process's GIL.

An anchor on the embedded chain executes py-evm and seals a block: tens of milliseconds of
Python that, in the serving process, stalled the event loop once per anchor. So ``chainml
serve`` starts one child that does all of the chain's work:

- on the embedded chain it is the data directory's single writer: it owns the chain and serves
  it over loopback JSON-RPC (advertised in the directory, see :mod:`chainml.chain.ownership`),
  or goes through the process that already serves it; the serving process reads the registry
  through that endpoint with a read-only Env and never opens the chain itself;
- with anchoring on, it runs :class:`~chainml.service.anchoring.BackgroundAnchoring` on its
  own connection to the log, and sends an
  :class:`~chainml.service.anchoring.AnchoringStatus` up its pipe whenever it changes; the
  service keeps the last one (:meth:`ChainProcess.status`) and adds the new anchors and
  failures to its own Prometheus counters.

A supervisor thread in the service starts the child, reads its pipe and starts another, with
back-off, if it dies. The child dies with that thread (``PR_SET_PDEATHSIG`` on Linux) and
leaves when its pipe closes: a killed service leaves no chain owner behind.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing as mp
import os
import signal
import threading
import time
from dataclasses import dataclass, replace
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess

from chainml.chain import Env, connect
from chainml.chain.opening import reach_owner
from chainml.chain.ownership import current_owner
from chainml.chain.txmanager import TxStatus, statuses_in
from chainml.config import Settings
from chainml.errors import ChainError, ChainUnavailableError, DataDirectoryBusyError
from chainml.log.anchor import AnchorPolicy
from chainml.log.decision_log import DecisionLog
from chainml.service.anchoring import (
    OFF,
    AnchoringStatus,
    BackgroundAnchoring,
    register_anchoring_gauges,
)
from chainml.service.log_writer import die_with_parent
from chainml.service.metrics import Metrics

_log = logging.getLogger(__name__)
PUBLISH_SECONDS = 0.25  # how often the child looks for a changed status
_START_SECONDS = 120.0  # for the child to open the chain (py-evm imports, a journal replay)
_BUSY_SECONDS = 15.0  # a killed predecessor may still hold the chain for a moment
_MOST_BACKOFF = 30.0
_STOP = "stop"


class ChainProcessError(ChainError):
    """The chain process could not start (the chain cannot be opened, or it died at once)."""


@dataclass(frozen=True)
class ChainPlan:
    """What the child does: hold the chain, anchor by ``policy`` (None: no anchoring)."""

    settings: Settings
    hold_chain: bool  # own (or reach) the embedded chain at start, for the service's reads
    policy: AnchorPolicy | None


@dataclass(frozen=True)
class _Ready:
    url: str | None  # where the child serves the embedded chain, if it owns it


@dataclass(frozen=True)
class _Failed:
    message: str


class ChainProcess:
    """The service's side of the chain process: start, status, the chain's endpoint, stop."""

    def __init__(self, plan: ChainPlan, metrics: Metrics | None = None) -> None:
        self.plan = plan
        self.metrics = metrics
        self.url: str | None = None  # the embedded chain's endpoint the child serves
        self._status = OFF if plan.policy is None else AnchoringStatus("starting")
        self._counted = (0, 0)  # anchors and errors of the current child already counted
        self._conn: Connection | None = None
        self._process: BaseProcess | None = None
        self._stop = threading.Event()
        self._started = threading.Event()
        self._start_error: BaseException | None = None
        self._thread: threading.Thread | None = None
        self._env: Env | None = None
        self._env_url: str | None = None
        self._env_lock = threading.Lock()
        if metrics is not None and plan.policy is not None:
            register_anchoring_gauges(metrics, self.status, self.tx_status)

    @property
    def pid(self) -> int | None:
        """The child's process id while it runs."""
        process = self._process
        return process.pid if process is not None else None

    def tx_status(self) -> TxStatus | None:
        """The anchoring account's transactions, from the journal the child writes.

        A node's chain only (the embedded chain keeps its journal in memory); None if unknown.
        """
        sender = self._status.sender
        if sender is None:
            return None
        settings = self.plan.settings
        for name, status in statuses_in(settings.data_dir, settings.fee_policy()):
            if name.lower().endswith(sender.lower()):
                return status
        return None

    def status(self) -> AnchoringStatus:
        """The anchoring's last reported state (memory only: cheap for every probe)."""
        return self._status

    @property
    def state(self) -> str:
        """The anchoring's state (see :class:`AnchoringStatus`)."""
        return self._status.state

    @property
    def error(self) -> str | None:
        """The last anchoring problem, for /healthz."""
        return self._status.last_error

    # -- starting and supervising ------------------------------------------------------------

    def start(self) -> None:
        """Start the child and wait until it holds the chain (ChainProcessError if it cannot)."""
        self._stop.clear()
        self._thread = threading.Thread(
            target=self._supervise, name="chainml-chain-process", daemon=True
        )
        self._thread.start()
        self._started.wait()
        if self._start_error is not None:
            self._thread.join()
            self._thread = None
            raise self._start_error

    def _supervise(self) -> None:
        """Start the child, listen to it, start another when it dies (this thread is its parent)."""
        backoff = 1.0
        first = True
        while not self._stop.is_set():
            try:
                self._spawn()
            except BaseException as err:
                if first:
                    self._start_error = err
                    self._started.set()
                    return
                self._down(f"the chain process cannot start: {err}")
            else:
                if first:
                    first = False
                    self._started.set()
                backoff = 1.0
                self._listen()
                if self._stop.is_set():
                    return
                code = self._process.exitcode if self._process is not None else None
                self._down(f"the chain process exited (code {code})")
            self._stop.wait(backoff)
            backoff = min(backoff * 2, _MOST_BACKOFF)

    def _spawn(self) -> None:
        context = mp.get_context("spawn")  # no fork of a process with threads and an event loop
        parent, child = context.Pipe()
        process = context.Process(
            target=_serve,
            args=(child, self.plan, os.getpid()),
            name="chainml-chain",
            daemon=True,
        )
        process.start()
        child.close()
        self._conn, self._process, self._counted = parent, process, (0, 0)
        # the child answers once it holds the chain; an ended pipe is a child that died
        answer: object = _Failed(f"no answer within {_START_SECONDS:g} s")
        try:
            if parent.poll(_START_SECONDS):
                answer = parent.recv()
        except (EOFError, OSError):
            answer = _Failed("it exited at start (its error is on stderr)")
        if isinstance(answer, _Ready):
            self.url = answer.url
            return
        self._reap()
        detail = answer.message if isinstance(answer, _Failed) else f"it answered {answer!r}"
        raise ChainProcessError(f"the chain process did not start: {detail}")

    def _listen(self) -> None:
        """Take the child's status reports until its pipe ends."""
        conn = self._conn
        assert conn is not None
        if self._stop.is_set():  # close() came while this child was starting
            with contextlib.suppress(OSError, ValueError):
                conn.send(_STOP)
        while True:
            try:
                message = conn.recv()
            except (EOFError, OSError):
                break
            if isinstance(message, AnchoringStatus):
                self._report(message)
        self._reap()

    def _report(self, status: AnchoringStatus) -> None:
        """Keep ``status``; add the child's new anchors and failures to the counters."""
        anchors, errors = self._counted
        self._counted = (status.anchors, status.errors)
        if self.metrics is not None:
            if status.anchors > anchors:
                self.metrics.count("anchors", status.anchors - anchors)
            if status.errors > errors:
                self.metrics.count("anchor_errors", status.errors - errors)
        self._status = status

    def _down(self, detail: str) -> None:
        """The child is gone: anchoring (if any) is down since now, or since it failed."""
        _log.error("%s; starting another", detail)
        self.url = None
        if self.metrics is not None and self.plan.policy is not None:
            self.metrics.count("anchor_errors")
        if self.plan.policy is None:
            return
        last = self._status
        since = last.failing_since or time.time()
        self._status = AnchoringStatus(
            "down",
            anchored_size=last.anchored_size,
            anchors=last.anchors,
            errors=last.errors,
            last_error=detail,
            failing_since=since,
            last_anchor_at=last.last_anchor_at,
        )

    def _reap(self) -> None:
        conn, process = self._conn, self._process
        self._conn = None
        if conn is not None:
            conn.close()
        if process is not None:
            process.join(5)
            if process.is_alive():  # its pipe is closed: it is stopping, or hung
                process.kill()
                process.join()

    # -- the chain for the service's reads ----------------------------------------------------

    def chain(self) -> Env:
        """A read-only Env on the embedded chain, through the process that serves it now.

        ChainUnavailableError while nobody serves it (the child is restarting): the service
        never opens the chain itself.
        """
        settings = self.plan.settings
        owner = current_owner(settings.data_dir)
        if owner is None or owner.url is None:
            raise ChainUnavailableError(
                str(settings.data_dir), "no process serves the embedded chain now"
            )
        with self._env_lock:
            if self._env is None or self._env_url != owner.url:  # a new child serves it
                if self._env is not None:
                    self._env.close()
                    self._env = None
                try:
                    self._env = reach_owner(settings, owner.pid, owner.url, read_only=True)
                except DataDirectoryBusyError as err:  # advertised, but gone
                    raise ChainUnavailableError(owner.url, str(err)) from err
                self._env_url = owner.url
            return self._env

    # -- stopping ------------------------------------------------------------------------------

    def close(self, timeout: float = 60.0) -> None:
        """Stop the child (one last anchor first, if it can) and wait for it; kill it late."""
        self._stop.set()
        conn, process, thread = self._conn, self._process, self._thread
        if conn is not None:
            with contextlib.suppress(OSError, ValueError):
                conn.send(_STOP)
        if thread is not None:
            thread.join(timeout)
            if thread.is_alive() and process is not None:
                process.kill()  # by its PID; the supervisor then sees the pipe end
                thread.join(10)
        self._thread = None
        with self._env_lock:
            if self._env is not None:
                self._env.close()
                self._env = None


# -- the child -------------------------------------------------------------------------------


class _Chain:
    """The child's one connection to the chain, opened on first use."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._env: Env | None = None
        self._lock = threading.Lock()

    def __call__(self) -> Env:
        with self._lock:
            if self._env is None:
                # serve=True: an owner serves the chain so that the service (and the CLI) read it
                self._env = connect(self.settings, serve=True)
            return self._env

    def open_patiently(self) -> Env:
        """Open it now; a predecessor that was just killed may hold it for a moment."""
        deadline = time.monotonic() + _BUSY_SECONDS
        while True:
            try:
                return self()
            except DataDirectoryBusyError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    def close(self) -> None:
        with self._lock:
            if self._env is not None:
                self._env.close()
                self._env = None


def _serve(conn: Connection, plan: ChainPlan, parent_pid: int) -> None:
    """The child: hold the chain, anchor, report; stop on ``stop`` or when the pipe ends."""
    die_with_parent(parent_pid)
    # the service handles Ctrl-C and SIGTERM and tells this process when to stop
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    chain = _Chain(plan.settings)
    try:
        url = None
        if plan.hold_chain:
            backend = chain.open_patiently().backend
            url = getattr(backend, "endpoint", None)
    except BaseException as err:
        conn.send(_Failed(str(err)))
        chain.close()
        return
    conn.send(_Ready(url))
    log: DecisionLog | None = None
    anchoring: BackgroundAnchoring | None = None
    try:
        if plan.policy is not None:
            settings = plan.settings
            log = DecisionLog.open(
                settings.data_dir, durability=settings.durability, url=settings.log_url
            )
            anchoring = BackgroundAnchoring(
                log, chain, plan.policy, confirmations=settings.confirmations
            )
            anchoring.start()
        _report_until_stopped(conn, anchoring)
    finally:
        if anchoring is not None:
            anchoring.stop()  # one last anchor of what the service logged
            with contextlib.suppress(OSError, ValueError):
                conn.send(anchoring.status())
        if log is not None:
            log.close()
        chain.close()


def _report_until_stopped(conn: Connection, anchoring: BackgroundAnchoring | None) -> None:
    last: AnchoringStatus | None = None
    while True:
        try:
            if conn.poll(PUBLISH_SECONDS) and conn.recv() == _STOP:
                return
        except (EOFError, OSError):  # the service is gone
            return
        if anchoring is None:
            continue
        status = anchoring.status()
        if status.step_since is not None and time.time() - status.step_since < 1.0:
            status = replace(status, step_since=None)  # an ordinary step: not news
        if status != last:
            try:
                conn.send(status)
            except OSError:
                return
            last = status
