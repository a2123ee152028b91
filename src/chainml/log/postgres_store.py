"""The decision log kept in PostgreSQL: PostgresLogStore, the LogStore many processes share.

The layout is in :mod:`chainml.log.postgres_schema`. An append locks the one-row ``head`` table
(the sequencer: writers on any host take turns, so indices never repeat or skip), hashes each
new node once from the frontier, streams the leaf rows with ``COPY`` and commits: the append is
durable when the transaction is. The frontier is kept in memory and read again only when another
writer appended in between. A tree head or proof reads every node it needs in one statement
(:mod:`chainml.log.postgres_nodes`); a request-id lookup is one probe of a unique index.

The store holds one connection, used by one thread at a time; it reconnects after the server
went away (a failed statement fails its call, the next call connects again).
"""

# ruff: noqa: D102  (public methods implement LogStore, whose methods carry the docstrings)

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import astuple
from typing import TYPE_CHECKING, Any, TypeVar

from chainml.errors import InvalidInputError, NotFoundError
from chainml.log import merkle, postgres_copy, subtrees
from chainml.log.leaf_batch import LeafBatch
from chainml.log.merkle import EMPTY_ROOT
from chainml.log.postgres_nodes import MissingNodeError, NodeCache, SubtreeRoot, plan
from chainml.log.postgres_schema import (
    RESERVED,
    UPPER_LEVEL,
    LogDatabase,
    LogDatabaseError,
    connect,
    translated,
)
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

if TYPE_CHECKING:
    from chainml.log.leader import Lease
    from chainml.log.postgres_schema import Conn

T = TypeVar("T")
_ITER_CHUNK = 1024  # leaves per read of iter_leaves
_COPY_LEAVES = "COPY leaves (idx, hashes, request_id, data) FROM STDIN (FORMAT BINARY)"
_COPY_UPPER = "COPY upper (level, idx, hash) FROM STDIN (FORMAT BINARY)"
_ANCHOR_COLUMNS = "size, root, chain_id, contract, tx_hash, block_number, anchored_at"
_UPSERT_ANCHOR = (
    f"INSERT INTO anchors ({_ANCHOR_COLUMNS}) VALUES (%s, %s, %s, %s, %s, %s, %s)"
    " ON CONFLICT (chain_id, contract, size) DO UPDATE SET root = EXCLUDED.root,"
    " tx_hash = EXCLUDED.tx_hash, block_number = EXCLUDED.block_number,"
    " anchored_at = EXCLUDED.anchored_at"
)


