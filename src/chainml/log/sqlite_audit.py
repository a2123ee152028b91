"""The raw reads of an audit of a SQLite log: rows unpacked as they are, with no check or cache.

:class:`SqliteAuditReader` is the :class:`~chainml.log.store_audit.AuditSource` of
:class:`~chainml.log.sqlite_store.SqliteLogStore`. Besides leaves and node hashes it checks what
only this layout has: the length of each row's packed hashes, rows of the ``upper`` table outside
the tree, and the request-id index, recomputed from the leaves' own ids: the runs tile
``[0, indexed_size)``, each id below ``indexed_size`` is indexed by its key at its own leaf in
its run and nothing else is indexed, and no id is used by two leaves (ids sharing a key are
compared in full, from the leaf rows).
"""

from __future__ import annotations

import sqlite3
import threading
from bisect import bisect_right
from pathlib import Path
from typing import Any

from chainml.log import subtrees
from chainml.log.merkle import HASH_SIZE
from chainml.log.request_filter import pack_keys, request_key
from chainml.log.sqlite_schema import UPPER_LEVEL, in_chunk, translated
from chainml.log.store import REQUEST_ID_SIZE, AuditProblem
from chainml.log.store_audit import AuditChunk

# CAST keeps the audit going (and the hashes failing) if a value was rewritten as text.
_ROWS = (
    "SELECT idx, CAST(hashes AS BLOB), CAST(request_id AS BLOB), CAST(data AS BLOB)"
    " FROM leaves WHERE idx >= ? AND idx < ? ORDER BY idx"
)
_IN_RUN = "SELECT key, idx FROM request_runs WHERE run = ? AND key IN ({marks})"
_SHARED_KEYS = "SELECT key FROM request_runs GROUP BY key HAVING count(*) > 1 LIMIT 1000"
_LEAVES_OF_KEY = (
    "SELECT l.idx, CAST(l.request_id AS BLOB) FROM request_runs AS r JOIN leaves AS l"
    " ON l.idx = r.idx WHERE r.run IN (SELECT start FROM runs) AND r.key = ? ORDER BY l.idx"
)
_OWNERS = (
    "SELECT CAST(l.request_id AS BLOB), l.idx FROM request_runs AS r JOIN leaves AS l"
    " ON l.idx = r.idx WHERE r.run IN (SELECT start FROM runs) AND r.key IN ({marks})"
)


