"""The decision log: decisions become records, records become leaves of a durable Merkle log.

``DecisionLog`` numbers each decision with its index in the log, encodes it
(:mod:`chainml.log.record`) and appends it to a :class:`~chainml.log.store.LogStore` in
batches; an append that returned is on disk (and fsync'd, at ``durability="full"``), and
:meth:`DecisionLog.append_all` makes many batches one all-or-nothing append. Records are
numbered inside the store's write transaction, so several DecisionLogs (processes, hosts) may
append to one store, e.g. a PostgreSQL log shared by service replicas (docs/scale.md).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from chainml._closing import Closing
from chainml.config import ensure_directory
from chainml.errors import DataDirectoryError, InvalidInputError
from chainml.log.record import ZERO32, DecisionRecord, commit_features
from chainml.log.store import AuditProblem, AuditReport, Leaf, LogStore, Progress

LOG_FILE = "decisions.sqlite"


@dataclass(frozen=True)
class TreeHead:
    """The size and root of the log at one moment."""

    size: int
    root: bytes


@dataclass(frozen=True)
class Decision:
    """A decision before it is logged (the log assigns its sequence number)."""

    model_id: bytes
    score: int
    label: int
    request_id: bytes
    features: tuple[int, ...] = field(default=())
    input_commitment: bytes | None = None  # derived from features when None
    metadata_hash: bytes = ZERO32
    timestamp_ms: int | None = None  # now, when None

    def to_record(self, sequence: int, now_ms: int) -> DecisionRecord:
        """The record this decision becomes at position ``sequence``."""
        commitment = self.input_commitment
        if commitment is None:
            commitment = commit_features(self.features)
        return DecisionRecord(
            sequence=sequence,
            timestamp_ms=now_ms if self.timestamp_ms is None else self.timestamp_ms,
            model_id=self.model_id,
            input_commitment=commitment,
            score=self.score,
            label=self.label,
            request_id=self.request_id,
            metadata_hash=self.metadata_hash,
            features=self.features,
        )


class DecisionLog(Closing):
    """Append decisions, read them back, and know the tree head."""

    def __init__(self, store: LogStore, clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self._clock = clock
        self._lock = threading.Lock()

    @classmethod
    def open(
        cls,
        data_dir: Path,
        *,
        durability: str = "full",
        read_only: bool | None = None,
        url: str | None = None,
    ) -> DecisionLog:
        """The log kept in ``data_dir`` (created on first use, unless read-only), or at ``url``.

        ``durability`` is ``"full"`` (every append is fsync'd before it returns: it survives
        power loss) or ``"normal"`` (it survives a crash of the process; a power loss may take
        the log back to an earlier head). ``read_only`` (default: whether ``data_dir`` or the
        log file is not writable) opens the log for reading only: heads, proofs and audits
        work, and every write is a DataDirectoryError.

        ``url`` (the ``log_url`` setting, ``CHAINML_LOG_URL``) names another store instead,
        e.g. a PostgreSQL log shared by several services (:mod:`chainml.log.store_url`).
        """
        from chainml.log.sqlite_store import SqliteLogStore

        if url is not None:
            from chainml.log.store_url import open_store

            return cls(open_store(url, durability=durability, read_only=bool(read_only)))

        path = data_dir / LOG_FILE
        if read_only is None:
            read_only = not _writable(data_dir, path)
        if not read_only:
            try:
                ensure_directory(data_dir)
            except OSError as err:
                raise DataDirectoryError(str(data_dir), f"cannot be created: {err}") from err
        return cls(SqliteLogStore(path, durability=durability, read_only=read_only))

    def append(self, decisions: Iterable[Decision]) -> list[DecisionRecord]:
        """Log ``decisions`` as one atomic, durable batch; return their records."""
        records: list[DecisionRecord] = []

        def build(start: int, now_ms: int) -> list[Leaf]:
            records.extend(d.to_record(start + i, now_ms) for i, d in enumerate(decisions))
            return [(r.encode(), r.request_id) for r in records]

        self.append_encoded(build)
        return records

    def append_all(
        self,
        batches: Iterable[Sequence[Decision]],
        progress: Callable[[int], None] | None = None,
    ) -> int:
        """Log every batch of ``batches`` in one transaction: all of them, or none.

        Batches are taken one at a time (memory holds one), all with the same timestamp for
        decisions that have none; ``progress(n)`` is called after each batch of ``n`` is
        written. Any error, from the store or from ``batches``, leaves the log as it was.
        Returns the sequence number of the first decision.
        """
        now_ms = int(self._clock() * 1000)

        def leaves(first: int) -> Iterator[list[Leaf]]:
            position = first
            for batch in batches:
                records = [d.to_record(position + i, now_ms) for i, d in enumerate(batch)]
                yield [(r.encode(), r.request_id) for r in records]
                position += len(records)
                if progress is not None:
                    progress(len(records))

        with self._lock:
            return self.store.append_all(leaves)

    def append_encoded(self, build: Callable[[int, int], Sequence[Leaf]]) -> int:
        """Log leaves that ``build(first_sequence, now_ms)`` encodes, as one durable batch.

        For callers that encode records in bulk themselves (the scoring service): leaf ``i``
        must be the canonical encoding of a :class:`DecisionRecord` whose sequence is
        ``first_sequence + i``, with its request id. Returns ``first_sequence``.
        """
        now_ms = int(self._clock() * 1000)
        with self._lock:
            # built inside the store's write transaction, from the size it sees there: another
            # writer on the same file (a second process) cannot slip leaves in between, so the
            # sequence numbers are the leaves' indices whoever else appends
            return self.store.append_all(lambda first: [build(first, now_ms)])

    def head(self) -> TreeHead:
        """The current tree head."""
        with self._lock:
            size = self.store.size
            return TreeHead(size, self.store.root(size))

    def record(self, index: int) -> DecisionRecord:
        """The record at ``index``."""
        return DecisionRecord.decode(self.store.leaf_data(index))

    def index_of(self, request_id: bytes) -> int:
        """Index of the record with ``request_id`` (NotFoundError if none)."""
        return self.store.index_of(request_id)

    def audit(self, progress: Progress | None = None) -> AuditReport:
        """The store's audit, plus what only the record layer can check.

        Every leaf must decode as a canonical record whose sequence is its index, and the
        store's request-id index (which the leaf hash does not cover) must point to it.
        """
        report = self.store.audit(progress)
        problems = list(report.problems)
        pending: dict[bytes, int] = {}  # request id -> leaf, checked against the index in bulk
        for index, data in self.store.iter_leaves():
            try:
                record = DecisionRecord.decode(data)
            except InvalidInputError as err:
                problems.append(
                    AuditProblem(index, f"leaf {index} is not a decision record: {err}")
                )
                continue
            if record.sequence != index:
                problems.append(AuditProblem(index, f"leaf {index} holds record {record.sequence}"))
            elif pending.setdefault(record.request_id, index) != index:
                problems.append(_not_pointed_to(index))
            if len(pending) >= _AUDIT_CHUNK:
                problems += _unindexed(self.store, pending)
        problems += _unindexed(self.store, pending)
        problems.sort(key=lambda p: (p.index is None, p.index or 0))
        return replace(
            report,
            problems=tuple(problems[:10]),
            problem_count=report.problem_count + len(problems) - len(report.problems),
        )

    def close(self) -> None:
        """Close the store."""
        self.store.close()


def _writable(data_dir: Path, path: Path) -> bool:
    """Whether the log at ``path`` in ``data_dir`` can be written (or created) by this process."""
    if path.exists():
        return os.access(path, os.W_OK) and os.access(data_dir, os.W_OK)
    if data_dir.exists():
        return os.access(data_dir, os.W_OK)
    # ensure_directory creates it only inside an existing parent: a missing one is its error
    return not data_dir.parent.is_dir() or os.access(data_dir.parent, os.W_OK)


_AUDIT_CHUNK = 4096  # request ids looked up in one indices_of call


def _unindexed(store: LogStore, pending: dict[bytes, int]) -> list[AuditProblem]:
    """The leaves of ``pending`` the store's index does not point to; empties ``pending``."""
    found = store.indices_of(list(pending))
    missed = [_not_pointed_to(i) for request_id, i in pending.items() if found.get(request_id) != i]
    pending.clear()
    return missed


def _not_pointed_to(index: int) -> AuditProblem:
    return AuditProblem(index, f"the request-id index does not point to leaf {index}")
