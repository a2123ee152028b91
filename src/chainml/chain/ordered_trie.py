"""Transaction and receipt tries of a block, built in one pass.

A block commits to its transactions and receipts through a Merkle-Patricia trie keyed by
``rlp(index)``. py-evm builds it by inserting items one at a time, re-hashing the path on
every insert; for a block of hundreds of transactions that was the largest cost of sealing.
Here the trie is built bottom-up from the sorted keys, hashing each node once. The result
(root and node table) is identical to py-evm's, which the tests check.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import rlp
from eth.constants import BLANK_ROOT_HASH
from eth_hash.auto import keccak


def _nibbles(key: bytes) -> tuple[int, ...]:
    return tuple(n for byte in key for n in (byte >> 4, byte & 0x0F))


def _hex_prefix(nibbles: Sequence[int], *, leaf: bool) -> bytes:
    flag = 2 if leaf else 0
    if len(nibbles) % 2:
        packed = [(flag + 1) << 4 | nibbles[0]]
        rest = nibbles[1:]
    else:
        packed = [flag << 4]
        rest = nibbles
    packed.extend(rest[i] << 4 | rest[i + 1] for i in range(0, len(rest), 2))
    return bytes(packed)


def ordered_trie(items: Sequence[bytes]) -> tuple[bytes, dict[bytes, bytes]]:
    """Root hash and node table (hash -> rlp) of the trie mapping ``rlp(i)`` to ``items[i]``."""
    # An empty value means "absent" in a hexary trie, as in py-evm's.
    pairs = sorted((_nibbles(rlp.encode(i)), item) for i, item in enumerate(items) if item)
    if not pairs:
        return BLANK_ROOT_HASH, {}
    nodes: dict[bytes, bytes] = {}

    def reference(node: Any) -> Any:
        encoded = rlp.encode(node)
        if len(encoded) < 32:
            return node  # small nodes are embedded in their parent
        digest = keccak(encoded)
        nodes[digest] = encoded
        return digest

    def build(group: list[tuple[tuple[int, ...], bytes]], depth: int) -> Any:
        if len(group) == 1:
            key, value = group[0]
            return [_hex_prefix(key[depth:], leaf=True), value]
        first, last = group[0][0], group[-1][0]
        shared = 0
        while (
            depth + shared < min(len(first), len(last))
            and first[depth + shared] == last[depth + shared]
        ):
            shared += 1
        if shared:
            child = build(group, depth + shared)
            return [_hex_prefix(first[depth : depth + shared], leaf=False), reference(child)]
        branch: list[Any] = [b""] * 17
        start = 0
        if len(group[0][0]) == depth:  # a key ending here stores its value in the branch
            branch[16] = group[0][1]
            start = 1
        while start < len(group):
            nibble = group[start][0][depth]
            end = start
            while end < len(group) and group[end][0][depth] == nibble:
                end += 1
            branch[nibble] = reference(build(group[start:end], depth + 1))
            start = end
        return branch

    encoded_root = rlp.encode(build(pairs, 0))
    root = keccak(encoded_root)
    nodes[root] = encoded_root
    return root, nodes
