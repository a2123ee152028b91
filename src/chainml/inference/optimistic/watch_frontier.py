"""The watchtower's incremental Merkle tree: the right frontier of complete subtrees, and proofs.

A tree of ``size`` leaves in RFC 9162 shape is the fold, right to left, of the complete subtrees
of its binary decomposition (sizes the set bits of ``size``, largest first). Keeping those at
most 64 hashes is enough to extend the tree by new leaves and compute every later root, so a
watcher verifies each anchored head from the previous one without rereading old leaves, and
its checkpoint is those hashes. The stack logic is :func:`chainml.log.merkle.root`'s.

Inclusion proofs of a leaf of the latest batch need the left siblings of its path; each is a
complete subtree that is either inside the batch or a run of frontier subtrees followed by
batch leaves (dyadic intervals nest), so :meth:`Frontier.subtree_root` answers every node
:func:`chainml.log.merkle.inclusion_proof_from` asks for, with the previous frontier and the
batch's leaf hashes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from chainml.errors import InvalidInputError
from chainml.log.merkle import EMPTY_ROOT, HASH_SIZE, inclusion_proof_from, node_hash


@dataclass
class Frontier:
    """Complete subtrees ``(start, size, hash)`` covering leaves ``[0, size)``, largest first."""

    size: int = 0
    nodes: list[tuple[int, int, bytes]] = field(default_factory=list)

    def __post_init__(self) -> None:
        expected = 0
        for start, width, value in self.nodes:
            if start != expected or width & (width - 1) or len(value) != HASH_SIZE:
                raise InvalidInputError("not a frontier: subtrees must tile [0, size) in order")
            expected += width
        if expected != self.size or [w for _, w, _ in self.nodes] != _widths(self.size):
            raise InvalidInputError(f"not the frontier of a tree of size {self.size}")

    def extended(self, leaf_hashes: Sequence[bytes]) -> Frontier:
        """The frontier after appending ``leaf_hashes`` (self is unchanged)."""
        stack = [(width, value) for _, width, value in self.nodes]
        for leaf in leaf_hashes:
            current, width = leaf, 1
            while stack and stack[-1][0] == width:
                current = node_hash(stack.pop()[1], current)
                width *= 2
            stack.append((width, current))
        nodes, start = [], 0
        for width, value in stack:
            nodes.append((start, width, value))
            start += width
        return Frontier(start, nodes)

    def root(self) -> bytes:
        """The RFC 9162 root of the tree of ``size`` leaves."""
        if not self.nodes:
            return EMPTY_ROOT
        current = self.nodes[-1][2]
        for _, _, value in reversed(self.nodes[:-1]):
            current = node_hash(value, current)
        return current

    def subtree_root(self, start: int, end: int, batch: Sequence[bytes]) -> bytes:
        """Hash of the RFC node ``[start, end)`` of the tree of this frontier plus ``batch``."""
        stack: list[tuple[int, bytes]] = []
        position = start
        for node_start, width, value in self.nodes:
            if node_start + width <= start or node_start >= end:
                continue
            if node_start < start or node_start + width > end:
                raise InvalidInputError(f"[{start}, {end}) is not built from whole subtrees")
            stack.append((width, value))
            position = node_start + width
        for index in range(max(position, self.size), end):
            current, width = batch[index - self.size], 1
            while stack and stack[-1][0] == width:
                current = node_hash(stack.pop()[1], current)
                width *= 2
            stack.append((width, current))
        if not stack:
            raise InvalidInputError(f"[{start}, {end}) is empty")
        current = stack.pop()[1]
        while stack:
            current = node_hash(stack.pop()[1], current)
        return current

    def inclusion_proof(self, index: int, batch: Sequence[bytes]) -> list[bytes]:
        """Proof of leaf ``index`` (in the batch) in the tree of this frontier plus ``batch``."""
        if not self.size <= index < self.size + len(batch):
            raise InvalidInputError(f"leaf {index} is not in the batch after size {self.size}")
        size = self.size + len(batch)
        return inclusion_proof_from(index, size, lambda a, b: self.subtree_root(a, b, batch))

    def to_json(self) -> list[list[object]]:
        """``[[start, size, "hex"], ...]`` for the checkpoint."""
        return [[start, width, value.hex()] for start, width, value in self.nodes]

    @classmethod
    def from_json(cls, size: int, document: object) -> Frontier:
        """Inverse of :meth:`to_json` (InvalidInputError on any other shape)."""
        if not isinstance(document, list):
            raise InvalidInputError("a frontier is a list of [start, size, hash]")
        nodes = []
        for item in document:
            if not (isinstance(item, list) and len(item) == 3):
                raise InvalidInputError("a frontier node is [start, size, hash]")
            start, width, text = item
            if type(start) is not int or type(width) is not int or not isinstance(text, str):
                raise InvalidInputError("a frontier node is [int, int, hex]")
            try:
                value = bytes.fromhex(text)
            except ValueError:
                raise InvalidInputError("a frontier hash is not hex") from None
            nodes.append((start, width, value))
        return cls(size, nodes)


def _widths(size: int) -> list[int]:
    return [1 << bit for bit in range(size.bit_length() - 1, -1, -1) if size >> bit & 1]
