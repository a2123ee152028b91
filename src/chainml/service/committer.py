"""Group commit: concurrent requests' decisions go to the log together, one fsync per batch.

Each request hands its encoded records to :meth:`GroupCommitter.submit` and awaits them.
Everything that is waiting is appended to the :class:`DecisionLog` as one atomic, durable batch
(the SQLite store commits with an fsync) and only then are the requests' futures resolved, so a
response is never sent for a decision that is not on disk. While one batch is being written the
next one gathers: the busier the service, the larger the batches, and the cost of an fsync is
shared by everyone in its batch.

With a :class:`~chainml.service.log_writer.WriterProcess` (the default) the event loop itself
sends each batch down the child's pipe and watches the pipe for the answer (``add_reader``):
no thread, so the SQLite work runs on the second core without GIL hand-offs and no wake-up
crosses threads; the next batch leaves as soon as the answer is in. Without one, a writer
thread appends in this process.

A request whose request id is already logged (or taken by an earlier request in the same
batch) fails alone with :class:`DuplicateRequestIdError`; the rest of the batch is written.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from chainml.errors import ChainMLError
from chainml.log.decision_log import DecisionLog
from chainml.service.encoding import PreparedRecords
from chainml.service.log_writer import (
    Logged,
    LogWriterError,
    Outcome,
    WriterProcess,
    append_batch,
)

__all__ = ["CommitStats", "GroupCommitter", "Logged", "ServiceStoppedError"]

_log = logging.getLogger(__name__)


class ServiceStoppedError(ChainMLError):
    """The service is shutting down: nothing more is logged."""

    def __init__(self) -> None:
        super().__init__("the service is stopping; the decision was not logged")


@dataclass
class _Entry:
    records: PreparedRecords
    future: asyncio.Future[Logged]


@dataclass(frozen=True)
class CommitStats:
    """What the writer has done so far."""

    batches: int
    decisions: int
    largest_batch: int


class GroupCommitter:
    """The single writer of a decision log, for many concurrent requests."""

    def __init__(
        self,
        log: DecisionLog,
        max_batch: int = 50_000,
        on_commit: Callable[[int, float], None] | None = None,
        writer: WriterProcess | None = None,
    ) -> None:
        self.log = log
        self.writer = writer  # None: append in the writer thread, in this process
        self.max_batch = max_batch
        self._on_commit = on_commit
        self._pending: deque[_Entry] = deque()
        self._ready = threading.Condition()
        # process mode: requests may come from several event loops (test clients run one
        # each), so entries wait per loop and a batch only holds one loop's entries: that loop
        # watches the pipe for its answer. One batch is with the child at a time (_busy).
        self._waiting: dict[asyncio.AbstractEventLoop, deque[_Entry]] = {}
        self._busy = False
        self._in_flight: tuple[asyncio.AbstractEventLoop, list[_Entry], float] | None = None
        self._fd = -1  # the pipe the sending loop watches
        self._starter: ThreadPoolExecutor | None = None
        self._stopping = False
        self._thread: threading.Thread | None = None
        self._started = False
        self._batches = self._decisions = self._largest = 0

    @property
    def stats(self) -> CommitStats:
        """Batches and decisions written since the start."""
        return CommitStats(self._batches, self._decisions, self._largest)

    def start(self) -> None:
        """Start the writer process, or else the writer thread."""
        self._stopping = False
        if self.writer is not None:
            # children are started by a thread that lives as long as the committer (a child is
            # killed when the thread that started it ends: PR_SET_PDEATHSIG), off the loop
            self._starter = ThreadPoolExecutor(1, thread_name_prefix="chainml-log-writer-start")
            self._starter.submit(self.writer.start).result()
            self._started = True
            return
        self._started = True
        self._thread = threading.Thread(target=self._run, name="chainml-log-writer", daemon=True)
        self._thread.start()

    async def submit(self, records: PreparedRecords) -> Logged:
        """Log ``records`` (all or nothing); return where they are once they are durable."""
        if not self._started:
            raise ServiceStoppedError()
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Logged] = loop.create_future()
        if self.writer is not None:
            with self._ready:
                if self._stopping:
                    raise ServiceStoppedError()
                self._waiting.setdefault(loop, deque()).append(_Entry(records, future))
                idle, self._busy = not self._busy, True
            if idle:
                self._send(loop)
            return await future
        with self._ready:
            if self._stopping:
                raise ServiceStoppedError()
            self._pending.append(_Entry(records, future))
            self._ready.notify()
        return await future

    def stop(self, timeout: float = 30.0) -> None:
        """Write what is waiting, then stop the writer."""
        with self._ready:
            self._stopping = True
            self._ready.notify()
            if self.writer is not None:  # drain here: the loops may not run again
                self._drain()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        if self.writer is not None:
            if self._starter is not None:
                self._starter.shutdown()
            self.writer.close(timeout)

    # -- process mode: the event loops talk to the writer process ------------------------

    def _send(self, loop: asyncio.AbstractEventLoop) -> None:
        """On ``loop`` (which holds the turn): send its waiting entries, or pass the turn on."""
        with self._ready:
            if self._stopping:
                return  # stop() drains
            entries = self._take_from(self._waiting.get(loop))
            if not entries:
                self._pass_turn()
                return
            writer = self.writer
            assert writer is not None
            if not writer.running:  # the child died: start another without blocking the loop
                self._waiting[loop].extendleft(reversed(entries))
                assert self._starter is not None
                self._starter.submit(self._restart, loop)
                return
            try:
                writer.send([entry.records for entry in entries])
                self._fd = writer.fileno()
                loop.add_reader(self._fd, self._answered)
                # uvloop makes a watched fd non-blocking; the pipe's messages are read and
                # written whole (a large batch would fail half-sent with EAGAIN)
                os.set_blocking(self._fd, True)
            except OSError as err:  # the child is gone: the batch fails unacknowledged (503)
                self._writer_failed(err, loop, entries)
                loop.call_soon(self._send, loop)
                return
            self._in_flight = (loop, entries, time.perf_counter())

    def _answered(self) -> None:
        """On the sending loop, when the child answers (or dies): resolve, send the next batch."""
        with self._ready:
            if self._in_flight is None:  # stop() took the answer
                _forget_reader(asyncio.get_running_loop(), self._fd)
                return
            loop, entries, started = self._in_flight
            self._in_flight = None
            _forget_reader(loop, self._fd)
            assert self.writer is not None
            try:
                results = self.writer.receive()
            except (EOFError, OSError) as err:
                self._writer_failed(err, loop, entries)
            else:
                self._finished(loop, entries, results, started)
        self._send(loop)

    def _take_from(self, waiting: deque[_Entry] | None) -> list[_Entry]:
        taken: list[_Entry] = []
        count = 0
        while waiting and (not taken or count + waiting[0].records.count <= self.max_batch):
            entry = waiting.popleft()
            taken.append(entry)
            count += entry.records.count
        return taken

    def _pass_turn(self) -> None:
        """Hand the writer to another loop with entries waiting, or leave it idle (lock held)."""
        for other, waiting in list(self._waiting.items()):
            if not waiting:
                del self._waiting[other]
                continue
            try:
                other.call_soon_threadsafe(self._send, other)
                return
            except RuntimeError:  # a closed loop: nobody waits for its entries any more
                del self._waiting[other]
        self._busy = False

    def _restart(self, loop: asyncio.AbstractEventLoop) -> None:
        assert self.writer is not None
        try:
            self.writer.start()
        except BaseException as err:
            _log.error("the log-writer process cannot be restarted: %s", err)
            with self._ready:
                failed = self._take_from(self._waiting.get(loop))
            _resolve_on(loop, [(entry, err) for entry in failed])
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(self._send, loop)

    def _writer_failed(
        self, err: BaseException, loop: asyncio.AbstractEventLoop, entries: list[_Entry]
    ) -> None:
        """The child died with ``entries`` in hand: they fail (503), a new child comes next."""
        assert self.writer is not None
        _log.error("the log-writer process failed: %s", err)
        self.writer.close()
        failure = LogWriterError("the log writer stopped; the decisions were not acknowledged")
        _resolve_on(loop, [(entry, failure) for entry in entries])

    def _finished(
        self,
        loop: asyncio.AbstractEventLoop,
        entries: list[_Entry],
        results: list[Outcome],
        started: float,
    ) -> None:
        self._count(results, started)
        _resolve_on(loop, list(zip(entries, results, strict=True)))

    def _drain(self) -> None:
        """At stop (lock held): collect the batch in flight, then write every waiting entry."""
        assert self.writer is not None
        if self._in_flight is not None:
            loop, entries, started = self._in_flight
            self._in_flight = None
            if _on(loop):  # else the loop's own callback finds nothing in flight and stops watching
                _forget_reader(loop, self._fd)
            try:
                self._finished(loop, entries, self.writer.receive(), started)
            except (EOFError, OSError) as err:
                self._writer_failed(err, loop, entries)
        for loop, waiting in self._waiting.items():
            while entries := self._take_from(waiting):
                started = time.perf_counter()
                results = self.writer.write([entry.records for entry in entries])
                self._finished(loop, entries, results, started)
        self._waiting.clear()
        self._busy = False

    # -- the writer thread ---------------------------------------------------------------

    def _take(self) -> list[_Entry] | None:
        with self._ready:
            while not self._pending:
                if self._stopping:
                    return None
                self._ready.wait()
            return self._take_from(self._pending)

    def _run(self) -> None:
        while (entries := self._take()) is not None:
            batch = [entry.records for entry in entries]
            started = time.perf_counter()
            try:
                results = append_batch(self.log, batch)
            except BaseException as err:  # the store failed: every request of the batch fails
                _log.error("logging a batch of %d requests failed: %s", len(entries), err)
                results = [err] * len(entries)
            self._count(results, started)
            by_loop: dict[asyncio.AbstractEventLoop, list[tuple[_Entry, Outcome]]] = {}
            for outcome in zip(entries, results, strict=True):  # one wake-up per event loop
                by_loop.setdefault(outcome[0].future.get_loop(), []).append(outcome)
            for loop, some in by_loop.items():
                _resolve_on(loop, some)

    def _count(self, results: list[Outcome], started: float) -> None:
        """Count a batch that wrote anything (failed requests alone do not make a batch)."""
        written = [r.count for r in results if isinstance(r, Logged)]
        if not written:
            return
        size, seconds = sum(written), time.perf_counter() - started
        self._batches += 1
        self._decisions += size
        self._largest = max(self._largest, size)
        if self._on_commit is not None:
            self._on_commit(size, seconds)


def _resolve_on(loop: asyncio.AbstractEventLoop, outcomes: list[tuple[_Entry, Outcome]]) -> None:
    """Resolve futures of ``loop`` from any thread (at once when on the loop's own thread)."""
    if not outcomes:
        return
    if _on(loop):
        _resolve(outcomes)
        return
    with contextlib.suppress(RuntimeError):  # a closed loop: nobody waits any more
        loop.call_soon_threadsafe(_resolve, outcomes)


def _on(loop: asyncio.AbstractEventLoop) -> bool:
    try:
        return asyncio.get_running_loop() is loop
    except RuntimeError:
        return False


def _forget_reader(loop: asyncio.AbstractEventLoop, fd: int) -> None:
    with contextlib.suppress(OSError, ValueError):
        loop.remove_reader(fd)


def _resolve(outcomes: list[tuple[_Entry, Outcome]]) -> None:
    for entry, outcome in outcomes:
        if entry.future.done():  # the client went away and the request was cancelled
            continue
        if isinstance(outcome, BaseException):
            entry.future.set_exception(outcome)
        else:
            entry.future.set_result(outcome)
