"""The audit of a log store: recompute every hash and anchored root from the leaf data, streaming.

Backends supply raw rows through :class:`AuditSource` (no checks, no caches); this module holds
the checks every backend shares. Leaves are read in aligned chunks, so memory stays bounded by
the chunk size whatever the log size; what crosses a chunk boundary is one pending subtree per
level. Each finding names the first leaf it implicates, chosen so that one tampered value blames
one place: a leaf whose stored hash differs from SHA-256(0x00 || data) blames that leaf; a
stored internal node blames the leftmost leaf under it only if it matches neither the hash of its
stored children nor the hash of its children recomputed from the data; a missing node blames the
leaf whose append writes it (its last leaf).
"""

from __future__ import annotations

import heapq
from collections.abc import Sequence
from dataclasses import dataclass, field
from hashlib import sha256
from typing import Protocol

from chainml.log import merkle, subtrees
from chainml.log.store import AnchorRecord, AuditProblem, AuditReport, Progress

#: Findings kept in a report (the ones with the smallest leaf indices); all are counted.
MAX_PROBLEMS = 50
CHUNK = 1 << 12

_Pair = tuple[bytes | None, bytes | None]  # (stored hash, hash recomputed from the data)


@dataclass
class AuditChunk:
    """What a backend read for leaves ``[start, end)``: rows, node hashes, its own findings."""

    #: ``(index, stored leaf hash or None, data)`` in index order; missing leaves are absent.
    leaves: list[tuple[int, bytes | None, bytes]]
    #: stored hashes of the internal nodes ``(level, index)`` that these leaves complete.
    nodes: dict[tuple[int, int], bytes]
    #: problems the backend found itself (malformed rows, request-id index disagreements).
    problems: list[AuditProblem] = field(default_factory=list)


class AuditSource(Protocol):
    """The raw reads an audit needs from a backend."""

    def read_chunk(self, start: int, end: int) -> AuditChunk:
        """Return the rows of leaves ``[start, end)`` and the nodes they complete."""
        ...

    def finish(self, size: int) -> list[AuditProblem]:
        """Return problems outside the leaves read: stray rows, leftover index entries."""
        ...


class _Findings:
    """The problems with the smallest leaf indices (those without one last), and a count."""

    def __init__(self) -> None:
        self.count = 0
        self._heap: list[tuple[float, int, AuditProblem]] = []  # max-heap via negated keys

    def add(self, index: int | None, detail: str) -> None:
        self.count += 1
        key = -(float("inf") if index is None else float(index))
        heapq.heappush(self._heap, (key, -self.count, AuditProblem(index, detail)))
        if len(self._heap) > MAX_PROBLEMS:
            heapq.heappop(self._heap)

    def extend(self, problems: Sequence[AuditProblem]) -> None:
        for problem in problems:
            self.add(problem.index, problem.detail)

    def sorted(self) -> tuple[AuditProblem, ...]:
        return tuple(entry[2] for entry in sorted(self._heap, reverse=True))


def _node(left: bytes | None, right: bytes | None) -> bytes | None:
    return None if left is None or right is None else sha256(b"\x01" + left + right).digest()


def run_audit(
    source: AuditSource,
    size: int,
    anchors: Sequence[AnchorRecord],
    progress: Progress | None = None,
    chunk: int = CHUNK,
) -> AuditReport:
    """Audit a log of ``size`` leaves read through ``source`` against its recorded ``anchors``."""
    if chunk <= 0 or chunk & (chunk - 1):
        raise ValueError("the audit chunk must be a power of two")
    found = _Findings()
    carry: dict[int, _Pair] = {}  # level -> the complete subtree waiting for its right sibling
    pending = sorted(anchors, key=lambda a: a.size)
    for anchor in pending:
        if anchor.size > size:
            found.add(None, f"anchored size {anchor.size} exceeds the log size {size}")
    pending = [a for a in pending if a.size <= size]
    for anchor in [a for a in pending if a.size == 0]:
        _check_anchor(anchor, merkle.EMPTY_ROOT, found)
    pending = [a for a in pending if a.size > 0]
    leaves = nodes = 0
    for start in range(0, size, chunk):
        end = min(size, start + chunk)
        rows = source.read_chunk(start, end)
        found.extend(rows.problems)
        stored, recomputed = _check_leaves(start, end, rows, found)
        leaves += sum(r is not None for r in recomputed)
        while pending and pending[0].size <= end:
            anchor = pending.pop(0)
            _check_anchor(anchor, _root_at(start, carry, recomputed, anchor.size), found)
        nodes += _check_nodes(start, stored, recomputed, rows.nodes, carry, found)
        if progress is not None:
            progress(end, size)
    found.extend(source.finish(size))
    return AuditReport(
        size=size,
        leaves_checked=leaves,
        nodes_checked=nodes,
        anchors_checked=len(anchors),
        problem_count=found.count,
        problems=found.sorted(),
    )


