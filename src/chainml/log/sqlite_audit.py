"""The raw reads of an audit of a SQLite log: rows unpacked as they are, with no check or cache.

:class:`SqliteAuditReader` is the :class:`~chainml.log.store_audit.AuditSource` of
:class:`~chainml.log.sqlite_store.SqliteLogStore`. Besides leaves and node hashes it checks what
only this layout has: the length of each row's packed hashes, rows of the ``upper`` table outside
the tree, and the request-id index (each id below ``indexed_size`` indexed at its own leaf,
younger ones not indexed and never repeated).
"""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path
from typing import Any

from chainml.log import subtrees
from chainml.log.merkle import HASH_SIZE
from chainml.log.sqlite_schema import UPPER_LEVEL, in_chunk, translated
from chainml.log.store import REQUEST_ID_SIZE, AuditProblem
from chainml.log.store_audit import AuditChunk

# CAST keeps the audit going (and the hashes failing) if a value was rewritten as text.
_ROWS = (
    "SELECT idx, CAST(hashes AS BLOB), CAST(request_id AS BLOB), CAST(data AS BLOB)"
    " FROM leaves WHERE idx >= ? AND idx < ? ORDER BY idx"
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

    def _read(self, sql: str, params: tuple[object, ...] | list[bytes]) -> list[tuple[Any, ...]]:
        with self._lock, translated(self._path):
            return self._conn.execute(sql, params).fetchall()

    def read_chunk(self, start: int, end: int) -> AuditChunk:
        """Return leaves ``[start, end)``, the nodes they complete, and layout problems."""
        chunk = AuditChunk(leaves=[], nodes={})
        rows = self._read(_ROWS, (start, end))
        ids = [row[2] for row in rows if isinstance(row[2], bytes)]
        indexed: dict[bytes, int] = {}
        step = in_chunk(self._conn)
        for at in range(0, len(ids), step):
            part = ids[at : at + step]
            marks = ",".join("?" * len(part))
            sql = f"SELECT request_id, idx FROM requests WHERE request_id IN ({marks})"
            indexed.update(self._read(sql, part))
        for index, hashes, request_id, data in rows:
            self._unpack(index, hashes, data, chunk)
            if request_id is not None:
                self._check_request_id(index, request_id, indexed, chunk.problems)
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
        self, index: int, request_id: bytes, indexed: dict[bytes, int], out: list[AuditProblem]
    ) -> None:
        owner = indexed.get(request_id)
        if len(request_id) != REQUEST_ID_SIZE:
            out.append(AuditProblem(index, f"leaf {index}: its request id is not 32 bytes"))
        elif index < self._indexed_size and owner != index:
            where = "is not indexed" if owner is None else f"is indexed at leaf {owner}"
            out.append(AuditProblem(index, f"leaf {index}: its request id {where}"))
        elif index < self._indexed_size:
            self._indexed_seen += 1
        elif owner is not None or request_id in self._young:
            out.append(AuditProblem(index, f"leaf {index}: its request id is used twice"))
        else:
            self._young.add(request_id)

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
        ((entries,),) = self._read("SELECT count(*) FROM requests", ())
        if entries != self._indexed_seen:
            detail = f"the request-id index has {entries} entries, {self._indexed_seen} expected"
            found.append(AuditProblem(None, detail))
        return found
