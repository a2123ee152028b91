"""The decision log kept in one SQLite file: SqliteLogStore, the embedded LogStore.

The file format is in :mod:`chainml.log.sqlite_schema`, the in-memory head in
:mod:`chainml.log.sqlite_head`. An append hashes each new node once from the frontier held in
memory, reads nothing back and writes one row per leaf (and one narrow row per request id), in
one transaction; the request-id index grows by one sorted run per merge; a tree head or proof
reads at most two complete subtrees per level by primary key. Other connections, in this process
or another, may read and append to the same file.
"""

# ruff: noqa: D102  (public methods implement LogStore, whose methods carry the docstrings)

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import astuple
from functools import lru_cache
from hashlib import sha256
from itertools import chain, count
from pathlib import Path
from typing import cast

from chainml.errors import DataDirectoryError, InvalidInputError, NotFoundError
from chainml.log import merkle, subtrees
from chainml.log.leaf_batch import checked_batch
from chainml.log.merkle import EMPTY_ROOT
from chainml.log.request_filter import request_keys
from chainml.log.sqlite_audit import SqliteAuditReader
from chainml.log.sqlite_checkpoint import Checkpointer
from chainml.log.sqlite_head import SqliteHead
from chainml.log.sqlite_schema import RESERVED, UPPER_LEVEL, in_chunk, open_log, translated
from chainml.log.store import (
    REQUEST_ID_SIZE,
    AnchorConflictError,
    AnchorRecord,
    AuditReport,
    DuplicateRequestIdError,
    Leaf,
    LogStore,
    Progress,
    checked_size,
    checksummed,
    leaf_range,
)
from chainml.log.store_audit import run_audit

_ITER_CHUNK = 1024  # leaves per read of iter_leaves
_INSERT_LEAVES = "INSERT INTO leaves (idx, hashes, request_id, data) VALUES "
_ROWS_PER_INSERT = 250  # one statement inserts many rows: a third less time than one a row
_INSERT_UPPER = "INSERT INTO upper (level, idx, hash) VALUES (?, ?, ?)"
_INSERT_YOUNG = "INSERT INTO young (idx, key, request_id) VALUES "
_YOUNG_TO_RUN = (
    "INSERT INTO request_runs (run, key, idx) SELECT ?, key, idx FROM young ORDER BY key, idx"
)
_BYTES_A_LEAF_LOG2 = 10  # what a leaf adds to the WAL, about, for the checkpointer
_SAVE_FILTER_EVERY = 1  # merges between two saves of the Bloom filter, at least (see SqliteHead)
_SET_META = "INSERT OR REPLACE INTO meta (name, value) VALUES (?, ?)"
# the fields of AnchorRecord, in their order
_ANCHOR_COLUMNS = "size, root, chain_id, contract, tx_hash, block_number, anchored_at"