def _check_leaves(
    start: int, end: int, rows: AuditChunk, found: _Findings
) -> tuple[list[bytes | None], list[bytes | None]]:
    stored: list[bytes | None] = [None] * (end - start)
    recomputed: list[bytes | None] = [None] * (end - start)
    for index, leaf_hash, data in rows.leaves:
        computed = sha256(b"\x00" + data).digest()
        stored[index - start], recomputed[index - start] = leaf_hash, computed
        if leaf_hash != computed:
            found.add(index, f"leaf {index}: the stored leaf hash is not SHA-256(0x00 || data)")
    for offset, value in enumerate(recomputed):
        if value is None:
            found.add(start + offset, f"leaf {start + offset} is missing")
    return stored, recomputed


def _check_nodes(
    start: int,
    stored: list[bytes | None],
    recomputed: list[bytes | None],
    nodes: dict[tuple[int, int], bytes],
    carry: dict[int, _Pair],
    found: _Findings,
) -> int:
    """Check the nodes completed by a chunk, level by level; return how many were checked."""
    checked, level, first = 0, 0, start
    pairs: list[_Pair] = list(zip(stored, recomputed, strict=True))
    while pairs:
        if first & 1:  # the left sibling of the first pair came from an earlier chunk
            pairs.insert(0, carry.pop(level))
            first -= 1
        if len(pairs) & 1:
            carry[level] = pairs[-1]
        level, first = level + 1, first >> 1
        parents: list[_Pair] = []
        for k in range(len(pairs) // 2):
            (s_left, r_left), (s_right, r_right) = pairs[2 * k], pairs[2 * k + 1]
            from_data, from_stored = _node(r_left, r_right), _node(s_left, s_right)
            index = first + k
            value = nodes.get((level, index))
            checked += 1
            leftmost = index << level
            span = f"[{leftmost}, {leftmost + (1 << level)})"
            where = f"subtree ({level}, {index}) over leaves {span}"
            if value is None:
                last = subtrees.completing_leaf(level, index)
                found.add(last, f"the hash of {where} is missing")
            elif value not in (from_data, from_stored) and (from_data or from_stored):
                found.add(leftmost, f"the stored hash of {where} does not match its children")
            parents.append((value, from_data))
        pairs = parents
    return checked


def _root_at(
    start: int, carry: dict[int, _Pair], recomputed: list[bytes | None], size: int
) -> bytes | None:
    """Recompute the root at ``size``, in the chunk from ``start``, from the leaf data.

    It folds the carried subtrees (the frontier of ``start``, which is chunk-aligned) and the
    root of the chunk's leaves below ``size``.
    """
    high = [carry[level][1] for level in sorted(carry, reverse=True)]
    low = recomputed[: size - start]
    if any(h is None for h in high) or any(h is None for h in low):
        return None
    known = [h for h in high if h is not None]
    return subtrees.fold([*known, merkle.root([h for h in low if h is not None])])


def _check_anchor(anchor: AnchorRecord, computed: bytes | None, found: _Findings) -> None:
    where = f"anchor of size {anchor.size} on chain {anchor.chain_id} ({anchor.contract})"
    if computed is None:
        found.add(None, f"{where}: the root cannot be recomputed, leaves are missing")
    elif computed != anchor.root:
        found.add(
            None,
            f"{where}: anchored root {anchor.root.hex()} differs from the root recomputed "
            f"from the leaves, {computed.hex()}",
        )
