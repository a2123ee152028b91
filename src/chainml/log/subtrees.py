"""Complete subtrees of the log's Merkle tree: which exist, and which hashes a batch of leaves adds.

Node ``(level, index)`` is the complete, aligned subtree over leaves
``[index * 2**level, (index + 1) * 2**level)``; level 0 are the leaf hashes. It exists, and never
changes, from the moment its last leaf ``(index + 1) * 2**level - 1`` is appended: that leaf
*completes* it. A tree of ``size`` leaves has ``size >> level`` nodes at each level, so appending
``b`` leaves adds about ``b`` internal nodes. Its *frontier* is its right edge: one complete
subtree per bit set in ``size``, by decreasing level. Every RFC 9162 node of any tree is the fold
of at most ``log2(size)`` complete subtrees (:func:`parts`), which is how a store that keeps the
complete subtrees serves tree heads and proofs in O(log n) reads.
"""

from __future__ import annotations

from collections.abc import Sequence
from hashlib import sha256

from chainml.errors import InvalidInputError
from chainml.log.merkle import EMPTY_ROOT

#: level -> hash of the frontier subtree at that level (the levels are the bits set in the size).
Frontier = dict[int, bytes]


def frontier_positions(size: int) -> list[tuple[int, int]]:
    """Return ``(level, index)`` of the frontier subtrees of a tree of ``size``, left to right."""
    return [(lv, (size >> lv) - 1) for lv in reversed(range(size.bit_length())) if size >> lv & 1]


def completing_leaf(level: int, index: int) -> int:
    """Return the leaf whose append completes node ``(level, index)``."""
    return ((index + 1) << level) - 1


def completed_levels(leaf: int) -> int:
    """Return how many internal nodes leaf ``leaf`` completes (levels 1 to that number)."""
    return (~leaf & (leaf + 1)).bit_length() - 1


def parts(start: int, end: int) -> list[tuple[int, int]]:
    """Return the complete subtrees, left to right, whose fold is the RFC node ``[start, end)``.

    The node must be a complete subtree or lie on the right edge of the tree of ``end`` leaves,
    the only shapes :mod:`chainml.log.merkle` ever asks for; anything else is an InvalidInputError.
    """
    width = end - start
    if start < 0 or width <= 0:
        raise InvalidInputError(f"[{start}, {end}) is not a non-empty range of leaves")
    if width & (width - 1) == 0 and start % width == 0:
        return [(width.bit_length() - 1, start // width)]
    if start % (1 << width.bit_length()):
        raise InvalidInputError(f"[{start}, {end}) is not a node of an RFC 9162 tree")
    found, offset = [], start
    for level in reversed(range(width.bit_length())):
        if width >> level & 1:
            found.append((level, offset >> level))
            offset += 1 << level
    return found


def fold(hashes: Sequence[bytes]) -> bytes:
    """Return the hash of adjacent subtrees folded right to left, the RFC shape of a right edge."""
    if not hashes:
        return EMPTY_ROOT
    current = hashes[-1]
    for left in reversed(hashes[:-1]):
        current = sha256(b"\x01" + left + current).digest()
    return current


def extend(
    size: int, frontier: Frontier, leaf_hashes: Sequence[bytes]
) -> tuple[list[list[bytes]], Frontier]:
    """Append ``leaf_hashes`` to a tree of ``size`` leaves with ``frontier``.

    Returns ``(levels, new_frontier)``: ``levels[L]`` lists the hashes of the nodes the batch
    completes at level ``L`` (``levels[0]`` is ``leaf_hashes``), whose indices start at
    ``size >> L``. Nothing but the frontier is read, and each new node is hashed once.
    """
    levels = [list(leaf_hashes)]
    current, level = levels[0], 0
    while current:
        # An odd first index means the left sibling is the old frontier node at this level.
        pairs = [frontier[level], *current] if size >> level & 1 else current
        # zip drops an odd last node: it waits for its sibling on the new frontier
        lefts, rights = pairs[::2], pairs[1::2]
        current = [sha256(b"\x01" + a + b).digest() for a, b in zip(lefts, rights, strict=False)]
        level += 1
        if current:
            levels.append(current)
    end = size + len(leaf_hashes)
    new_frontier = {}
    for lv, index in frontier_positions(end):
        first = size >> lv
        new_frontier[lv] = levels[lv][index - first] if index >= first else frontier[lv]
    return levels, new_frontier


def by_completing_leaf(size: int, levels: list[list[bytes]], below: int) -> list[bytes]:
    """Group :func:`extend`'s output per new leaf: its leaf hash, then the nodes it completes.

    Only levels below ``below`` are grouped. Entry ``i`` is for leaf ``size + i`` and holds
    ``1 + min(completed_levels(size + i), below - 1)`` hashes, level 0 first, so node ``(L, j)``
    is bytes ``32 * L`` to ``32 * (L + 1)`` of the entry of :func:`completing_leaf` ``(L, j)``.
    """
    grouped = list(levels[0])
    for level in range(1, min(below, len(levels))):
        step = 1 << level
        first = completing_leaf(level, size >> level) - size
        hashes = levels[level]
        window = slice(first, first + step * len(hashes), step)
        grouped[window] = [a + b for a, b in zip(grouped[window], hashes, strict=True)]
    return grouped