class SqliteLogStore(LogStore):
    """A :class:`LogStore` in the SQLite file ``path`` (created if absent, unless ``create=False``).

    ``durability="full"`` (the default) makes every append survive power loss (an fsync per
    commit); ``"normal"`` survives any process crash. Up to ``merge_every`` request ids are
    indexed in memory before they are merged into the on-disk index as one sorted run; a
    start-up reads at most that many leaf rows to find them again.
    ``read_only=True`` never writes or creates the file (see
    :func:`~chainml.log.sqlite_schema.open_log` for a copy in a read-only directory), and a
    missing file reads as the empty log. The store is thread-safe.
    """

    def __init__(
        self,
        path: Path | str,
        *,
        durability: str = "full",
        create: bool = True,
        merge_every: int = 1 << 15,
        read_only: bool = False,
    ) -> None:
        if durability not in ("full", "normal"):
            raise InvalidInputError(f"durability must be 'full' or 'normal', not {durability!r}")
        if merge_every < 1:
            raise InvalidInputError(f"merge_every must be positive, not {merge_every}")
        self.path = Path(path)
        self._merge_every = merge_every
        self._lock = threading.RLock()
        self._closed = False
        self._read_only = read_only
        self._conn = open_log(
            self.path, synchronous=durability.upper(), create=create, read_only=read_only
        )
        self._head = SqliteHead(self._conn, self.path)
        self._checkpointer: Checkpointer | None = None
        with self._reading():
            pass
        if not read_only:  # checkpoints leave the commit path for a thread of their own
            with translated(self.path):
                self._conn.execute("PRAGMA wal_autocheckpoint = 0")
            self._checkpointer = Checkpointer(self.path)

    def _check_open(self) -> None:
        if self._closed:
            raise DataDirectoryError(str(self.path.parent), f"{self.path.name}: store is closed")

    @property
    def read_only(self) -> bool:
        return self._read_only

    @contextmanager
    def _reading(self) -> Iterator[SqliteHead]:
        """The head, up to date with every commit, for one operation."""
        with self._lock, translated(self.path):
            self._check_open()
            self._head.refresh()
            yield self._head

    @contextmanager
    def _writing(self) -> Iterator[tuple[sqlite3.Connection, SqliteHead]]:
        """One write transaction, holding the database's write lock from its start."""
        with self._lock, translated(self.path):
            self._check_open()
            if self._read_only:
                raise DataDirectoryError(
                    str(self.path.parent),
                    f"{self.path.name} is open read-only (the directory or the file is not "
                    "writable); appending, anchoring and settings need write access",
                )
            conn = self._conn
            conn.execute("BEGIN IMMEDIATE")
            try:
                self._head.refresh()
                yield conn, self._head
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise

    # -- leaves ------------------------------------------------------------------------------

    def append(self, leaves: Sequence[Leaf]) -> int:
        batch = _Batch.of(leaves)  # hashed before the lock is taken
        if not batch.datas:
            return self.size
        return self._commit(lambda _: [batch])

    def append_all(self, batches: Callable[[int], Iterable[Sequence[Leaf]]]) -> int:
        return self._commit(lambda first: map(_Batch.of, batches(first)))

    def _commit(self, batches: Callable[[int], Iterable[_Batch]]) -> int:
        """Write every batch in one transaction; the head follows it, or forgets it on failure."""
        with self._lock:
            first: int | None = None
            try:
                with self._writing() as (conn, head):
                    first = head.size
                    if len(head.frontier) != first.bit_count():
                        raise head.damaged("a subtree on the right edge of the tree is missing")
                    for batch in batches(first):
                        if batch.datas:
                            self._write(conn, head, batch)
            except BaseException:
                if first is not None and self._head.size != first:
                    self._head.forget()  # it took in batches that were rolled back
                raise
            with translated(self.path):
                self._head.save_filter(_SAVE_FILTER_EVERY * self._merge_every)
            if self._checkpointer is not None:
                self._checkpointer.wrote(self._head.size - first << _BYTES_A_LEAF_LOG2)
            return first

    def _write(self, conn: sqlite3.Connection, head: SqliteHead, batch: _Batch) -> None:
        first, end = head.size, head.size + len(batch.datas)
        given, keys = batch.given_ids()  # each id's key computed once, for all that follows
        self._check_new_ids(head, given, keys)
        levels, frontier = subtrees.extend(first, head.frontier, batch.hashes)
        rows = subtrees.by_completing_leaf(first, levels, UPPER_LEVEL)
        _insert_many(conn, _INSERT_LEAVES, 4, zip(count(first), rows, batch.ids, batch.datas))
        conn.executemany(_INSERT_UPPER, _upper_rows(first, levels))
        young = zip(batch.given_at(first), keys, given, strict=True)
        _insert_many(conn, _INSERT_YOUNG, 3, young)
        merged: bytes | None = None
        if end - head.indexed >= self._merge_every:
            # the run is sorted by SQLite and appended after every older one
            conn.execute(_YOUNG_TO_RUN, (head.indexed,))
            conn.execute("DELETE FROM young")
            merged = _sorted_keys(request_keys(list(head.young_ids())) + keys)
            sql = "INSERT INTO runs (start, end, keys) VALUES (?, ?, ?)"
            conn.execute(sql, (head.indexed, end, merged))
            conn.execute(_SET_META, ("indexed_size", str(end)))
        conn.execute(_SET_META, ("size", str(end)))
        head.advance(first, levels, frontier, batch.ids, merged)  # the next batch builds on it

    def _check_new_ids(self, head: SqliteHead, ids: list[bytes], keys: list[int]) -> None:
        found = self._find(head, ids, keys)
        if found:
            taken = next(i for i in ids if i in found)
            raise DuplicateRequestIdError(taken, found[taken])

    def _find(
        self, head: SqliteHead, ids: Sequence[bytes], keys: list[int] | None = None
    ) -> dict[bytes, int]:
        young = head.young_ids()
        found = {i: young[i] for i in ids if i in young}
        candidates = head.maybe_indexed(list(ids), keys) if ids else []  # in memory: rarely any
        if candidates:
            found.update(head.indexed_at(candidates))
        return found

    def indices_of(self, request_ids: Sequence[bytes]) -> dict[bytes, int]:
        ids = list(request_ids)
        if not all(isinstance(i, bytes) and len(i) == REQUEST_ID_SIZE for i in ids):
            raise InvalidInputError(f"a request id is {REQUEST_ID_SIZE} bytes")
        with self._reading() as head:
            return {i: int(n) for i, n in self._find(head, ids).items()}

    @property
    def size(self) -> int:
        with self._reading() as head:
            return head.size

    def leaf_data(self, index: int) -> bytes:
        with self._reading() as head:
            _check_index(index, head.size)
            row = self._conn.execute("SELECT data FROM leaves WHERE idx = ?", (index,)).fetchone()
            if row is None:
                raise head.damaged(f"leaf {index} is missing")
            return bytes(row[0])

    def leaf_hash(self, index: int) -> bytes:
        with self._reading() as head:
            _check_index(index, head.size)
            return head.node(0, index)

    def index_of(self, request_id: bytes) -> int:
        if not isinstance(request_id, bytes) or len(request_id) != REQUEST_ID_SIZE:
            raise InvalidInputError(f"a request id is {REQUEST_ID_SIZE} bytes")
        with self._reading() as head:
            found = head.young_ids().get(request_id)
            if found is None:
                found = head.indexed_at([request_id]).get(request_id)
        if found is None:
            raise NotFoundError(f"no leaf has request id 0x{request_id.hex()}")
        return found

    def iter_leaves(self, start: int = 0, end: int | None = None) -> Iterator[tuple[int, bytes]]:
        return self._leaves_from(*leaf_range(start, end, self.size))

    def _leaves_from(self, position: int, end: int) -> Iterator[tuple[int, bytes]]:
        while position < end:  # one short read at a time: no transaction stays open
            stop = min(end, position + _ITER_CHUNK)
            with self._reading() as head:
                sql = "SELECT idx, data FROM leaves WHERE idx >= ? AND idx < ? ORDER BY idx"
                rows = self._conn.execute(sql, (position, stop)).fetchall()
            for index, data in rows:
                if index != position:
                    break
                yield index, bytes(data)
                position += 1
            if position < stop:
                raise head.damaged(f"leaf {position} is missing")

    # -- tree heads: the generic versions would check the head once per node, these once -----

    def subtree_root(self, start: int, end: int) -> bytes:
        with self._reading() as head:
            if end > head.size:
                raise InvalidInputError(f"[{start}, {end}) exceeds the log size {head.size}")
            return head.subtree_root(start, end)

    def root(self, size: int | None = None) -> bytes:
        with self._reading() as head:
            size = checked_size(size, head.size, "size")
            return EMPTY_ROOT if size == 0 else head.subtree_root(0, size)

    def inclusion_proof(self, index: int, size: int | None = None) -> list[bytes]:
        with self._reading() as head:
            size = checked_size(size, head.size, "size")
            return merkle.inclusion_proof_from(index, size, head.subtree_root)

    def consistency_proof(self, old_size: int, new_size: int | None = None) -> list[bytes]:
        with self._reading() as head:
            new_size = checked_size(new_size, head.size, "new size")
            return merkle.consistency_proof_from(old_size, new_size, head.subtree_root)

    # -- anchors and settings ----------------------------------------------------------------

    def record_anchor(self, anchor: AnchorRecord) -> None:
        with self._writing() as (conn, head):
            if anchor.size > head.size:
                raise InvalidInputError(f"anchored size {anchor.size} exceeds the log size")
            sql = "SELECT root FROM anchors WHERE chain_id = ? AND contract = ? AND size = ?"
            row = conn.execute(sql, (anchor.chain_id, anchor.contract, anchor.size)).fetchone()
            if row is not None and bytes(row[0]) != anchor.root:
                raise AnchorConflictError(anchor, bytes(row[0]), "the root recorded for it is")
            ours = head.subtree_root(0, anchor.size) if anchor.size else EMPTY_ROOT
            if ours != anchor.root:
                raise AnchorConflictError(anchor, ours, "the log's root at that size is")
            marks = ", ".join("?" * 7)
            sql = f"INSERT OR REPLACE INTO anchors ({_ANCHOR_COLUMNS}) VALUES ({marks})"
            conn.execute(sql, astuple(anchor))

    def _select_anchors(
        self, chain_id: int | None, contract: str | None, order: str
    ) -> list[AnchorRecord]:
        sql = f"SELECT {_ANCHOR_COLUMNS} FROM anchors WHERE (? IS NULL OR chain_id = ?)"
        sql += f" AND (? IS NULL OR contract = ?) ORDER BY {order}"
        wanted = None if contract is None else checksummed(contract)
        with self._reading():
            rows = self._conn.execute(sql, (chain_id, chain_id, wanted, wanted)).fetchall()
        return [AnchorRecord(*row) for row in rows]

    def anchors(
        self, chain_id: int | None = None, contract: str | None = None
    ) -> list[AnchorRecord]:
        return self._select_anchors(chain_id, contract, "size, chain_id, contract")

    def latest_anchor(
        self, chain_id: int | None = None, contract: str | None = None
    ) -> AnchorRecord | None:
        found = self._select_anchors(chain_id, contract, "size DESC, anchored_at DESC LIMIT 1")
        return found[0] if found else None

    def forget_anchors(self, chain_id: int, contract: str) -> list[AnchorRecord]:
        wanted = checksummed(contract)
        with self._writing() as (conn, _):
            where = "FROM anchors WHERE chain_id = ? AND contract = ?"
            sql = f"SELECT {_ANCHOR_COLUMNS} {where} ORDER BY size"
            rows = conn.execute(sql, (chain_id, wanted)).fetchall()
            conn.execute(f"DELETE {where}", (chain_id, wanted))
        return [AnchorRecord(*row) for row in rows]

    def get_meta(self, name: str) -> str | None:
        with self._reading():
            row = self._conn.execute("SELECT value FROM meta WHERE name = ?", (name,)).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, name: str, value: str) -> None:
        if not isinstance(name, str) or not isinstance(value, str):
            raise InvalidInputError("meta names and values are strings")
        if name in RESERVED:
            raise InvalidInputError(f"meta {name!r} is managed by the store itself")
        with self._writing() as (conn, _):
            conn.execute(_SET_META, (name, value))

    def delete_meta(self, name: str) -> bool:
        if not isinstance(name, str):
            raise InvalidInputError("meta names are strings")
        if name in RESERVED:
            raise InvalidInputError(f"meta {name!r} is managed by the store itself")
        with self._writing() as (conn, _):
            return conn.execute("DELETE FROM meta WHERE name = ?", (name,)).rowcount > 0

    # -- integrity and lifetime --------------------------------------------------------------

    def audit(self, progress: Progress | None = None) -> AuditReport:
        with self._reading() as head:  # one view: every anchor is within the size
            size, indexed, anchors = head.size, head.indexed, self.anchors()
        reader = SqliteAuditReader(self._conn, self._lock, self.path, indexed)
        return run_audit(reader, size, anchors, progress)

    def close(self) -> None:
        with self._lock:
            if not self._closed:
                self._closed = True
                if self._checkpointer is not None:
                    self._checkpointer.close()
                self._conn.close()
                self._head.saved()


