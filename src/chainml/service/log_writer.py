"""Appending group-commit batches to the log, in this process or in a log-writer process.

:func:`append_batch` appends the records of several requests as one durable batch: a request
whose id is taken fails alone, the others are written. :class:`WriterProcess` runs it in a
child process, so that encoding, hashing, SQLite and fsync use the second core instead of
taking the GIL from the event loop; the parent sends each batch's inputs through a pipe and
gets back, after the commit, where each request's records went. The child dies with its parent
(``PR_SET_PDEATHSIG`` on Linux, and an end-of-file on its pipe anywhere): a SIGKILLed service
leaves no writer behind to race the next one.
"""

from __future__ import annotations

import ctypes
import functools
import gc
import logging
import multiprocessing as mp
import os
import signal
import sys
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from pathlib import Path

from chainml.errors import ChainMLError, DataDirectoryError, NotFoundError
from chainml.log.decision_log import DecisionLog
from chainml.log.store import DuplicateRequestIdError, Leaf
from chainml.service.encoding import PreparedRecords

_log = logging.getLogger(__name__)
_PR_SET_PDEATHSIG = 1
GC_THRESHOLD = 20_000  # allocations between young-generation collections


@dataclass(frozen=True)
class Logged:
    """Where a request's records went: indices ``first`` to ``first + count - 1``, at a time."""

    first: int
    count: int
    timestamp_ms: int


Outcome = Logged | BaseException


class LogWriterError(ChainMLError):
    """The log-writer process failed or died: the batch's decisions are not acknowledged."""


def append_batch(log: DecisionLog, batch: list[PreparedRecords]) -> list[Outcome]:
    """Append every request's records as one durable batch; one outcome per request.

    A request that repeats a request id of an earlier request in the batch fails before
    anything is written; a request whose id is already in the log fails after the log refuses
    the batch, and the rest is written with the next attempt. However many requests repeat an
    id, the log is asked at most twice (once when none is already logged).
    """
    outcomes: list[Outcome | None] = [None] * len(batch)
    waiting = _first_holders(batch, outcomes)
    for _ in range(2):
        if not waiting:
            break
        stamp: list[int] = []
        try:
            first = log.append_encoded(
                functools.partial(_leaves, [batch[k] for k in waiting], stamp)
            )
        except DuplicateRequestIdError as err:
            waiting = _not_logged(log, batch, waiting, err, outcomes)
            continue
        for k in waiting:
            outcomes[k] = Logged(first, batch[k].count, stamp[0])
            first += batch[k].count
        break
    return [o if o is not None else LogWriterError("not written") for o in outcomes]


def _first_holders(batch: list[PreparedRecords], outcomes: list[Outcome | None]) -> list[int]:
    """The requests whose ids no earlier request of the batch took; the others fail (409)."""
    seen: set[bytes] = set()
    keep: list[int] = []
    for k, records in enumerate(batch):
        mine: set[bytes] = set()
        for rid in records.request_ids:
            if rid in seen or rid in mine:
                outcomes[k] = DuplicateRequestIdError(rid, None)
                break
            mine.add(rid)
        else:
            seen |= mine
            keep.append(k)
    return keep


def _not_logged(
    log: DecisionLog,
    batch: list[PreparedRecords],
    waiting: list[int],
    err: DuplicateRequestIdError,
    outcomes: list[Outcome | None],
) -> list[int]:
    """The requests none of whose ids the log holds; the others fail with where theirs is."""
    keep: list[int] = []
    for k in waiting:
        index = next(
            ((rid, i) for rid in batch[k].request_ids if (i := _index_of(log, rid)) is not None),
            None,
        )
        if index is not None:
            outcomes[k] = DuplicateRequestIdError(*index)
        else:
            keep.append(k)
    if len(keep) == len(waiting):  # the log refused an id it does not hold: fail them all
        for k in waiting:
            outcomes[k] = err
        return []
    return keep


def _index_of(log: DecisionLog, request_id: bytes) -> int | None:
    try:
        return log.index_of(request_id)
    except NotFoundError:
        return None


def _leaves(batch: list[PreparedRecords], stamp: list[int], first: int, now_ms: int) -> list[Leaf]:
    """The leaves of ``batch`` from sequence ``first``; remembers the timestamp in ``stamp``."""
    stamp.append(now_ms)
    leaves: list[Leaf] = []
    for records in batch:
        leaves += records.leaves(first + len(leaves), now_ms)
    return leaves


# -- the writer process -----------------------------------------------------------------------


