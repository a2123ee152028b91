"""The Merkle tree of the decision log: RFC 9162 section 2.1 hashing, proofs and verification.

Pure functions over 32-byte SHA-256 hashes (the same hashing as RFC 6962): tree heads,
inclusion proofs and consistency proofs, and their verification. No I/O happens here.

Proof generation comes in two flavours. The list-based functions (:func:`inclusion_proof`,
:func:`consistency_proof`) take every leaf hash. The ``*_from`` functions take a callback
``subtree_root(start, end)`` returning the RFC-shaped hash of leaves ``[start, end)``, so a store
that keeps only subtree hashes can serve proofs. Contract: for a tree of ``size`` leaves, the
callback is only ever called with ``0 <= start < end <= size`` where ``[start, end)`` is a node
of that tree in RFC shape, i.e. either a complete subtree (``end - start`` is a power of two
``k`` and ``start`` is a multiple of ``k``) or a node on the right edge (``end == size``). A
store can therefore cache complete power-of-two subtrees and build right-edge nodes from them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence

from chainml.errors import InvalidInputError, ProofError

HASH_SIZE = 32
#: Root of the tree with no leaves: SHA-256 of the empty string (RFC 9162 section 2.1.1).
EMPTY_ROOT: bytes = hashlib.sha256(b"").digest()

#: ``subtree_root(start, end)`` -> hash of leaves ``[start, end)``; see the module docstring.
SubtreeRoot = Callable[[int, int], bytes]


def leaf_hash(data: bytes) -> bytes:
    """Return the leaf hash SHA-256(0x00 || data)."""
    # The 0x00/0x01 prefixes keep a leaf from ever being passed off as an interior node.
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """Return the interior node hash SHA-256(0x01 || left || right)."""
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    """Return the largest power of two strictly smaller than ``n`` (``n >= 2``)."""
    return 1 << ((n - 1).bit_length() - 1)


def _non_negative(**values: int) -> None:
    for name, value in values.items():
        if value < 0:
            raise InvalidInputError(f"{name} must not be negative, got {value}")


def _range_root(leaf_hashes: Sequence[bytes], start: int, end: int) -> bytes:
    """Return MTH(leaf_hashes[start:end]) in O(n) time and O(log n) memory, without recursion."""
    if start == end:
        return EMPTY_ROOT
    # The stack holds complete subtrees (size, hash) of strictly decreasing size; merging equal
    # neighbours as leaves arrive, then folding right to left, yields exactly the RFC shape.
    stack: list[tuple[int, bytes]] = []
    for i in range(start, end):
        current = leaf_hashes[i]
        if len(current) != HASH_SIZE:
            raise InvalidInputError(f"leaf hash {i} is {len(current)} bytes, not {HASH_SIZE}")
        size = 1
        while stack and stack[-1][0] == size:
            current = node_hash(stack.pop()[1], current)
            size *= 2
        stack.append((size, current))
    current = stack.pop()[1]
    while stack:
        current = node_hash(stack.pop()[1], current)
    return current


def root(leaf_hashes: Sequence[bytes]) -> bytes:
    """Return the Merkle tree hash MTH of the given leaf hashes (``EMPTY_ROOT`` when empty)."""
    return _range_root(leaf_hashes, 0, len(leaf_hashes))


def _fetch(subtree_root: SubtreeRoot, nodes: Sequence[tuple[int, int]]) -> list[bytes]:
    hashes = [subtree_root(start, end) for start, end in nodes]
    for (start, end), value in zip(nodes, hashes, strict=True):
        if len(value) != HASH_SIZE:
            raise InvalidInputError(f"subtree_root({start}, {end}) returned {len(value)} bytes")
    return hashes


def inclusion_proof_from(index: int, size: int, subtree_root: SubtreeRoot) -> list[bytes]:
    """Return the inclusion proof PATH(index, D[size]) (RFC 9162 2.1.3.1), leaf end first.

    ``subtree_root`` is only asked for RFC-shaped nodes (see the module docstring).
    """
    _non_negative(index=index, size=size)
    if index >= size:
        raise InvalidInputError(f"leaf index {index} is not in a tree of size {size}")
    # Walk down from the root, remembering the sibling of each node on the path to the leaf;
    # the proof lists them bottom-up.
    siblings: list[tuple[int, int]] = []
    start, end = 0, size
    while end - start > 1:
        mid = start + _split(end - start)
        if index < mid:
            siblings.append((mid, end))
            end = mid
        else:
            siblings.append((start, mid))
            start = mid
    return _fetch(subtree_root, siblings[::-1])


def consistency_proof_from(old_size: int, new_size: int, subtree_root: SubtreeRoot) -> list[bytes]:
    """Return the consistency proof PROOF(old_size, D[new_size]) (RFC 9162 2.1.4.1).

    The proof is empty when ``old_size`` is 0 or equals ``new_size``. ``subtree_root`` is only
    asked for RFC-shaped nodes of the new tree (see the module docstring).
    """
    _non_negative(old_size=old_size, new_size=new_size)
    if old_size > new_size:
        raise InvalidInputError(f"old size {old_size} exceeds new size {new_size}")
    if old_size in (0, new_size):
        return []
    # SUBPROOF(m, D[start:end], b) unrolled: descend until the node is exactly the old tree's
    # remaining part; the siblings passed on the way come after it, bottom-up.
    siblings: list[tuple[int, int]] = []
    start, end, m, whole_old_tree = 0, new_size, old_size, True
    while m != end - start:
        k = _split(end - start)
        if m <= k:
            siblings.append((start + k, end))
            end = start + k
        else:
            siblings.append((start, start + k))
            start, m, whole_old_tree = start + k, m - k, False
    # If the node reached is the whole old tree the verifier already knows its hash (old root).
    head = [] if whole_old_tree else [(start, end)]
    return _fetch(subtree_root, head + siblings[::-1])


def inclusion_proof(index: int, leaf_hashes: Sequence[bytes]) -> list[bytes]:
    """Return the inclusion proof of leaf ``index`` in the tree of all ``leaf_hashes``."""
    return inclusion_proof_from(
        index, len(leaf_hashes), lambda start, end: _range_root(leaf_hashes, start, end)
    )


def consistency_proof(old_size: int, leaf_hashes: Sequence[bytes]) -> list[bytes]:
    """Return the consistency proof from the first ``old_size`` leaves to all ``leaf_hashes``."""
    return consistency_proof_from(
        old_size, len(leaf_hashes), lambda start, end: _range_root(leaf_hashes, start, end)
    )


#: Builds the ProofError of a failed check from (detail, computed root or None).
_Fail = Callable[[str, bytes | None], ProofError]


def _check_lengths(named: dict[str, bytes], proof: Sequence[bytes], fail: _Fail) -> None:
    for name, value in named.items():
        if len(value) != HASH_SIZE:
            raise fail(f"{name} is {len(value)} bytes, not {HASH_SIZE}", None)
    for i, value in enumerate(proof):
        if len(value) != HASH_SIZE:
            raise fail(f"proof element {i} is {len(value)} bytes, not {HASH_SIZE}", None)


def _inclusion_root(
    leaf: bytes, index: int, size: int, proof: Sequence[bytes], expected: bytes
) -> bytes:
    _non_negative(index=index, size=size)

    def fail(detail: str, computed: bytes | None) -> ProofError:
        return ProofError(
            index=index, size=size, expected=expected, computed=computed, detail=detail
        )

    if index >= size:
        raise fail("the leaf index is not below the tree size", None)
    _check_lengths({"leaf hash": leaf}, proof, fail)
    # RFC 9162 2.1.3.2 verbatim: fn walks the leaf's path, sn the tree's right edge.
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            raise fail("the proof is longer than the path to the root", None)
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            # On the right edge a node may lack a right sibling; skip those levels.
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            r = node_hash(r, p)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0:
        raise fail("the proof is shorter than the path to the root", None)
    return r


def root_from_inclusion_proof(
    leaf_hash: bytes, index: int, size: int, proof: Sequence[bytes]
) -> bytes:
    """Return the root that ``proof`` yields for ``leaf_hash`` at ``index`` in a tree of ``size``.

    Raises :class:`ProofError` (with an empty ``expected``, as no root is known here) when the
    proof cannot be right for any root: ``index >= size``, a wrong length, or a hash not 32 bytes.
    """
    return _inclusion_root(leaf_hash, index, size, proof, b"")


def verify_inclusion(
    leaf_hash: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes
) -> None:
    """Check that ``proof`` shows ``leaf_hash`` at ``index`` in the tree of ``size`` with ``root``.

    Implements RFC 9162 2.1.3.2; raises :class:`ProofError` on any failure.
    """
    if len(root) != HASH_SIZE:
        detail = f"root is {len(root)} bytes, not {HASH_SIZE}"
        raise ProofError(index=index, size=size, expected=root, computed=None, detail=detail)
    computed = _inclusion_root(leaf_hash, index, size, proof, root)
    if computed != root:
        raise ProofError(
            index=index, size=size, expected=root, computed=computed, detail="root mismatch"
        )


def verify_consistency(
    old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> None:
    """Check that the tree of ``new_size`` with ``new_root`` extends the one of ``old_size``.

    Implements RFC 9162 2.1.4.2; equal sizes need an empty proof and equal roots, and any old
    root of the empty tree is consistent with an empty proof. Raises :class:`ProofError`.
    """
    _non_negative(old_size=old_size, new_size=new_size)

    def fail(detail: str, computed: bytes | None) -> ProofError:
        return ProofError(
            index=old_size, size=new_size, expected=new_root, computed=computed, detail=detail
        )

    _check_lengths({"old root": old_root, "new root": new_root}, proof, fail)
    if old_size > new_size:
        raise fail("the old tree is larger than the new tree", None)
    if old_size == new_size:
        if proof:
            raise fail("a proof between equal sizes must be empty", None)
        if old_root != new_root:
            raise fail("the roots of two trees of equal size differ", old_root)
        return
    if old_size == 0:
        if proof:
            raise fail("a proof from the empty tree must be empty", None)
        return
    if not proof:
        raise fail("the proof is empty", None)
    # A power-of-two old tree is a complete subtree of the new one, so the proof leaves out
    # its hash; the verifier supplies the old root in its place.
    path = [old_root, *proof] if old_size & (old_size - 1) == 0 else list(proof)
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise fail("the proof is longer than needed", None)
        if fn & 1 or fn == sn:
            fr, sr = node_hash(c, fr), node_hash(c, sr)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            sr = node_hash(sr, c)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0:
        raise fail("the proof is shorter than needed", None)
    if fr != old_root:
        raise fail("old root mismatch", sr)
    if sr != new_root:
        raise fail("new root mismatch", sr)
