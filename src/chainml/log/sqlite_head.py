"""What a SqliteLogStore keeps in memory about its file, and how it stays in step with it.

The *head* is the log size, its frontier (see :mod:`chainml.log.subtrees`), the request ids of
leaves not yet merged into the on-disk index, and a cache of upper-level subtree hashes. Complete
subtrees never change, so the cache never goes stale; the rest changes whenever any connection
appends, which ``PRAGMA data_version`` reveals: it changes exactly when another connection
commits. Node ``(L, j)`` is read from the packed ``hashes`` of the leaf that completes it, or
from the ``upper`` table from level :data:`~chainml.log.sqlite_schema.UPPER_LEVEL` on.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import struct
import threading
from collections.abc import Iterator
from itertools import count
from pathlib import Path
from typing import cast

from chainml.errors import DataDirectoryError
from chainml.files import sweep_stale_temporaries
from chainml.log import subtrees
from chainml.log.merkle import HASH_SIZE
from chainml.log.request_filter import RequestFilter, request_key
from chainml.log.sqlite_schema import UPPER_LEVEL, in_chunk

#: Nodes at this level and above (1 per 256 leaves) are cached once read or written.
CACHED_LEVEL = UPPER_LEVEL
_INDEXED_AT = (
    "SELECT l.request_id, l.idx FROM request_runs AS r JOIN leaves AS l ON l.idx = r.idx"
    " WHERE r.run IN (SELECT start FROM runs WHERE start < ?) AND r.key IN ({marks})"
)
_SAVE_BYTES_PER_ID = 160
_SAVED = struct.Struct(">16sQ")  # the log's id, and the indexed size a saved filter covers


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
        self._runs: list[int] | None = None  # starts of the index's runs, loaded when needed
        self._saving: threading.Thread | None = None
        self._saved = 0  # the indexed size the filter file covers, as far as this head knows
        self.filter_path = path.with_name(path.name + "-filter")
        self._swept = False  # whether this head removed killed saves' temporaries yet

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
        self.frontier, self._young, self._filter, self._runs = {}, None, None, None
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
        if indexed != self.indexed:
            self._runs = None
        self.size, self.indexed, self.frontier = size, indexed, {}
        for level, index in subtrees.frontier_positions(size):
            found = self._read_node(level, index)
            if found is not None:  # a missing one stops appends, not reads or audits
                self.frontier[level] = found

    def _young_rows(self, start: int, end: int) -> list[tuple[bytes, int]]:
        return self._conn.execute(
            "SELECT request_id, idx FROM young WHERE idx >= ? AND idx < ?", (start, end)
        ).fetchall()

    def young_ids(self) -> dict[bytes, int]:
        """Request id -> leaf for the leaves whose ids are not in the on-disk index yet."""
        if self._young is None:
            self._young = dict(self._young_rows(self.indexed, self.size))
        return self._young

    def maybe_indexed(self, ids: list[bytes], keys: list[int] | None = None) -> list[bytes]:
        """Those of ``ids`` that may be in the on-disk index: every one that is, and few others.

        ``keys``, if given, are the ids' keys (:func:`request_key`), computed once by the caller.
        The filter is loaded on first use from the file :meth:`save_filter` wrote, and brought
        up to date from the keys of the runs merged since (by any connection), a blob per run;
        only without a usable file is it rebuilt from every run's keys (once).
        """
        if self._filter is None or self._filtered > self.indexed:
            self._filter, self._filtered = self._load_filter()
            self._saved = self._filtered
        if self._filtered < self.indexed:  # merges not in the filter yet
            sql = "SELECT keys FROM runs WHERE start >= ? AND start < ?"
            for (packed,) in self._conn.execute(sql, (self._filtered, self.indexed)):
                self._filter.add_packed_keys(packed)
            self._filtered = self.indexed
        if keys is None:
            return self._filter.candidates(ids)
        return [ids[k] for k in self._filter.candidate_positions(keys)]

    def indexed_at(self, ids: list[bytes]) -> dict[bytes, int]:
        """Request id -> leaf for those of ``ids`` in the on-disk index, each confirmed by its leaf.

        One seek per run and key (the index holds 8-byte keys); the leaf row holds the full id.
        """
        found: dict[bytes, int] = {}
        wanted = set(ids)
        keys = sorted({request_key(i) for i in wanted})
        step = in_chunk(self._conn) - 1
        for at in range(0, len(keys), step):
            part = keys[at : at + step]
            sql = _INDEXED_AT.format(marks=",".join("?" * len(part)))
            for request_id, index in self._conn.execute(sql, (self.indexed, *part)):
                if request_id in wanted:
                    found[bytes(request_id)] = int(index)
        return found

    def _log_id(self) -> bytes:
        row = self._conn.execute("SELECT value FROM meta WHERE name = 'log_id'").fetchone()
        try:
            return bytes.fromhex(row[0]) if row else b""
        except (TypeError, ValueError):
            return b""

    def _load_filter(self) -> tuple[RequestFilter, int]:
        """The saved filter and the indexed size it covers, if it is this log's; else empty."""
        try:
            raw = self.filter_path.read_bytes()
        except OSError:
            raw = b""
        if len(raw) > _SAVED.size:
            log_id, covered = _SAVED.unpack_from(raw)
            found = RequestFilter.load(raw[_SAVED.size :])
            sql = "SELECT 1 FROM runs WHERE end = ?"
            ours = log_id == self._log_id() and covered <= self.indexed
            at_a_merge = covered == 0 or self._conn.execute(sql, (covered,)).fetchone()
            if found is not None and ours and at_a_merge:
                return found, covered
        return RequestFilter(2 * self.indexed), 0

    def save_filter(self, every: int) -> None:
        """Save the filter if it covers enough more indexed leaves than the saved one.

        Enough is ``every`` leaves, or more for a large filter: one byte of filter for each
        :data:`_SAVE_BYTES_PER_ID` leaves, so that saves add at most that many bytes written
        per decision, and a start-up replays at most that many ids from the index. The file is
        written whole and renamed into place. It needs no fsync: a damaged or stale
        file fails its checksum or covers less, and is then rebuilt or replayed from the index.
        """
        if self._filter is None:
            return
        every = max(every, self._filter.size_bytes // _SAVE_BYTES_PER_ID)
        if self._filtered < self._saved + every:
            return
        log_id = self._log_id()
        if len(log_id) != 16:
            return
        self.saved()  # one save at a time
        if not self._swept:  # a save killed by kill -9 left its temporary file behind
            sweep_stale_temporaries(self.filter_path)
            self._swept = True
        header = _SAVED.pack(log_id, self._filtered)
        copy, self._saved = self._filter.copy(), self._filtered
        # written by a thread: checksumming and writing megabytes stay out of the commit path
        self._saving = threading.Thread(
            target=_save, args=(self.filter_path, header, copy), name="chainml-filter-save"
        )
        self._saving.start()

    def saved(self) -> None:
        """Wait until the filter being saved, if any, is in its file."""
        if self._saving is not None:
            self._saving.join()
            self._saving = None

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
        merged_keys: bytes | None,
    ) -> None:
        """Take in an append of ``levels[0]`` leaves at ``first``, once it is committed.

        ``merged_keys`` are the keys of the run the append merged into the index, if it did,
        packed (:func:`~chainml.log.request_filter.pack_keys`).
        """
        end = first + len(levels[0])
        self.size, self.frontier = end, frontier
        for level in range(CACHED_LEVEL, len(levels)):
            offset = first >> level
            self._cache.update(((level, offset + k), h) for k, h in enumerate(levels[level]))
        if merged_keys is not None:
            young, found = self._young, self._filter
            if young is not None and found is not None and self._filtered == self.indexed:
                found.add_packed_keys(merged_keys)  # what was merged
                self._filtered = end
            self.indexed, self._young = end, {}
            self._runs = None
        elif self._young is not None:
            pairs = zip(ids, count(first))
            if None in ids:
                self._young.update((i, n) for i, n in pairs if i is not None)
            else:
                self._young.update(cast("Iterator[tuple[bytes, int]]", pairs))


def _save(path: Path, header: bytes, found: RequestFilter) -> None:
    temporary = path.with_name(f"{path.name}.{os.getpid()}-{threading.get_ident()}.tmp")
    try:
        temporary.write_bytes(header + found.dump())
        os.replace(temporary, path)
    except OSError:  # a cache: the log works without it, and the next start-up rebuilds it
        with contextlib.suppress(OSError):
            temporary.unlink()