class SqliteAuditReader:
    """Reads a SQLite log for :func:`~chainml.log.store_audit.run_audit`, chunk by chunk."""

    def __init__(
        self, conn: sqlite3.Connection, lock: threading.RLock, path: Path, indexed_size: int
    ) -> None:
        self._conn = conn
        self._lock = lock
        self._path = path
        self._indexed_size = indexed_size
        self._indexed_seen = 0  # request ids below indexed_size found at their own leaf
        self._young: set[bytes] = set()  # request ids at or above indexed_size
        self._runs: list[tuple[int, int]] = [
            (int(a), int(b))
            for a, b in self._read("SELECT start, end FROM runs ORDER BY start", ())
        ]
        self._starts = [start for start, _ in self._runs]

    def _read(self, sql: str, params: tuple[object, ...] | list[object]) -> list[tuple[Any, ...]]:
        with self._lock, translated(self._path):
            return self._conn.execute(sql, params).fetchall()

    def _run_of(self, index: int) -> int | None:
        at = bisect_right(self._starts, index) - 1
        return self._runs[at][0] if at >= 0 and index < self._runs[at][1] else None

    def _keyed(self, sql: str, first: list[object], keys: list[int]) -> list[tuple[Any, ...]]:
        found: list[tuple[Any, ...]] = []
        step = in_chunk(self._conn) - len(first)
        for at in range(0, len(keys), step):
            part = keys[at : at + step]
            found += self._read(sql.format(marks=",".join("?" * len(part))), [*first, *part])
        return found

    def read_chunk(self, start: int, end: int) -> AuditChunk:
        """Return leaves ``[start, end)``, the nodes they complete, and layout problems."""
        chunk = AuditChunk(leaves=[], nodes={})
        rows = self._read(_ROWS, (start, end))
        ids = [(row[0], row[2]) for row in rows if isinstance(row[2], bytes)]
        by_run: dict[int | None, list[int]] = {}
        for index, request_id in ids:
            run = self._run_of(index) if index < self._indexed_size else None
            by_run.setdefault(run, []).append(request_key(request_id))
        indexed: set[tuple[int, int, int]] = set()  # (run, key, leaf)
        for run, keys in by_run.items():
            if run is not None:
                found = self._keyed(_IN_RUN, [run], sorted(set(keys)))
                indexed.update((run, key, idx) for key, idx in found)
        self._check_young(start, end, rows, chunk.problems)
        young_keys = sorted(set(by_run.get(None, [])))
        owners = dict(self._keyed(_OWNERS, [], young_keys)) if young_keys else {}
        for index, hashes, request_id, data in rows:
            self._unpack(index, hashes, data, chunk)
            if request_id is not None:
                self._check_request_id(index, request_id, indexed, owners, chunk.problems)
        for level in range(UPPER_LEVEL, end.bit_length()):
            sql = "SELECT idx, hash FROM upper WHERE level = ? AND idx >= ? AND idx < ?"
            for index, value in self._read(sql, (level, start >> level, end >> level)):
                if isinstance(value, bytes):
                    chunk.nodes[(level, index)] = value
        return chunk

    def _unpack(self, index: int, hashes: bytes, data: bytes, chunk: AuditChunk) -> None:
        levels = min(subtrees.completed_levels(index), UPPER_LEVEL - 1)
        expected = HASH_SIZE * (levels + 1)
        if len(hashes) != expected:
            detail = f"leaf {index} stores {len(hashes)} bytes of hashes, not {expected}"
            chunk.problems.append(AuditProblem(index, detail))
        leaf_hash = hashes[:HASH_SIZE] if len(hashes) >= HASH_SIZE else None
        chunk.leaves.append((index, leaf_hash, data))
        for level in range(1, levels + 1):
            value = hashes[HASH_SIZE * level : HASH_SIZE * (level + 1)]
            if len(value) == HASH_SIZE:
                chunk.nodes[(level, ((index + 1) >> level) - 1)] = value

    def _check_request_id(
        self,
        index: int,
        request_id: bytes,
        indexed: set[tuple[int, int, int]],
        owners: dict[bytes, int],
        out: list[AuditProblem],
    ) -> None:
        if len(request_id) != REQUEST_ID_SIZE:
            out.append(AuditProblem(index, f"leaf {index}: its request id is not 32 bytes"))
        elif index < self._indexed_size:
            run = self._run_of(index)
            if run is None or (run, request_key(request_id), index) not in indexed:
                out.append(AuditProblem(index, f"leaf {index}: its request id is not indexed"))
            else:
                self._indexed_seen += 1
        elif request_id in owners or request_id in self._young:
            out.append(AuditProblem(index, f"leaf {index}: its request id is used twice"))
        else:
            self._young.add(request_id)

    def _check_young(
        self, start: int, end: int, rows: list[tuple[Any, ...]], out: list[AuditProblem]
    ) -> None:
        """The young table must hold exactly the ids of the leaves from ``indexed_size`` on."""
        sql = "SELECT idx, key, CAST(request_id AS BLOB) FROM young WHERE idx >= ? AND idx < ?"
        found = self._read(sql, (max(start, self._indexed_size), end))
        stored = {index: (key, request_id) for index, key, request_id in found}
        for index, _, request_id, _ in rows:
            expected = None if request_id is None else (request_key(request_id), request_id)
            if index >= self._indexed_size and stored.pop(index, None) != expected:
                detail = f"leaf {index}: its request id is not the one in the table of young ids"
                out.append(AuditProblem(index, detail))
        for index in stored:  # rows of leaves that are missing: blamed on the missing leaf
            detail = f"leaf {index} is missing, yet has a request id in the table of young ids"
            out.append(AuditProblem(index, detail))

    def _run_problems(self) -> list[AuditProblem]:
        """The runs must tile ``[0, indexed_size)``: a lookup seeks exactly those."""
        edges = [0] + [end for _, end in self._runs]
        tiled = all(start == edges[k] and start < end for k, (start, end) in enumerate(self._runs))
        found = []
        if not tiled or edges[-1] != self._indexed_size:
            detail = f"the request-id index's runs do not cover leaves 0 to {self._indexed_size}"
            found.append(AuditProblem(None, detail))
        for start, _ in self._runs:  # the packed keys must be the run's own: they feed the filter
            sql = "SELECT key FROM request_runs WHERE run = ? ORDER BY key, idx"
            keys = pack_keys(key for (key,) in self._read(sql, (start,)))
            (packed,) = self._read("SELECT CAST(keys AS BLOB) FROM runs WHERE start = ?", (start,))[
                0
            ]
            if packed != keys:
                detail = f"the keys packed with index run {start} are not the run's keys"
                found.append(AuditProblem(None, detail))
        return found

    def _shared_ids(self) -> list[AuditProblem]:
        """Indexed leaves whose ids are the same (they share a key; compared in full)."""
        found = []
        for (key,) in self._read(_SHARED_KEYS, ()):
            first: dict[bytes, int] = {}
            for index, request_id in self._read(_LEAVES_OF_KEY, (key,)):
                if request_id in first:
                    detail = (
                        f"leaf {index}: its request id is used twice (also at {first[request_id]})"
                    )
                    found.append(AuditProblem(index, detail))
                first.setdefault(request_id, index)
        return found

    def finish(self, size: int) -> list[AuditProblem]:
        """Return rows outside the log and request-id index entries of no leaf."""
        found = [
            AuditProblem(idx, f"leaf row {idx} lies outside the log of size {size}")
            for (idx,) in self._read(
                "SELECT idx FROM leaves WHERE idx < 0 OR idx >= ? ORDER BY idx LIMIT 10", (size,)
            )
        ]
        sql = (
            "SELECT level, idx FROM upper WHERE level < ? OR level > 62 OR idx < 0"
            " OR (idx + 1) << level > ? LIMIT 10"
        )
        for level, idx in self._read(sql, (UPPER_LEVEL, size)):
            # blamed, like a missing node, on the leaf whose append would write it
            last = subtrees.completing_leaf(level, idx) if 0 <= level <= 62 and idx >= 0 else None
            found.append(AuditProblem(last, f"subtree ({level}, {idx}) lies outside the tree"))
        sql = "SELECT idx FROM young WHERE idx < ? OR idx >= ? ORDER BY idx LIMIT 10"
        for (idx,) in self._read(sql, (self._indexed_size, size)):
            found.append(
                AuditProblem(idx, f"young request id of leaf {idx} outside [indexed, size)")
            )
        found += self._run_problems() + self._shared_ids()
        ((entries,),) = self._read("SELECT count(*) FROM request_runs", ())
        if entries != self._indexed_seen:
            detail = f"the request-id index has {entries} entries, {self._indexed_seen} expected"
            found.append(AuditProblem(None, detail))
        return found
