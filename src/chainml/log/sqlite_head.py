"""What a SqliteLogStore keeps in memory about its file, and how it stays in step with it.

The *head* is the log size, its frontier (see :mod:`chainml.log.subtrees`), the request ids of
leaves not yet merged into the on-disk index, and a cache of upper-level subtree hashes. Complete
subtrees never change, so the cache never goes stale; the rest changes whenever any connection
appends, which ``PRAGMA data_version`` reveals: it changes exactly when another connection
commits. Node ``(L, j)`` is read from the packed ``hashes`` of the leaf that completes it, or
from the ``upper`` table from level :data:`~chainml.log.sqlite_schema.UPPER_LEVEL` on.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from itertools import count
from pathlib import Path
from typing import cast

from chainml.errors import DataDirectoryError
from chainml.log import subtrees
from chainml.log.merkle import HASH_SIZE
from chainml.log.request_filter import RequestFilter
from chainml.log.sqlite_schema import UPPER_LEVEL

#: Nodes at this level and above (1 per 128 leaves) are cached once read or written.
CACHED_LEVEL = UPPER_LEVEL


class SqliteHead:
    """The in-memory head of one connection's view of a SQLite log (not thread-safe by itself)."""

    def __init__(self, conn: sqlite3.Connection, path: Path) -> None:
        self._conn = conn
        self._path = path
        self._version: int | None = None  # PRAGMA data_version when the head was loaded
        self.size = 0
        self.indexed = 0  # request ids of leaves below this are in the requests table
        self.frontier: subtrees.Frontier = {}
        self._young: dict[bytes, int] | None = None  # request id -> leaf, for leaves >= indexed
        self._cache: dict[tuple[int, int], bytes] = {}
        self._filter: RequestFilter | None = None  # the ids of leaves below _filtered
        self._filtered = 0

    def damaged(self, detail: str) -> DataDirectoryError:
        """The error for a log whose rows are not what the store wrote."""
        return DataDirectoryError(
            str(self._path.parent), f"{self._path.name}: {detail}; run an audit"
        )

    def refresh(self) -> None:
        """Reload the head if another connection committed since it was loaded."""
        conn = self._conn
        version = conn.execute("PRAGMA data_version").fetchone()[0]
        if version == self._version:
            return
        own = not conn.in_transaction  # read the head in one snapshot
        if own:
            conn.execute("BEGIN")
        try:
            self._load()
        finally:
            if own:
                conn.execute("COMMIT")
        self._version = version

    def forget(self) -> None:
        """Drop everything known, after a transaction it followed was rolled back."""
        self._version = None
        self.size = self.indexed = self._filtered = 0
        self.frontier, self._young, self._filter = {}, None, None
        self._cache.clear()

    def _load(self) -> None:
        sql = "SELECT name, value FROM meta WHERE name IN ('size', 'indexed_size')"
        meta = dict(self._conn.execute(sql))
        try:
            size, indexed = int(meta["size"]), int(meta["indexed_size"])
        except (KeyError, ValueError) as err:
            raise self.damaged("the log size is missing or malformed") from err
        if self._young is not None and indexed == self.indexed and size >= self.size:
            self._young.update(self._young_rows(self.size, size))
        else:
            self._young = None  # loaded again when needed
        if size < self.size:
            self._cache.clear()  # the file was replaced or rewritten under us
        if size < self.size or indexed < self.indexed:
            self._filter = None
        self.size, self.indexed, self.frontier = size, indexed, {}
        for level, index in subtrees.frontier_positions(size):
            found = self._read_node(level, index)
            if found is not None:  # a missing one stops appends, not reads or audits
                self.frontier[level] = found

    def _young_rows(self, start: int, end: int) -> list[tuple[bytes, int]]:
        return self._conn.execute(
            "SELECT request_id, idx FROM leaves WHERE idx >= ? AND idx < ?"
            " AND request_id IS NOT NULL",
            (start, end),
        ).fetchall()

    def young_ids(self) -> dict[bytes, int]:
        """Request id -> leaf for the leaves whose ids are not in the on-disk index yet."""
        if self._young is None:
            self._young = dict(self._young_rows(self.indexed, self.size))
        return self._young

    def maybe_indexed(self, ids: list[bytes]) -> list[bytes]:
        """Those of ``ids`` that may be in the on-disk index: every one that is, and few others.

        The filter is built on first use from the ``requests`` table (about a second per million
        ids), then kept up to date with the merges of any connection.
        """
        if self._filter is None or self._filtered > self.indexed:
            total = self._conn.execute("SELECT count(*) FROM requests").fetchone()[0]
            found = RequestFilter(2 * total)
            rows = self._conn.execute("SELECT request_id FROM requests")
            while chunk := rows.fetchmany(1 << 16):
                found.add([row[0] for row in chunk])
            self._filter, self._filtered = found, self.indexed
        elif self._filtered < self.indexed:  # another connection merged
            merged = self._young_rows(self._filtered, self.indexed)
            self._filter.add([request_id for request_id, _ in merged])
            self._filtered = self.indexed
        return self._filter.candidates(ids)

    def _read_node(self, level: int, index: int) -> bytes | None:
        if level >= UPPER_LEVEL:
            sql, params = "SELECT hash FROM upper WHERE level = ? AND idx = ?", (level, index)
        else:
            sql = "SELECT substr(hashes, ?, 32) FROM leaves WHERE idx = ?"
            params = (HASH_SIZE * level + 1, subtrees.completing_leaf(level, index))
        row = self._conn.execute(sql, params).fetchone()
        value = row[0] if row else None
        return value if isinstance(value, bytes) and len(value) == HASH_SIZE else None

    def node(self, level: int, index: int) -> bytes:
        """Return the hash of complete subtree ``(level, index)``: memory, else one read."""
        if self.size >> level == index + 1 and level in self.frontier:
            return self.frontier[level]
        cached = self._cache.get((level, index))
        if cached is not None:
            return cached
        found = self._read_node(level, index)
        if found is None:
            raise self.damaged(f"the hash of subtree ({level}, {index}) is missing or malformed")
        if level >= CACHED_LEVEL:
            self._cache[(level, index)] = found
        return found

    def subtree_root(self, start: int, end: int) -> bytes:
        """Return the hash of RFC node ``[start, end)`` (``end`` <= size, not checked here)."""
        return subtrees.fold([self.node(lv, i) for lv, i in subtrees.parts(start, end)])

    def advance(
        self,
        first: int,
        levels: list[list[bytes]],
        frontier: subtrees.Frontier,
        ids: list[bytes | None],
        merged: bool,
    ) -> None:
        """Take in an append of ``levels[0]`` leaves at ``first``, once it is committed."""
        end = first + len(levels[0])
        self.size, self.frontier = end, frontier
        for level in range(CACHED_LEVEL, len(levels)):
            offset = first >> level
            self._cache.update(((level, offset + k), h) for k, h in enumerate(levels[level]))
        if merged:
            young, found = self._young, self._filter
            if young is not None and found is not None and self._filtered == self.indexed:
                found.add([*young, *(i for i in ids if i is not None)])  # what was merged
                self._filtered = end
            self.indexed, self._young = end, {}
        elif self._young is not None:
            pairs = zip(ids, count(first))
            if None in ids:
                self._young.update((i, n) for i, n in pairs if i is not None)
            else:
                self._young.update(cast("Iterator[tuple[bytes, int]]", pairs))
