"""Group commit: concurrent requests' decisions go to the log together, one fsync per batch.

Each request hands its encoded records to :meth:`GroupCommitter.submit` and awaits them. One
writer thread takes everything that is waiting, appends it to the :class:`DecisionLog` as one
atomic, durable batch (the SQLite store commits with an fsync) and only then resolves the requests'
futures, so a response is never sent for a decision that is not on disk. While one batch is
being written the next one gathers: the busier the service, the larger the batches, and the
cost of an fsync is shared by everyone in its batch. The append itself (encoding, hashing,
SQLite, fsync) runs in a :class:`~chainml.service.log_writer.WriterProcess` when one is given:
the writer thread then only ships a large batch and waits, without the GIL.

A request whose request id is already logged (or taken by an earlier request in the same
batch) fails alone with :class:`DuplicateRequestIdError`; the rest of the batch is written.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from chainml.errors import ChainMLError
from chainml.log.decision_log import DecisionLog
from chainml.service.encoding import PreparedRecords
from chainml.service.log_writer import Logged, Outcome, WriterProcess, append_batch

__all__ = ["CommitStats", "GroupCommitter", "Logged", "ServiceStoppedError"]

_log = logging.getLogger(__name__)
# decisions in a batch from which the writer process appends it: below, the round trip to the
# process costs the event loop more than the append itself (single requests stay in-thread);
# batches alternate safely between the two because one batch is written at a time
PROCESS_FROM = 256


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
        self._stopping = False
        self._thread: threading.Thread | None = None
        self._started = False
        self._batches = self._decisions = self._largest = 0

    @property
    def stats(self) -> CommitStats:
        """Batches and decisions written since the start."""
        return CommitStats(self._batches, self._decisions, self._largest)

    def start(self) -> None:
        """Start the writer thread (and the writer process, if any)."""
        if self.writer is not None:
            self.writer.start()
        self._started = True
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="chainml-log-writer", daemon=True)
        self._thread.start()

    async def submit(self, records: PreparedRecords) -> Logged:
        """Log ``records`` (all or nothing); return where they are once they are durable."""
        if not self._started:
            raise ServiceStoppedError()
        future: asyncio.Future[Logged] = asyncio.get_running_loop().create_future()
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
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        if self.writer is not None:
            self.writer.close(timeout)

    # -- the writer thread ---------------------------------------------------------------

    def _take(self) -> list[_Entry] | None:
        with self._ready:
            while not self._pending:
                if self._stopping:
                    return None
                self._ready.wait()
            taken: list[_Entry] = []
            count = 0
            while self._pending and (
                not taken or count + self._pending[0].records.count <= self.max_batch
            ):
                entry = self._pending.popleft()
                taken.append(entry)
                count += entry.records.count
            return taken

    def _run(self) -> None:
        while (entries := self._take()) is not None:
            batch = [entry.records for entry in entries]
            started = time.perf_counter()
            try:
                if self.writer is not None and sum(r.count for r in batch) >= PROCESS_FROM:
                    results = self.writer.write(batch)
                else:
                    results = append_batch(self.log, batch)
            except BaseException as err:  # the store failed: every request of the batch fails
                _log.error("logging a batch of %d requests failed: %s", len(entries), err)
                results = [err] * len(entries)
            written = [r.count for r in results if isinstance(r, Logged)]
            if written:
                self._count(sum(written), time.perf_counter() - started)
            outcomes = list(zip(entries, results, strict=True))
            by_loop: dict[asyncio.AbstractEventLoop, list[tuple[_Entry, Outcome]]] = {}
            for outcome in outcomes:  # one wake-up per event loop (normally there is one)
                by_loop.setdefault(outcome[0].future.get_loop(), []).append(outcome)
            for loop, some in by_loop.items():
                with contextlib.suppress(RuntimeError):  # a closed loop: nobody waits any more
                    loop.call_soon_threadsafe(_resolve, some)

    def _count(self, size: int, seconds: float) -> None:
        self._batches += 1
        self._decisions += size
        self._largest = max(self._largest, size)
        if self._on_commit is not None:
            self._on_commit(size, seconds)


def _resolve(outcomes: list[tuple[_Entry, Outcome]]) -> None:
    for entry, outcome in outcomes:
        if entry.future.done():  # the client went away and the request was cancelled
            continue
        if isinstance(outcome, BaseException):
            entry.future.set_exception(outcome)
        else:
            entry.future.set_result(outcome)
