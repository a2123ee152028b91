"""The raw reads of an audit of a PostgreSQL log: rows unpacked as they are, with no check or cache.

:class:`PostgresAuditReader` is the :class:`~chainml.log.store_audit.AuditSource` of
:class:`~chainml.log.postgres_store.PostgresLogStore`. Besides leaves and node hashes it checks
what only this layout has: the length of each row's packed hashes, request ids of another
length, rows beyond the log size and ``upper`` rows outside the tree. The request-id index is
the database's unique index on the leaves' own column, so it cannot point elsewhere; the
record-level audit (:meth:`~chainml.log.decision_log.DecisionLog.audit`) still looks every id up.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any

from chainml.log import subtrees
from chainml.log.merkle import HASH_SIZE
from chainml.log.postgres_schema import UPPER_LEVEL
from chainml.log.store import REQUEST_ID_SIZE, AuditProblem
from chainml.log.store_audit import AuditChunk

if TYPE_CHECKING:
    from chainml.log.postgres_schema import Conn

_ROWS = "SELECT idx, hashes, request_id, data FROM leaves WHERE idx >= %s AND idx < %s ORDER BY idx"
_UPPER = "SELECT level, idx, hash FROM upper WHERE level >= %s AND idx >= (%s::bigint >> level)"
_UPPER += " AND idx < (%s::bigint >> level)"


class PostgresAuditReader:
    """Reads a PostgreSQL log for :func:`~chainml.log.store_audit.run_audit`, chunk by chunk."""

    def __init__(self, using: Callable[[], AbstractContextManager[Conn]]) -> None:
        self._using = using

    def _read(self, sql: str, params: tuple[object, ...]) -> list[tuple[Any, ...]]:
        with self._using() as conn:
            return conn.execute(sql, params).fetchall()

    def read_chunk(self, start: int, end: int) -> AuditChunk:
        """Return leaves ``[start, end)``, the nodes they complete, and layout problems."""
        chunk = AuditChunk(leaves=[], nodes={})
        for index, hashes, request_id, data in self._read(_ROWS, (start, end)):
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
            if request_id is not None and len(request_id) != REQUEST_ID_SIZE:
                chunk.problems.append(
                    AuditProblem(index, f"leaf {index}: its request id is not 32 bytes")
                )
        # the upper nodes whose last leaf lies in [start, end): complete once the chunk is
        for level, index, value in self._read(_UPPER, (UPPER_LEVEL, start, end)):
            chunk.nodes[(level, index)] = value
        return chunk

    def finish(self, size: int) -> list[AuditProblem]:
        """Return rows outside the log: leaves beyond its size, subtrees beyond its tree."""
        found = [
            AuditProblem(idx, f"leaf row {idx} lies outside the log of size {size}")
            for (idx,) in self._read(
                "SELECT idx FROM leaves WHERE idx < 0 OR idx >= %s ORDER BY idx LIMIT 10", (size,)
            )
        ]
        sql = (
            "SELECT level, idx FROM upper WHERE level < %s OR level > 62 OR idx < 0"
            " OR (idx + 1) << level > %s LIMIT 10"
        )
        for level, idx in self._read(sql, (UPPER_LEVEL, size)):
            last = subtrees.completing_leaf(level, idx) if 0 <= level <= 62 and idx >= 0 else None
            found.append(AuditProblem(last, f"subtree ({level}, {idx}) lies outside the tree"))
        return found
