"""Tests of chainml.log.merkle against RFC 9162 and the Certificate Transparency test vectors."""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chainml.errors import InvalidInputError, ProofError, VerificationError
from chainml.log import merkle
from chainml.log.merkle import (
    EMPTY_ROOT,
    consistency_proof,
    consistency_proof_from,
    inclusion_proof,
    inclusion_proof_from,
    leaf_hash,
    node_hash,
    root,
    root_from_inclusion_proof,
    verify_consistency,
    verify_inclusion,
)

# ---------------------------------------------------------------------------------------------
# Reference vectors, copied from github.com/transparency-dev/merkle (the successor of the CT
# reference implementation): testonly/constants.go (LeafInputs, NodeHashes, RootHashes) and
# proof/verify_test.go (inclusionProofs, consistencyProofs). Go's inclusion vectors number leaves
# from 1; they are converted to 0-based indices here.
# ---------------------------------------------------------------------------------------------

LEAF_INPUTS = [
    b"",
    b"\x00",
    b"\x10",
    b"\x20\x21",
    b"\x30\x31",
    b"\x40\x41\x42\x43",
    b"\x50\x51\x52\x53\x54\x55\x56\x57",
    b"\x60\x61\x62\x63\x64\x65\x66\x67\x68\x69\x6a\x6b\x6c\x6d\x6e\x6f",
]

# NodeHashes()[level][index]: level 0 are the leaf hashes, level 1 the hashes of leaf pairs.
NODE_HASHES = [
    [
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
        "0298d122906dcfc10892cb53a73992fc5b9f493ea4c9badb27b791b4127a7fe7",
        "07506a85fd9dd2f120eb694f86011e5bb4662e5c415a62917033d4a9624487e7",
        "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        "4271a26be0d8a84f0bd54c8c302e7cb3a3b5d1fa6780a40bcce2873477dab658",
        "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
        "46f6ffadd3d06a09ff3c5860d2755c8b9819db7df44251788c7d8e3180de8eb1",
    ],
    [
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
        "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
    ],
]

# RootHashes(), indexed by tree size.
ROOTS = [
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]