class PostgresLogStore(LogStore):
    """A :class:`LogStore` in a PostgreSQL schema, named by ``url`` (see LogDatabase).

    The schema is created on first use unless ``create=False``; ``read_only`` refuses every
    write (and opens the session read-only). Any number of stores, in any processes, may append
    to one log at once.
    """

    def __init__(self, url: str, *, create: bool = True, read_only: bool = False) -> None:
        self.database = LogDatabase.from_url(url)
        self._create = create
        self._read_only = read_only
        self._lock = threading.RLock()
        self._nodes = NodeCache()
        self._known_size = 0  # a lower bound of the size: logs only grow
        self._frontier: tuple[int, subtrees.Frontier] | None = None  # (size, frontier)
        self._closed = False
        self._conn: Conn | None = connect(self.database, create=create, read_only=read_only)

    @property
    def read_only(self) -> bool:
        return self._read_only

    def __repr__(self) -> str:
        return f"PostgresLogStore({self.database.where})"

    # -- the connection ----------------------------------------------------------------------

    @contextmanager
    def _using(self) -> Iterator[Conn]:
        """The connection, under the lock, with errors translated; reconnects if it broke."""
        with self._lock, translated(self.database):
            if self._closed:
                raise LogDatabaseError(self.database.where, "the store is closed")
            if self._conn is None or self._conn.broken or self._conn.closed:
                if self._conn is not None:
                    self._conn.close()
                self._conn = None
                self._frontier = None
                self._conn = connect(self.database, create=False, read_only=self._read_only)
            try:
                yield self._conn
            except MissingNodeError as err:
                raise self._damaged(str(err)) from err

    def _damaged(self, detail: str) -> LogDatabaseError:
        return LogDatabaseError(
            self.database.where, f"the log is damaged: {detail}; run `chainml log audit`"
        )

    def _writable(self) -> None:
        if self._read_only:
            raise LogDatabaseError(
                self.database.where, "the log is open read-only; appending needs write access"
            )

    def _size(self, conn: Conn) -> int:
        row = conn.execute("SELECT size FROM head").fetchone()
        if row is None:
            raise self._damaged("the head row is missing")
        return self._note_size(int(row[0]))

    def _note_size(self, size: int) -> int:
        """Remember ``size`` as read from the head row; return it."""
        if size < self._known_size:
            self._nodes.clear()  # the log was replaced or rewritten under us
            self._frontier = None
        self._known_size = size
        return size

    # -- leaves ------------------------------------------------------------------------------

    def append(self, leaves: Sequence[Leaf]) -> int:
        batch = LeafBatch.of(leaves)  # hashed before the sequencer is locked
        if not batch.datas:
            return self.size
        return self._commit(lambda _: [batch])

    def append_all(self, batches: Callable[[int], Iterable[Sequence[Leaf]]]) -> int:
        return self._commit(lambda first: map(LeafBatch.of, batches(first)))

    def _commit(self, batches: Callable[[int], Iterable[LeafBatch]]) -> int:
        """Write every batch in one transaction, under the sequencer lock; the first index."""
        self._writable()
        with self._using() as conn:
            staged: list[tuple[int, list[list[bytes]]]] = []
            with conn.transaction():
                row = conn.execute("SELECT size FROM head FOR UPDATE").fetchone()
                if row is None:
                    raise self._damaged("the head row is missing")
                first = size = int(row[0])
                frontier = self._frontier_at(conn, size)
                for batch in batches(first):
                    if batch.datas:
                        levels, frontier = self._write(conn, size, frontier, batch)
                        staged.append((size, levels))
                        size += len(batch.datas)
                if size != first:
                    conn.execute("UPDATE head SET size = %s", (size,))
            # committed: what it wrote is now the log's, and may be remembered
            self._frontier = (size, frontier)
            self._known_size = max(self._known_size, size)
            for at, levels in staged:
                self._nodes.add(at, levels)
            return first

    def _frontier_at(self, conn: Conn, size: int) -> subtrees.Frontier:
        """The frontier of the tree of ``size`` leaves: remembered, or read (another writer)."""
        if self._frontier is not None and self._frontier[0] == size:
            return self._frontier[1]
        positions = subtrees.frontier_positions(size)
        try:
            nodes = self._nodes.read(conn, positions)
        except MissingNodeError as err:
            raise self._damaged("a subtree on the right edge of the tree is missing") from err
        return {level: nodes[(level, index)] for level, index in positions}

    def _write(
        self,
        conn: Conn,
        size: int,
        frontier: subtrees.Frontier,
        batch: LeafBatch,
    ) -> tuple[list[list[bytes]], subtrees.Frontier]:
        import psycopg

        levels, new_frontier = subtrees.extend(size, frontier, batch.hashes)
        rows = subtrees.by_completing_leaf(size, levels, UPPER_LEVEL)
        try:
            # a savepoint: see below
            with conn.transaction(), conn.cursor() as cursor, cursor.copy(_COPY_LEAVES) as copy:
                copy.write(postgres_copy.leaf_rows(size, rows, batch.ids, batch.datas))
        except psycopg.errors.UniqueViolation as err:
            # rolled back to the savepoint: earlier batches of this append are still visible
            taken = self._found(conn, batch.given_ids)
            for request_id in batch.given_ids:
                if request_id in taken:
                    raise DuplicateRequestIdError(request_id, taken[request_id]) from err
            raise self._damaged(f"a leaf row at or beyond index {size} already exists") from err
        upper = [
            (level, (size >> level) + k, value)
            for level in range(UPPER_LEVEL, len(levels))
            for k, value in enumerate(levels[level])
        ]
        if upper:
            with conn.cursor() as cursor, cursor.copy(_COPY_UPPER) as copy:
                copy.write(postgres_copy.upper_rows(upper))
        return levels, new_frontier

    def _found(self, conn: Conn, ids: Sequence[bytes]) -> dict[bytes, int]:
        sql = "SELECT request_id, idx FROM leaves WHERE request_id = ANY(%s)"
        return {bytes(i): int(n) for i, n in conn.execute(sql, (list(ids),))}

    def indices_of(self, request_ids: Sequence[bytes]) -> dict[bytes, int]:
        ids = list(request_ids)
        if not all(isinstance(i, bytes) and len(i) == REQUEST_ID_SIZE for i in ids):
            raise InvalidInputError(f"a request id is {REQUEST_ID_SIZE} bytes")
        if not ids:
            return {}
        with self._using() as conn:
            return self._found(conn, ids)

    @property
    def size(self) -> int:
        with self._using() as conn:
            return self._size(conn)

    def leaf_data(self, index: int) -> bytes:
        with self._using() as conn:
            self._check_index(conn, index)
            row = conn.execute("SELECT data FROM leaves WHERE idx = %s", (index,)).fetchone()
            if row is None or not isinstance(row[0], bytes):
                raise self._damaged(f"leaf {index} is missing")
            return row[0]

    def leaf_hash(self, index: int) -> bytes:
        with self._using() as conn:
            self._check_index(conn, index)
            return self._nodes.read(conn, [(0, index)])[(0, index)]

    def _check_index(self, conn: Conn, index: int) -> None:
        if not (0 <= index < self._known_size or 0 <= index < self._size(conn)):
            raise NotFoundError(f"leaf {index} is not in the log of size {self._known_size}")

    def index_of(self, request_id: bytes) -> int:
        if not isinstance(request_id, bytes) or len(request_id) != REQUEST_ID_SIZE:
            raise InvalidInputError(f"a request id is {REQUEST_ID_SIZE} bytes")
        with self._using() as conn:
            sql = "SELECT idx FROM leaves WHERE request_id = %s"
            row = conn.execute(sql, (request_id,)).fetchone()
        if row is None:
            raise NotFoundError(f"no leaf has request id 0x{request_id.hex()}")
        return int(row[0])

    def iter_leaves(self, start: int = 0, end: int | None = None) -> Iterator[tuple[int, bytes]]:
        return self._leaves_from(*leaf_range(start, end, self.size))

    def _leaves_from(self, position: int, end: int) -> Iterator[tuple[int, bytes]]:
        while position < end:  # one short read at a time: no transaction stays open
            stop = min(end, position + _ITER_CHUNK)
            with self._using() as conn:
                sql = "SELECT idx, data FROM leaves WHERE idx >= %s AND idx < %s ORDER BY idx"
                rows = conn.execute(sql, (position, stop)).fetchall()
            for index, data in rows:
                if int(index) != position or not isinstance(data, bytes):
                    break
                yield position, data
                position += 1
            if position < stop:
                raise self._damaged(f"leaf {position} is missing")

    # -- tree heads and proofs: every node in one read -----------------------------------------

    def _sized(self, conn: Conn, size: int | None, name: str) -> int:
        """``size`` checked against the log (read only when it may exceed what is known)."""
        if size is not None and 0 <= size <= self._known_size:
            return size
        return checked_size(size, self._size(conn), name)

    def subtree_root(self, start: int, end: int) -> bytes:
        parts = subtrees.parts(start, end)  # InvalidInputError for other shapes
        with self._using() as conn:
            if end > self._known_size and end > self._size(conn):
                raise InvalidInputError(f"[{start}, {end}) exceeds the log size {self._known_size}")
            nodes = self._nodes.read(conn, parts)
        return subtrees.fold([nodes[p] for p in parts])

    def _at(
        self, size: int | None, name: str, run: Callable[[int], Callable[[SubtreeRoot], T]]
    ) -> T:
        """Run ``run(size)(subtree_root)`` at ``size`` (None: the current size), reading once.

        At the current size the proof is planned for the size last seen and read with the
        size itself, in one statement; only if the log grew meanwhile is it read again.
        """
        with self._using() as conn:
            if size is None and self._known_size > 0:
                guess = self._known_size
                try:
                    wanted = plan(run(guess))
                except InvalidInputError:
                    wanted = None  # not a proof of the size last seen: read the size first
                if wanted is not None:
                    nodes, current = self._nodes.read_with_size(conn, wanted)
                    self._note_size(current)
                    if current == guess:
                        return run(guess)(_folding(nodes))
                    return self._nodes.compute(conn, run(current))  # it grew: plan again
            size = self._sized(conn, size, name)
            return self._nodes.compute(conn, run(size))

    def root(self, size: int | None = None) -> bytes:
        def run(at: int) -> Callable[[SubtreeRoot], bytes]:
            return lambda node: node(0, at) if at else EMPTY_ROOT

        return self._at(size, "size", run)

    def inclusion_proof(self, index: int, size: int | None = None) -> list[bytes]:
        def run(at: int) -> Callable[[SubtreeRoot], list[bytes]]:
            return lambda node: merkle.inclusion_proof_from(index, at, node)

        return self._at(size, "size", run)

    def consistency_proof(self, old_size: int, new_size: int | None = None) -> list[bytes]:
        def run(at: int) -> Callable[[SubtreeRoot], list[bytes]]:
            return lambda node: merkle.consistency_proof_from(old_size, at, node)

        return self._at(new_size, "new size", run)

    # -- anchors and settings ----------------------------------------------------------------

    def record_anchor(self, anchor: AnchorRecord) -> None:
        self._writable()
        with self._using() as conn, conn.transaction():
            if anchor.size > self._size(conn):
                raise InvalidInputError(f"anchored size {anchor.size} exceeds the log size")
            sql = "SELECT root FROM anchors WHERE chain_id = %s AND contract = %s AND size = %s"
            row = conn.execute(sql, (anchor.chain_id, anchor.contract, anchor.size)).fetchone()
            if row is not None and bytes(row[0]) != anchor.root:
                raise AnchorConflictError(anchor, bytes(row[0]), "the root recorded for it is")
            ours = (
                self._nodes.compute(conn, lambda node: node(0, anchor.size))
                if anchor.size
                else EMPTY_ROOT
            )
            if ours != anchor.root:
                raise AnchorConflictError(anchor, ours, "the log's root at that size is")
            conn.execute(_UPSERT_ANCHOR, astuple(anchor))

    def _select_anchors(
        self, chain_id: int | None, contract: str | None, order: str
    ) -> list[AnchorRecord]:
        sql = f"SELECT {_ANCHOR_COLUMNS} FROM anchors WHERE (%s::bigint IS NULL OR chain_id = %s)"
        sql += f" AND (%s::text IS NULL OR contract = %s) ORDER BY {order}"
        wanted = None if contract is None else checksummed(contract)
        with self._using() as conn:
            rows = conn.execute(sql, (chain_id, chain_id, wanted, wanted)).fetchall()
        return [_anchor_of(row) for row in rows]

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
        self._writable()
        wanted = checksummed(contract)
        with self._using() as conn:
            sql = "DELETE FROM anchors WHERE chain_id = %s AND contract = %s"
            sql += f" RETURNING {_ANCHOR_COLUMNS}"
            rows = conn.execute(sql, (chain_id, wanted)).fetchall()
        return sorted((_anchor_of(row) for row in rows), key=lambda a: a.size)

    def get_meta(self, name: str) -> str | None:
        with self._using() as conn:
            row = conn.execute("SELECT value FROM meta WHERE name = %s", (name,)).fetchone()
        return None if row is None else str(row[0])

    def _settable(self, name: str) -> None:
        if not isinstance(name, str):
            raise InvalidInputError("meta names are strings")
        if name in RESERVED:
            raise InvalidInputError(f"meta {name!r} is managed by the store itself")
        self._writable()

    def set_meta(self, name: str, value: str) -> None:
        if not isinstance(value, str):
            raise InvalidInputError("meta names and values are strings")
        self._settable(name)
        with self._using() as conn:
            conn.execute(
                "INSERT INTO meta (name, value) VALUES (%s, %s)"
                " ON CONFLICT (name) DO UPDATE SET value = EXCLUDED.value",
                (name, value),
            )

    def delete_meta(self, name: str) -> bool:
        self._settable(name)
        with self._using() as conn:
            return conn.execute("DELETE FROM meta WHERE name = %s", (name,)).rowcount > 0

    # -- leadership ----------------------------------------------------------------------------

    def lease(self, name: str, ttl: float) -> Lease:
        from chainml.log.leader import PostgresLease

        return PostgresLease(self.database, name, ttl)

    # -- integrity and lifetime --------------------------------------------------------------

    def audit(self, progress: Progress | None = None) -> AuditReport:
        from chainml.log.postgres_audit import PostgresAuditReader

        size, anchors = self.size, self.anchors()
        reader = PostgresAuditReader(self._using)
        return run_audit(reader, size, anchors, progress)

    def close(self) -> None:
        with self._lock:
            if not self._closed:
                self._closed = True
                if self._conn is not None:
                    self._conn.close()
                    self._conn = None


def _folding(nodes: dict[tuple[int, int], bytes]) -> SubtreeRoot:
    """``subtree_root`` over complete subtrees already read."""
    return lambda start, end: subtrees.fold([nodes[p] for p in subtrees.parts(start, end)])


def _anchor_of(row: tuple[Any, ...]) -> AnchorRecord:
    size, root, chain_id, contract, tx_hash, block_number, anchored_at = row
    return AnchorRecord(
        size=int(size),
        root=bytes(root),
        chain_id=int(chain_id),
        contract=str(contract),
        tx_hash=bytes(tx_hash),
        block_number=int(block_number),
        anchored_at=float(anchored_at),
    )