def _insert_many(
    conn: sqlite3.Connection, insert: str, columns: int, rows: Iterable[tuple[object, ...]]
) -> None:
    """Run ``insert`` (``INSERT INTO t (...) VALUES``) for ``rows``, many rows to a statement."""
    flat = list(chain.from_iterable(rows))
    step = columns * min(_ROWS_PER_INSERT, in_chunk(conn) // columns)
    whole = len(flat) - len(flat) % step
    if whole:
        params = [flat[k : k + step] for k in range(0, whole, step)]
        conn.executemany(_many_rows(insert, columns, step // columns), params)
    if whole < len(flat):
        conn.execute(_many_rows(insert, columns, (len(flat) - whole) // columns), flat[whole:])


@lru_cache(maxsize=64)
def _many_rows(insert: str, columns: int, count: int) -> str:
    values = "(" + ", ".join("?" * columns) + ")"
    return insert + ", ".join([values] * count)


def _sorted_keys(keys: list[int]) -> bytes:
    """``keys`` sorted, packed as :func:`~chainml.log.request_filter.pack_keys` packs them."""
    import numpy as np

    ordered = np.array(keys, dtype=np.int64)
    ordered.sort()
    return ordered.astype("<i8").tobytes()


def _upper_rows(first: int, levels: list[list[bytes]]) -> Iterator[tuple[int, int, bytes]]:
    for level in range(UPPER_LEVEL, len(levels)):
        offset = first >> level
        yield from ((level, offset + k, h) for k, h in enumerate(levels[level]))


def _check_index(index: int, size: int) -> None:
    if not 0 <= index < size:
        raise NotFoundError(f"leaf {index} is not in the log of size {size}")


class _Batch:
    """A batch of leaves checked and hashed, ready to be written."""

    __slots__ = ("datas", "hashes", "ids")

    def __init__(self, datas: list[bytes], ids: list[bytes | None]) -> None:
        self.datas = datas
        self.ids = ids
        self.hashes = [sha256(b"\x00" + data).digest() for data in datas]

    @classmethod
    def of(cls, leaves: Sequence[Leaf]) -> _Batch:
        return cls(*checked_batch(leaves))

    def given_ids(self) -> tuple[list[bytes], list[int]]:
        """The request ids given (not None), in order, and their keys."""
        given = self.ids if None not in self.ids else [i for i in self.ids if i is not None]
        return cast("list[bytes]", given), request_keys(cast("list[bytes]", given))

    def given_at(self, first: int) -> Iterable[int]:
        """The leaf indices of the ids given, for a batch appended at ``first``."""
        if None not in self.ids:
            return range(first, first + len(self.ids))
        return [n for n, i in enumerate(self.ids, first) if i is not None]