# (0-based leaf index, tree size, audit path)
INCLUSION_VECTORS = [
    (0, 1, []),
    (
        0,
        8,
        [
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        5,
        8,
        [
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
    (2, 3, ["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"]),
    (
        1,
        5,
        [
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
]

# (old size, new size, consistency proof)
CONSISTENCY_VECTORS = [
    (1, 1, []),
    (
        1,
        8,
        [
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        6,
        8,
        [
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
    (
        2,
        5,
        [
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
    (
        6,
        7,
        [
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
]

VECTOR_LEAVES = [leaf_hash(data) for data in LEAF_INPUTS]
SOME_HASH = bytes.fromhex("abacaba000000000000000000000000000000000000000000060061e00123456")


def hx(values: list[str]) -> list[bytes]:
    return [bytes.fromhex(v) for v in values]


# ---------------------------------------------------------------------------------------------
# An independent, literal (recursive, slicing) transcription of RFC 9162 2.1, used as an oracle.
# It hashes with hashlib directly so that it does not share code with the module under test.
# ---------------------------------------------------------------------------------------------


def ref_node(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def ref_split(n: int) -> int:
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def ref_mth(d: list[bytes]) -> bytes:
    if not d:
        return hashlib.sha256(b"").digest()
    if len(d) == 1:
        return d[0]
    k = ref_split(len(d))
    return ref_node(ref_mth(d[:k]), ref_mth(d[k:]))


def ref_path(m: int, d: list[bytes]) -> list[bytes]:
    if len(d) == 1:
        return []
    k = ref_split(len(d))
    if m < k:
        return [*ref_path(m, d[:k]), ref_mth(d[k:])]
    return [*ref_path(m - k, d[k:]), ref_mth(d[:k])]


def ref_subproof(m: int, d: list[bytes], b: bool) -> list[bytes]:
    n = len(d)
    if m == n:
        return [] if b else [ref_mth(d)]
    k = ref_split(n)
    if m <= k:
        return [*ref_subproof(m, d[:k], b), ref_mth(d[k:])]
    return [*ref_subproof(m - k, d[k:], False), ref_mth(d[:k])]


def ref_proof(m: int, d: list[bytes]) -> list[bytes]:
    return [] if m == 0 else ref_subproof(m, d, True)


# ---------------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------------


def make_leaves(n: int, seed: int = 0) -> list[bytes]:
    return [leaf_hash(seed.to_bytes(8, "big") + i.to_bytes(4, "big")) for i in range(n)]


def flip(value: bytes, bit: int) -> bytes:
    out = bytearray(value)
    out[bit // 8] ^= 1 << (bit % 8)
    return bytes(out)


def recording(leaves: list[bytes]) -> tuple[Callable[[int, int], bytes], list[tuple[int, int]]]:
    calls: list[tuple[int, int]] = []

    def subtree_root(start: int, end: int) -> bytes:
        calls.append((start, end))
        return ref_mth(leaves[start:end])

    return subtree_root, calls


def assert_rfc_shaped(calls: list[tuple[int, int]], size: int) -> None:
    for start, end in calls:
        assert 0 <= start < end <= size, (start, end, size)
        width = end - start
        perfect = width & (width - 1) == 0 and start % width == 0
        assert perfect or end == size, (start, end, size)


def log2_ceil(n: int) -> int:
    return math.ceil(math.log2(n)) if n > 1 else 0


def raises_proof_error(check: Callable[[], None]) -> ProofError:
    with pytest.raises(ProofError) as info:
        check()
    return info.value


# ---------------------------------------------------------------------------------------------
# Known answers
# ---------------------------------------------------------------------------------------------


def test_empty_root() -> None:
    assert bytes.fromhex(ROOTS[0]) == EMPTY_ROOT == root([])


def test_leaf_and_node_hash_vectors() -> None:
    assert [h.hex() for h in VECTOR_LEAVES] == NODE_HASHES[0]
    pairs = [node_hash(VECTOR_LEAVES[i], VECTOR_LEAVES[i + 1]) for i in range(0, 8, 2)]
    assert [h.hex() for h in pairs] == NODE_HASHES[1]


@pytest.mark.parametrize("size", range(9))
def test_root_vectors(size: int) -> None:
    assert root(VECTOR_LEAVES[:size]).hex() == ROOTS[size]


@pytest.mark.parametrize(("index", "size", "path"), INCLUSION_VECTORS)
def test_inclusion_vectors(index: int, size: int, path: list[str]) -> None:
    proof = hx(path)
    assert inclusion_proof(index, VECTOR_LEAVES[:size]) == proof
    expected = bytes.fromhex(ROOTS[size])
    assert root_from_inclusion_proof(VECTOR_LEAVES[index], index, size, proof) == expected
    verify_inclusion(VECTOR_LEAVES[index], index, size, proof, expected)


@pytest.mark.parametrize(("old", "new", "path"), CONSISTENCY_VECTORS)
def test_consistency_vectors(old: int, new: int, path: list[str]) -> None:
    proof = hx(path)
    assert consistency_proof(old, VECTOR_LEAVES[:new]) == proof
    verify_consistency(old, new, bytes.fromhex(ROOTS[old]), bytes.fromhex(ROOTS[new]), proof)


@pytest.mark.parametrize(("index", "size", "path"), INCLUSION_VECTORS[1:])
def test_inclusion_vector_corruptions_rejected(index: int, size: int, path: list[str]) -> None:
    # The probes of corruptInclusionProof in transparency-dev/merkle proof/verify_test.go.
    proof, good, leaf = hx(path), bytes.fromhex(ROOTS[size]), VECTOR_LEAVES[index]
    probes = [
        (index + 1, size, good, leaf, proof),
        (index ^ 2, size, good, leaf, proof),
        (index, size * 2, good, leaf, proof),
        (index, size // 2, good, leaf, proof),
        (index, size, good, leaf_hash(b"WrongLeaf"), proof),
        (index, size, EMPTY_ROOT, leaf, proof),
        (index, size, SOME_HASH, leaf, proof),
        (index, size, good, leaf, [*proof, b""]),
        (index, size, good, leaf, [*proof, good]),
        (index, size, good, leaf, [b"", *proof]),
        (index, size, good, leaf, [good, *proof]),
        (index, size, good, leaf, proof[:-1]),
        (index, size, good, leaf, [proof[0], SOME_HASH, *proof[1:]]),
    ]
    if index > 0:
        probes.append((index - 1, size, good, leaf, proof))
    for i, size_, root_, leaf_, proof_ in probes:
        with pytest.raises(ProofError):
            verify_inclusion(leaf_, i, size_, proof_, root_)
    # Every single bit of every element, of the leaf and of the root.
    for bit in range(256):
        for k in range(len(proof)):
            bad = [*proof[:k], flip(proof[k], bit), *proof[k + 1 :]]
            with pytest.raises(ProofError):
                verify_inclusion(leaf, index, size, bad, good)
        with pytest.raises(ProofError):
            verify_inclusion(flip(leaf, bit), index, size, proof, good)
        with pytest.raises(ProofError):
            verify_inclusion(leaf, index, size, proof, flip(good, bit))


@pytest.mark.parametrize(("old", "new", "path"), CONSISTENCY_VECTORS[1:])
def test_consistency_vector_corruptions_rejected(old: int, new: int, path: list[str]) -> None:
    # The probes of corruptConsistencyProof in transparency-dev/merkle proof/verify_test.go.
    proof = hx(path)
    r1, r2 = bytes.fromhex(ROOTS[old]), bytes.fromhex(ROOTS[new])
    probes = [
        (old - 1, new, r1, r2, proof),
        (old + 1, new, r1, r2, proof),
        (old ^ 2, new, r1, r2, proof),
        (old, new * 2, r1, r2, proof),
        (old, new // 2, r1, r2, proof),
        (old, new, SOME_HASH, r2, proof),
        (old, new, r1, SOME_HASH, proof),
        (old, new, r2, r1, proof),
        (old, new, r1, r2, []),
        (old, new, r1, r2, [*proof, b""]),
        (old, new, r1, r2, [*proof, r1]),
        (old, new, r1, r2, [*proof, r2]),
        (old, new, r1, r2, [b"", *proof]),
        (old, new, r1, r2, [r1, *proof]),
        (old, new, r1, r2, [r2, *proof]),
        (old, new, r1, r2, [proof[0], *proof]),
        (old, new, r1, r2, proof[:-1]),
    ]
    for s1, s2, root1, root2, proof_ in probes:
        with pytest.raises(ProofError):
            verify_consistency(s1, s2, root1, root2, proof_)
    for bit in range(256):
        for k in range(len(proof)):
            bad = [*proof[:k], flip(proof[k], bit), *proof[k + 1 :]]
            with pytest.raises(ProofError):
                verify_consistency(old, new, r1, r2, bad)
        with pytest.raises(ProofError):
            verify_consistency(old, new, flip(r1, bit), r2, proof)
        with pytest.raises(ProofError):
            verify_consistency(old, new, r1, flip(r2, bit), proof)


# ---------------------------------------------------------------------------------------------
# Against the literal RFC transcription
# ---------------------------------------------------------------------------------------------


def test_root_matches_rfc_reference() -> None:
    leaves = make_leaves(300)
    for n in [*range(65), 127, 128, 129, 255, 256, 257, 300]:
        assert root(leaves[:n]) == ref_mth(leaves[:n]), n


def test_all_small_proofs_match_rfc_reference_and_verify() -> None:
    leaves = make_leaves(33)
    for n in range(1, 34):
        tree, tree_root = leaves[:n], ref_mth(leaves[:n])
        for i in range(n):
            proof = inclusion_proof(i, tree)
            assert proof == ref_path(i, tree), (i, n)
            verify_inclusion(tree[i], i, n, proof, tree_root)
        for m in range(n + 1):
            proof = consistency_proof(m, tree)
            assert proof == ref_proof(m, tree), (m, n)
            verify_consistency(m, n, ref_mth(leaves[:m]), tree_root, proof)


def test_large_root_is_iterative_and_linear(monkeypatch: pytest.MonkeyPatch) -> None:
    n = 2**16 + 3
    leaves = make_leaves(n)
    calls = 0
    real_node_hash = merkle.node_hash

    def counting(left: bytes, right: bytes) -> bytes:
        nonlocal calls
        calls += 1
        return real_node_hash(left, right)

    monkeypatch.setattr(merkle, "node_hash", counting)
    big = root(leaves)
    # A binary tree over n leaves has exactly n - 1 interior nodes: no repeated (quadratic) work.
    assert calls == n - 1
    # RFC shape at the top: the 2**16 complete subtree, then the 3 leaves on the right.
    assert big == ref_node(ref_mth(leaves[: 2**16]), ref_mth(leaves[2**16 :]))


# ---------------------------------------------------------------------------------------------
# Properties
# ---------------------------------------------------------------------------------------------

BIT = st.integers(min_value=0, max_value=255)


@settings(max_examples=200, deadline=None)
@given(size=st.integers(min_value=1, max_value=300), seed=st.integers(0, 2**32), data=st.data())
def test_inclusion_property(size: int, seed: int, data: st.DataObject) -> None:
    leaves = make_leaves(size, seed)
    tree_root = root(leaves)
    index = data.draw(st.integers(min_value=0, max_value=size - 1), label="index")
    proof = inclusion_proof(index, leaves)
    assert len(proof) <= log2_ceil(size)
    verify_inclusion(leaves[index], index, size, proof, tree_root)
    assert root_from_inclusion_proof(leaves[index], index, size, proof) == tree_root

    for k in range(len(proof)):
        bad = [*proof[:k], flip(proof[k], data.draw(BIT)), *proof[k + 1 :]]
        with pytest.raises(ProofError):
            verify_inclusion(leaves[index], index, size, bad, tree_root)
    bad_leaf = flip(leaves[index], data.draw(BIT))
    raises_proof_error(lambda: verify_inclusion(bad_leaf, index, size, proof, tree_root))
    bad_root = flip(tree_root, data.draw(BIT))
    err = raises_proof_error(lambda: verify_inclusion(leaves[index], index, size, proof, bad_root))
    assert (err.index, err.size, err.expected, err.computed) == (index, size, bad_root, tree_root)
    if size > 1:
        other = data.draw(st.integers(0, size - 1).filter(lambda i: i != index), label="other")
        raises_proof_error(lambda: verify_inclusion(leaves[index], other, size, proof, tree_root))
    if proof:
        with pytest.raises(ProofError):
            verify_inclusion(leaves[index], index, size, proof[:-1], tree_root)
    extended = [*proof, SOME_HASH]
    raises_proof_error(lambda: verify_inclusion(leaves[index], index, size, extended, tree_root))


@settings(max_examples=200, deadline=None)
@given(size=st.integers(min_value=1, max_value=300), seed=st.integers(0, 2**32), data=st.data())
def test_consistency_property(size: int, seed: int, data: st.DataObject) -> None:
    leaves = make_leaves(size, seed)
    old = data.draw(st.integers(min_value=0, max_value=size), label="old")
    old_root, new_root = root(leaves[:old]), root(leaves)
    proof = consistency_proof(old, leaves)
    assert len(proof) <= log2_ceil(size) + 1
    verify_consistency(old, size, old_root, new_root, proof)
    if old == 0:
        return  # consistency with the empty tree is trivially true (RFC 9162): nothing to corrupt

    for k in range(len(proof)):
        bad = [*proof[:k], flip(proof[k], data.draw(BIT)), *proof[k + 1 :]]
        with pytest.raises(ProofError):
            verify_consistency(old, size, old_root, new_root, bad)
    bad_old = flip(old_root, data.draw(BIT))
    raises_proof_error(lambda: verify_consistency(old, size, bad_old, new_root, proof))
    bad_new = flip(new_root, data.draw(BIT))
    err = raises_proof_error(lambda: verify_consistency(old, size, old_root, bad_new, proof))
    assert (err.index, err.size, err.expected) == (old, size, bad_new)
    if proof:
        raises_proof_error(lambda: verify_consistency(old, size, old_root, new_root, proof[:-1]))
    extended = [*proof, SOME_HASH]
    err = raises_proof_error(lambda: verify_consistency(old, size, old_root, new_root, extended))
    assert err.computed is None  # rejected for its length, before any root comparison


@settings(max_examples=150, deadline=None)
@given(size=st.integers(min_value=1, max_value=300), data=st.data())
def test_subtree_root_generators(size: int, data: st.DataObject) -> None:
    leaves = make_leaves(size)
    index = data.draw(st.integers(0, size - 1), label="index")
    old = data.draw(st.integers(0, size), label="old")

    subtree_root, calls = recording(leaves)
    proof = inclusion_proof_from(index, size, subtree_root)
    assert_rfc_shaped(calls, size)
    assert len(calls) == len(proof)
    assert proof == inclusion_proof(index, leaves) == ref_path(index, leaves)

    subtree_root, calls = recording(leaves)
    proof = consistency_proof_from(old, size, subtree_root)
    assert_rfc_shaped(calls, size)
    assert len(calls) == len(proof)
    assert proof == consistency_proof(old, leaves) == ref_proof(old, leaves)


# ---------------------------------------------------------------------------------------------
# Malformed inputs
# ---------------------------------------------------------------------------------------------

LEAVES_5 = VECTOR_LEAVES[:5]
ROOT_5 = bytes.fromhex(ROOTS[5])
PROOF_1_OF_5 = inclusion_proof(1, LEAVES_5)


def test_proof_error_is_a_verification_error() -> None:
    assert issubclass(ProofError, VerificationError)


@pytest.mark.parametrize(("index", "size"), [(5, 5), (6, 5), (0, 0), (1, 0)])
def test_verify_inclusion_index_out_of_range(index: int, size: int) -> None:
    err = raises_proof_error(lambda: verify_inclusion(LEAVES_5[0], index, size, [], ROOT_5))
    assert (err.index, err.size, err.expected, err.computed) == (index, size, ROOT_5, None)
    assert "index" in err.detail
    with pytest.raises(ProofError):
        root_from_inclusion_proof(LEAVES_5[0], index, size, [])


def test_index_past_a_one_leaf_tree_is_rejected() -> None:
    # Without the index check the RFC loop would accept this: the root of a 1-leaf tree is the
    # leaf itself and the (empty) proof has the right length.
    leaf = VECTOR_LEAVES[0]
    with pytest.raises(ProofError):
        verify_inclusion(leaf, 1, 1, [], leaf)
    with pytest.raises(ProofError):
        root_from_inclusion_proof(leaf, 1, 1, [])


@pytest.mark.parametrize(("index", "size"), [(5, 5), (0, 0)])
def test_inclusion_proof_index_out_of_range(index: int, size: int) -> None:
    with pytest.raises(InvalidInputError):
        inclusion_proof(index, LEAVES_5[:size])


@pytest.mark.parametrize(("index", "size"), [(-1, 5), (0, -1)])
def test_negative_index_or_size(index: int, size: int) -> None:
    with pytest.raises(InvalidInputError):
        verify_inclusion(LEAVES_5[0], index, size, [], ROOT_5)
    with pytest.raises(InvalidInputError):
        inclusion_proof_from(index, size, lambda s, e: ROOT_5)
    with pytest.raises(InvalidInputError):
        verify_consistency(index, size, ROOT_5, ROOT_5, [])
    with pytest.raises(InvalidInputError):
        consistency_proof_from(index, size, lambda s, e: ROOT_5)


@pytest.mark.parametrize("length", [0, 31, 33])
def test_wrong_length_hashes_in_inclusion(length: int) -> None:
    bad = b"\x01" * length
    leaf = LEAVES_5[1]
    err = raises_proof_error(lambda: verify_inclusion(leaf, 1, 5, [bad, *PROOF_1_OF_5[1:]], ROOT_5))
    assert err.computed is None
    raises_proof_error(lambda: verify_inclusion(bad, 1, 5, PROOF_1_OF_5, ROOT_5))
    err = raises_proof_error(lambda: verify_inclusion(leaf, 1, 5, PROOF_1_OF_5, bad))
    assert err.computed is None
    assert "bytes" in err.detail
    with pytest.raises(InvalidInputError):
        root([*LEAVES_5[:2], bad])


@pytest.mark.parametrize("length", [0, 31, 33])
def test_wrong_length_hashes_in_consistency(length: int) -> None:
    bad = b"\x01" * length
    proof = consistency_proof(2, LEAVES_5)
    r2 = bytes.fromhex(ROOTS[2])
    raises_proof_error(lambda: verify_consistency(2, 5, r2, ROOT_5, [bad, *proof[1:]]))
    raises_proof_error(lambda: verify_consistency(2, 5, bad, ROOT_5, proof))
    raises_proof_error(lambda: verify_consistency(2, 5, r2, bad, proof))


def test_subtree_root_returning_wrong_length_is_rejected() -> None:
    with pytest.raises(InvalidInputError):
        inclusion_proof_from(0, 4, lambda s, e: b"\x00" * 31)
    with pytest.raises(InvalidInputError):
        consistency_proof_from(3, 4, lambda s, e: b"\x00" * 31)


def test_old_size_larger_than_new_size() -> None:
    err = raises_proof_error(lambda: verify_consistency(6, 5, ROOT_5, ROOT_5, []))
    assert (err.index, err.size, err.expected, err.computed) == (6, 5, ROOT_5, None)
    assert "larger" in err.detail
    with pytest.raises(InvalidInputError):
        consistency_proof(6, LEAVES_5)


def test_equal_and_empty_sizes() -> None:
    r1 = bytes.fromhex(ROOTS[1])
    for size, tree_root in [(0, EMPTY_ROOT), (5, ROOT_5)]:
        assert consistency_proof(size, LEAVES_5[:size]) == []
        verify_consistency(size, size, tree_root, tree_root, [])
        with pytest.raises(ProofError):
            verify_consistency(size, size, tree_root, tree_root, [r1])
    err = raises_proof_error(lambda: verify_consistency(5, 5, r1, ROOT_5, []))
    assert "differ" in err.detail
    # From the empty tree: trivially consistent with an empty proof, never with a non-empty one.
    assert consistency_proof(0, LEAVES_5) == []
    verify_consistency(0, 5, EMPTY_ROOT, ROOT_5, [])
    raises_proof_error(lambda: verify_consistency(0, 5, EMPTY_ROOT, ROOT_5, [r1]))
    # A non-trivial consistency needs a non-empty proof.
    raises_proof_error(lambda: verify_consistency(1, 2, r1, bytes.fromhex(ROOTS[2]), []))


def test_consistency_mismatch_details_name_the_root() -> None:
    proof = consistency_proof(3, LEAVES_5)
    r3 = bytes.fromhex(ROOTS[3])
    err = raises_proof_error(lambda: verify_consistency(3, 5, SOME_HASH, ROOT_5, proof))
    assert "old root" in err.detail
    assert err.computed == ROOT_5
    err = raises_proof_error(lambda: verify_consistency(3, 5, r3, SOME_HASH, proof))
    assert "new root" in err.detail
    assert err.computed == ROOT_5


def test_truncated_and_extended_inclusion_proofs() -> None:
    for bad in (PROOF_1_OF_5[:-1], [*PROOF_1_OF_5, PROOF_1_OF_5[0]], []):
        with pytest.raises(ProofError) as info:
            verify_inclusion(LEAVES_5[1], 1, 5, bad, ROOT_5)
        assert info.value.computed is None
