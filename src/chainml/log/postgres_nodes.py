"""Complete-subtree hashes of a PostgreSQL log, read in one round trip per proof.

A proof or a tree head is the fold of at most ``2 log2(n)`` complete subtrees (see
:mod:`chainml.log.subtrees`); over a network each read is a round trip, so they are gathered
first and read with one statement. :func:`plan` finds which a computation needs: the proof
algorithms of :mod:`chainml.log.merkle` ask for the same nodes whatever their hashes are, so a
first run with placeholder hashes lists them. Nodes of level :data:`UPPER_LEVEL` and above (one
per 256 leaves) are cached: complete subtrees never change.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, TypeVar

from chainml.log import subtrees
from chainml.log.merkle import HASH_SIZE
from chainml.log.postgres_schema import UPPER_LEVEL

if TYPE_CHECKING:
    from chainml.log.postgres_schema import Conn

T = TypeVar("T")
Node = tuple[int, int]  # (level, index)
SubtreeRoot = Callable[[int, int], bytes]
_PLACEHOLDER = bytes(HASH_SIZE)
_MAX_CACHED = 1 << 20  # nodes kept, 32 MiB or so of hashes; beyond, the cache starts over
_NODES = (
    "SELECT 0::smallint, idx, hashes FROM leaves WHERE idx = ANY(%s)"
    " UNION ALL SELECT u.level, u.idx, u.hash FROM upper AS u"
    " JOIN unnest(%s::smallint[], %s::bigint[]) AS w(level, idx)"
    " ON u.level = w.level AND u.idx = w.idx"
)


#: the log size in a first row (level -1), then the nodes: a proof at the current size in one
#: round trip, when the size is the one the proof was planned for
_SIZE_AND_NODES = "SELECT -1::smallint, size, NULL::bytea FROM head UNION ALL " + _NODES


class MissingNodeError(Exception):
    """A complete subtree's hash is not stored (the store reports the log as damaged)."""

    def __init__(self, node: Node) -> None:
        self.node = node
        super().__init__(f"the hash of subtree {node} is missing or malformed")


def plan(compute: Callable[[SubtreeRoot], T]) -> list[Node]:
    """The complete subtrees ``compute`` folds, found by running it on placeholder hashes."""
    wanted: list[Node] = []

    def record(start: int, end: int) -> bytes:
        wanted.extend(subtrees.parts(start, end))
        return _PLACEHOLDER

    compute(record)
    return wanted


class NodeCache:
    """Upper-level subtree hashes known to be in the log, and bulk reads of any others."""

    def __init__(self) -> None:
        self._cache: dict[Node, bytes] = {}

    def clear(self) -> None:
        """Forget everything (the log was replaced under us)."""
        self._cache.clear()

    def add(self, first: int, levels: list[list[bytes]]) -> None:
        """Remember the upper nodes an append of ``levels[0]`` leaves at ``first`` committed."""
        if len(self._cache) > _MAX_CACHED:
            self._cache.clear()
        for level in range(UPPER_LEVEL, len(levels)):
            offset = first >> level
            self._cache.update(((level, offset + k), h) for k, h in enumerate(levels[level]))

    def read(self, conn: Conn, wanted: Iterable[Node]) -> dict[Node, bytes]:
        """Return the hashes of ``wanted`` (MissingNodeError if one is not stored)."""
        return self._read(conn, wanted, with_size=False)[0]

    def read_with_size(self, conn: Conn, wanted: Iterable[Node]) -> tuple[dict[Node, bytes], int]:
        """Return the hashes of ``wanted`` and the log size, read by the same statement."""
        found, size = self._read(conn, wanted, with_size=True)
        if size is None:
            raise MissingNodeError((-1, -1))  # no head row: reported as a damaged log
        return found, size

    def _read(
        self, conn: Conn, wanted: Iterable[Node], *, with_size: bool
    ) -> tuple[dict[Node, bytes], int | None]:
        found: dict[Node, bytes] = {}
        size: int | None = None
        lower: dict[int, list[Node]] = {}  # completing leaf -> nodes in its row
        upper: list[Node] = []
        for node in set(wanted):
            cached = self._cache.get(node)
            if cached is not None:
                found[node] = cached
            elif node[0] < UPPER_LEVEL:
                lower.setdefault(subtrees.completing_leaf(*node), []).append(node)
            else:
                upper.append(node)
        if not lower and not upper and not with_size:
            return found, None
        levels = [level for level, _ in upper]
        indices = [index for _, index in upper]
        sql = _SIZE_AND_NODES if with_size else _NODES
        rows = conn.execute(sql, (list(lower), levels, indices)).fetchall()
        for level, index, value in rows:
            if level == -1:
                size = int(index)
                continue
            if not isinstance(value, bytes):
                continue
            if level == 0 and int(index) in lower:
                for node in lower[int(index)]:
                    part = value[HASH_SIZE * node[0] : HASH_SIZE * (node[0] + 1)]
                    if len(part) == HASH_SIZE:
                        found[node] = part
            elif len(value) == HASH_SIZE:
                node = (int(level), int(index))
                found[node] = value
                if len(self._cache) < _MAX_CACHED:
                    self._cache[node] = value
        for node in [*upper, *(n for nodes in lower.values() for n in nodes)]:
            if node not in found:
                raise MissingNodeError(node)
        return found, size

    def compute(self, conn: Conn, run: Callable[[SubtreeRoot], T]) -> T:
        """Run ``run(subtree_root)`` with every node it needs read in one statement."""
        nodes = self.read(conn, plan(run))
        return run(lambda start, end: subtrees.fold([nodes[p] for p in subtrees.parts(start, end)]))