class WriterProcess:
    """A child process that appends batches to the log in ``data_dir`` (one at a time)."""

    def __init__(self, data_dir: Path, durability: str = "full", url: str | None = None) -> None:
        self.data_dir = data_dir
        self.durability = durability
        self.url = url  # the log's store, when not the data directory's file
        self._conn: Connection | None = None
        self._process: BaseProcess | None = None

    @property
    def pid(self) -> int | None:
        """The child's process id while it runs."""
        return self._process.pid if self._process is not None else None

    def start(self) -> None:
        """Start the child and wait until it has opened the log."""
        context = mp.get_context("spawn")  # no fork of a process with threads and an event loop
        parent, child = context.Pipe()
        process = context.Process(
            target=_serve,
            args=(child, self.data_dir, self.durability, self.url),
            name="chainml-log-writer",
            daemon=True,
        )
        process.start()
        child.close()
        self._conn, self._process = parent, process
        try:
            ready = parent.recv()
        except EOFError:
            ready = LogWriterError("the log-writer process exited at start")
        if isinstance(ready, BaseException):
            self.close()
            raise ready

    @property
    def running(self) -> bool:
        """True while a child is up (after :meth:`start`, until a failure or :meth:`close`)."""
        return self._conn is not None

    def fileno(self) -> int:
        """The parent's end of the pipe, for an event loop to watch for answers."""
        assert self._conn is not None
        return self._conn.fileno()

    def send(self, batch: list[PreparedRecords]) -> None:
        """Hand ``batch`` to the child (OSError if it is gone: nothing of it was written)."""
        assert self._conn is not None
        self._conn.send(batch)

    def receive(self) -> list[Outcome]:
        """The outcomes of the batch sent last (EOFError or OSError if the child died)."""
        assert self._conn is not None
        return [restored(o) for o in self._conn.recv()]

    def write(self, batch: list[PreparedRecords]) -> list[Outcome]:
        """Append ``batch`` in the child; restarts the child next time if it failed."""
        try:
            if self._conn is None:
                self.start()
            assert self._conn is not None
            self.send(batch)
            outcomes = self.receive()
        except (EOFError, OSError) as err:  # the child died: nothing of the batch is acknowledged
            _log.error("the log-writer process failed: %s", err)
            self.close()
            failure = LogWriterError("the log writer stopped; the decisions were not acknowledged")
            return [failure] * len(batch)
        return outcomes

    def close(self, timeout: float = 30.0) -> None:
        """Stop the child (it finishes the batch in hand) and wait for it."""
        conn, process = self._conn, self._process
        self._conn = self._process = None
        if conn is not None:
            conn.close()  # end of file: the child's loop ends
        if process is not None:
            process.join(timeout)
            if process.is_alive():
                process.kill()
                process.join()


def settle_heap(threshold: int = GC_THRESHOLD) -> None:
    """Freeze what a long-running process has loaded so far out of the garbage collector.

    Modules, models and the log's head live as long as the process: frozen, the collector no
    longer rescans them, and with a higher threshold it runs less often (a batch of 1,000
    decisions allocates tens of thousands of objects, which at the default of 700 set off many
    collections). Process-wide: for processes that are only the service or its log writer.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(threshold)


def die_with_parent(parent_pid: int | None = None) -> None:
    """In a child: be killed when the thread that started it ends (Linux), e.g. by SIGKILL.

    With ``parent_pid``, a parent that died before this was set up ends the child at once.
    """
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    if parent_pid is not None and os.getppid() != parent_pid:
        os._exit(1)  # orphaned already: nobody would stop this process


def _serve(conn: Connection, data_dir: Path, durability: str, url: str | None = None) -> None:
    """The child: append each batch received, answer with the outcomes, until end of file."""
    die_with_parent()
    # the parent handles Ctrl-C and SIGTERM and closes the pipe when it has drained
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    try:
        log = DecisionLog.open(data_dir, durability=durability, url=url)
    except BaseException as err:
        conn.send(LogWriterError(f"the log-writer process cannot open the log: {err}"))
        return
    conn.send(None)
    settle_heap()  # the child does nothing else: its heap is the log's and the imports'
    with log:
        while True:
            try:
                batch: list[PreparedRecords] = conn.recv()
            except EOFError:
                return
            started = time.perf_counter()
            try:
                outcomes = [_portable(o) for o in append_batch(log, batch)]
            except BaseException as err:  # the store failed: every request of the batch fails
                outcomes = [_portable(err)] * len(batch)
            _log.debug("batch of %d written in %.4f s", len(batch), time.perf_counter() - started)
            conn.send(outcomes)


def _portable(outcome: Outcome) -> object:
    """Outcomes that survive pickling; failures as a message, but for two kept as themselves.

    A duplicate and an unusable data directory keep their type: their HTTP statuses differ.
    """
    if isinstance(outcome, Logged):
        return outcome
    if isinstance(outcome, DuplicateRequestIdError):
        return _Duplicate(outcome.request_id, outcome.index)
    if isinstance(outcome, DataDirectoryError):
        return _DataDirectory(outcome.path, outcome.detail)
    return LogWriterError(f"the log cannot be written: {outcome}")


@dataclass(frozen=True)
class _Duplicate:
    request_id: bytes
    index: int | None


@dataclass(frozen=True)
class _DataDirectory:
    path: str
    detail: str


def restored(outcome: object) -> Outcome:
    """An outcome as the child sent it, turned back into a result or an exception."""
    if isinstance(outcome, _Duplicate):
        return DuplicateRequestIdError(outcome.request_id, outcome.index)
    if isinstance(outcome, _DataDirectory):
        return DataDirectoryError(outcome.path, outcome.detail)
    if isinstance(outcome, Logged | BaseException):
        return outcome
    return LogWriterError(f"the log writer answered {outcome!r}")
