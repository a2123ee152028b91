"""Tests of the DecisionLog contract, the on-chain anchor of the decision log, on every backend.

Proofs come from ``chainml.log.merkle``; the contract must accept exactly what RFC 9162 accepts.
Run with ``-s`` to see the gas table.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Iterator
from functools import cache
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chainml import contracts
from chainml.chain import CompiledContract, Contract, Env
from chainml.chain.compiler import compile_source
from chainml.errors import ContractRevertError, ProofError
from chainml.log import merkle
from chainml.log.merkle import (
    EMPTY_ROOT,
    consistency_proof,
    consistency_proof_from,
    inclusion_proof,
    inclusion_proof_from,
    leaf_hash,
    node_hash,
)

from .test_merkle import CONSISTENCY_VECTORS, INCLUSION_VECTORS, LEAF_INPUTS, ROOTS

ZERO = bytes(32)
INVALID = "invalid consistency proof"
LEAF_DATA = [b"decision %d" % i for i in range(300)]
LEAVES = [leaf_hash(data) for data in LEAF_DATA]


@cache
def root_of(size: int) -> bytes:
    """Root of the log made of the first ``size`` decisions."""
    return merkle.root(LEAVES[:size])


def proof_between(old: int, new: int) -> list[bytes]:
    return consistency_proof(old, LEAVES[:new])


def flip(value: bytes, bit: int) -> bytes:
    """``value`` with one bit inverted (bit 0 is the most significant bit of byte 0)."""
    out = bytearray(value)
    out[bit // 8] ^= 0x80 >> (bit % 8)
    return bytes(out)


@pytest.fixture(scope="session")
def log_code(tmp_path_factory: pytest.TempPathFactory) -> CompiledContract:
    return contracts.load("DecisionLog", tmp_path_factory.mktemp("vyper-cache"))


@pytest.fixture
def log(env: Env, log_code: CompiledContract) -> Contract:
    """A fresh DecisionLog deployed by ``env.sender`` (owner and first anchorer)."""
    return env.deploy(log_code)


def anchor_to(log: Contract, new: int) -> Any:
    """Anchor the first ``new`` decisions with a consistency proof from the current head."""
    return log.anchor(new, root_of(new), proof_between(log.size(), new))


def assert_head(log: Contract, size: int) -> None:
    assert log.size() == size
    assert log.root() == (root_of(size) if size else ZERO)
    assert log.roots(size) == (root_of(size) if size else ZERO)


def revert_reason(action: Callable[[], object]) -> str:
    with pytest.raises(ContractRevertError) as info:
        action()
    return info.value.reason


# ---------------------------------------------------------------------------------------------
# Roles
# ---------------------------------------------------------------------------------------------


class TestRoles:
    def test_deployer_is_owner_and_first_anchorer(self, env: Env, log: Contract):
        assert log.owner() == env.sender
        assert log.is_anchorer(env.sender)
        assert not log.is_anchorer(env.accounts[1])
        assert log.decode_receipt(log.deployment, "OwnershipTransferred") == [
            {"previous_owner": "0x" + "00" * 20, "new_owner": env.sender}
        ]
        assert log.decode_receipt(log.deployment, "AnchorerAdded") == [
            {"anchorer": env.sender, "by": env.sender}
        ]
        assert_head(log, 0)

    def test_non_anchorer_cannot_anchor(self, env: Env, log: Contract):
        other = env.accounts[1]
        reason = revert_reason(lambda: log.transact("anchor", 1, root_of(1), [], sender=other))
        assert reason == "only an anchorer"
        assert_head(log, 0)

    def test_added_anchorer_anchors_and_removed_one_cannot(self, env: Env, log: Contract):
        other = env.accounts[1]
        receipt = log.add_anchorer(other)
        assert log.decode_receipt(receipt, "AnchorerAdded") == [
            {"anchorer": other, "by": env.sender}
        ]
        assert log.is_anchorer(other)

        receipt = log.transact("anchor", 3, root_of(3), [], sender=other)
        (event,) = log.decode_receipt(receipt, "Anchored")
        assert event["anchorer"] == other

        receipt = log.remove_anchorer(other)
        assert log.decode_receipt(receipt, "AnchorerRemoved") == [
            {"anchorer": other, "by": env.sender}
        ]
        assert not log.is_anchorer(other)
        with pytest.raises(ContractRevertError, match="only an anchorer"):
            log.transact("anchor", 5, root_of(5), proof_between(3, 5), sender=other)
        assert_head(log, 3)

    def test_owner_is_not_an_anchorer_once_removed(self, env: Env, log: Contract):
        log.remove_anchorer(env.sender)
        assert log.owner() == env.sender
        with pytest.raises(ContractRevertError, match="only an anchorer"):
            log.anchor(1, root_of(1), [])

    def test_only_the_owner_manages_roles(self, env: Env, log: Contract):
        other = env.accounts[1]
        for name, args in [
            ("add_anchorer", (other,)),
            ("remove_anchorer", (env.sender,)),
            ("transfer_ownership", (other,)),
        ]:
            reason = revert_reason(lambda n=name, a=args: log.transact(n, *a, sender=other))
            assert reason == "only the owner"
        assert log.owner() == env.sender
        assert log.is_anchorer(env.sender) and not log.is_anchorer(other)

    def test_role_changes_must_change_something(self, env: Env, log: Contract):
        zero = "0x" + "00" * 20
        assert revert_reason(lambda: log.add_anchorer(env.sender)) == "already an anchorer"
        assert revert_reason(lambda: log.remove_anchorer(env.accounts[1])) == "not an anchorer"
        assert revert_reason(lambda: log.add_anchorer(zero)) == "anchorer is the zero address"
        assert revert_reason(lambda: log.transfer_ownership(zero)) == (
            "new owner is the zero address"
        )

    def test_transfer_ownership(self, env: Env, log: Contract):
        me, other = env.sender, env.accounts[1]
        receipt = log.transfer_ownership(other)
        assert log.decode_receipt(receipt, "OwnershipTransferred") == [
            {"previous_owner": me, "new_owner": other}
        ]
        assert log.owner() == other
        assert revert_reason(lambda: log.add_anchorer(other)) == "only the owner"
        log.transact("add_anchorer", other, sender=other)
        # Anchorers are untouched by the transfer: the old owner still anchors.
        assert log.is_anchorer(me) and log.is_anchorer(other)
        anchor_to(log, 2)
        assert_head(log, 2)


# ---------------------------------------------------------------------------------------------
# Anchoring
# ---------------------------------------------------------------------------------------------

GROWING_SIZES = [1, 2, 3, 4, 7, 8, 9, 16, 17, 33, 64, 100, 255, 256, 300]


class TestAnchor:
    def test_growing_heads(self, env: Env, log: Contract):
        start = env.block_number
        previous = 0
        for size in GROWING_SIZES:
            receipt = anchor_to(log, size)
            assert log.decode_receipt(receipt, "Anchored") == [
                {
                    "size": size,
                    "root": root_of(size),
                    "previous_size": previous,
                    "anchorer": env.sender,
                }
            ]
            assert_head(log, size)
            assert log.anchored_at(size) == receipt.block_number
            previous = size
        # Every anchored head stays readable; sizes in between were never anchored.
        for size in GROWING_SIZES:
            assert log.roots(size) == root_of(size)
            assert 0 < log.anchored_at(size) <= env.block_number
        assert log.roots(5) == ZERO and log.anchored_at(5) == 0
        events = log.events("Anchored", from_block=start, anchorer=env.sender)
        assert [e["size"] for e in events] == GROWING_SIZES
        assert [e["previous_size"] for e in events] == [0, *GROWING_SIZES[:-1]]
        (only,) = log.events("Anchored", from_block=start, size=33)
        assert only["root"] == root_of(33) and only["previous_size"] == 17

    def test_first_anchor_takes_an_empty_proof(self, env: Env, log: Contract):
        assert revert_reason(lambda: log.anchor(4, root_of(4), [LEAVES[0]])) == INVALID
        assert revert_reason(lambda: log.anchor(4, root_of(4), [root_of(4)])) == INVALID
        log.anchor(4, root_of(4), [])
        assert_head(log, 4)

    def test_empty_root_is_rejected(self, env: Env, log: Contract):
        assert revert_reason(lambda: log.anchor(1, ZERO, [])) == "root must not be empty"
        anchor_to(log, 2)
        reason = revert_reason(lambda: log.anchor(3, ZERO, proof_between(2, 3)))
        assert reason == "root must not be empty"
        assert_head(log, 2)

    def test_a_non_empty_head_needs_a_proof(self, env: Env, log: Contract):
        anchor_to(log, 3)
        assert revert_reason(lambda: log.anchor(5, root_of(5), [])) == INVALID
        assert_head(log, 3)

    @pytest.mark.parametrize("size", [0, 1, 8, 9])
    def test_reanchoring_the_head_is_a_no_op(self, env: Env, log: Contract, size: int):
        if size:
            anchor_to(log, size)
        block = log.anchored_at(size)
        receipt = log.anchor(size, root_of(size) if size else ZERO, [])
        assert receipt.status and receipt.logs == ()
        assert_head(log, size)
        assert log.anchored_at(size) == block
        # An explicit gas limit skips estimation: the mined retry succeeds too.
        receipt = log.transact("anchor", size, root_of(size) if size else ZERO, [], gas=100_000)
        assert receipt.status and receipt.logs == ()
        assert_head(log, size)

    def test_the_rfc_empty_root_names_the_initial_head(self, env: Env, log: Contract):
        receipt = log.anchor(0, EMPTY_ROOT, [])
        assert receipt.logs == ()
        assert_head(log, 0)
        reason = revert_reason(lambda: log.anchor(0, LEAVES[0], []))
        assert reason == "conflicting root for anchored size"

    def test_conflicting_root_for_the_anchored_size(self, env: Env, log: Contract):
        anchor_to(log, 7)
        forked = merkle.root([*LEAVES[:3], leaf_hash(b"rewritten"), *LEAVES[4:7]])
        assert revert_reason(lambda: log.anchor(7, forked, [])) == (
            "conflicting root for anchored size"
        )
        assert revert_reason(lambda: log.anchor(7, flip(root_of(7), 255), [])) == (
            "conflicting root for anchored size"
        )
        assert_head(log, 7)

    def test_the_log_cannot_shrink(self, env: Env, log: Contract):
        anchor_to(log, 9)
        for size in (8, 1, 0):
            reason = revert_reason(lambda s=size: log.anchor(s, root_of(s), []))
            assert reason == "log cannot shrink"
        assert_head(log, 9)

    @pytest.mark.parametrize("head", [0, 9])
    def test_a_size_no_proof_could_extend_is_refused(self, env: Env, log: Contract, head: int):
        """A head of 2^63 or more would freeze the log: no later proof fits in 64 hashes."""
        if head:
            anchor_to(log, head)
        proof = proof_between(head, 10) if head else []
        for size in (2**63, 2**63 + 1, 2**64, 2**256 - 1):
            reason = revert_reason(lambda s=size: log.anchor(s, root_of(10), proof))
            assert reason == "size beyond the log's bound (2^63 - 1)"
        assert_head(log, head)
        assert log.roots(2**63) == ZERO
        anchor_to(log, 10)  # the log still grows
        assert_head(log, 10)

    def test_the_largest_size_is_anchorable(self, env: Env, log: Contract):
        log.anchor(2**63 - 1, root_of(10), [])  # the first head needs no proof
        assert log.size() == 2**63 - 1

    def test_mined_invalid_anchor_reverts_with_its_reason(self, env: Env, log: Contract):
        anchor_to(log, 5)
        forked = merkle.root([*LEAVES[:9], leaf_hash(b"forked")])
        with pytest.raises(ContractRevertError) as info:
            log.transact("anchor", 10, forked, proof_between(5, 10), gas=300_000)
        assert info.value.reason == INVALID and info.value.tx_hash is not None
        assert_head(log, 5)
        assert log.roots(10) == ZERO


def test_certificate_transparency_vectors(env: Env, log_code: CompiledContract):
    """The reference vectors of transparency-dev/merkle verify on chain as they do off chain."""
    for old, new, path in CONSISTENCY_VECTORS:
        if old == new:
            continue
        with env.snapshot():
            log = env.deploy(log_code)
            log.anchor(old, bytes.fromhex(ROOTS[old]), [])
            log.anchor(new, bytes.fromhex(ROOTS[new]), [bytes.fromhex(h) for h in path])
            assert log.root() == bytes.fromhex(ROOTS[new])
    for index, size, path in INCLUSION_VECTORS:
        with env.snapshot():
            log = env.deploy(log_code)
            log.anchor(size, bytes.fromhex(ROOTS[size]), [])
            proof = [bytes.fromhex(h) for h in path]
            assert log.verify_inclusion(leaf_hash(LEAF_INPUTS[index]), index, size, proof)
            assert log.verify_leaf(LEAF_INPUTS[index], index, size, proof)


# ---------------------------------------------------------------------------------------------
# Tampered consistency proofs
# ---------------------------------------------------------------------------------------------

# Powers of two on either side, m == 1, m == n - 1, and sizes with ragged right edges.
TAMPER_PAIRS = [
    (1, 2),
    (1, 8),
    (1, 13),
    (2, 3),
    (2, 4),
    (3, 7),
    (4, 5),
    (4, 8),
    (5, 13),
    (6, 8),
    (7, 8),
    (8, 9),
    (15, 16),
    (16, 33),
    (31, 64),
    (100, 257),
]


def tampered_heads(old: int, new: int) -> Iterator[tuple[str, bytes, list[bytes]]]:
    """(what, root, proof) heads of size ``new`` that must not be accepted after ``old``."""
    proof = proof_between(old, new)
    good = root_of(new)
    for i, element in enumerate(proof):
        for bit in (0, 131, 255):
            yield (
                f"bit {bit} of element {i}",
                good,
                [*proof[:i], flip(element, bit), *proof[i + 1 :]],
            )
    yield "last element dropped", good, proof[:-1]
    yield "first element dropped", good, proof[1:]
    yield "element appended", good, [*proof, LEAVES[0]]
    yield "last element doubled", good, [*proof, proof[-1]]
    yield "old root prepended", good, [root_of(old), *proof]
    if len(proof) > 1:
        yield "reversed", good, proof[::-1]
        yield "first two swapped", good, [proof[1], proof[0], *proof[2:]]
    yield "new root bit-flipped", flip(good, 7), proof
    yield "root of a shorter log", root_of(new - 1), proof
    # A fork that rewrote history before `old`, with its own, internally valid proof.
    for changed in {0, old - 1}:
        forked = list(LEAVES[:new])
        forked[changed] = leaf_hash(b"rewritten")
        yield f"fork at leaf {changed}", merkle.root(forked), consistency_proof(old, forked)
    # A fork that differs after `old` is a fine extension on its own, but not with our proof.
    forked = list(LEAVES[:new])
    forked[new - 1] = leaf_hash(b"rewritten")
    yield "fork at the last leaf", merkle.root(forked), proof


@pytest.mark.parametrize(("old", "new"), TAMPER_PAIRS, ids=[f"{m}-{n}" for m, n in TAMPER_PAIRS])
def test_tampered_consistency_proofs_are_rejected(env: Env, log: Contract, old: int, new: int):
    anchor_to(log, old)
    tried = 0
    for what, root, proof in tampered_heads(old, new):
        # The pure verifier agrees that each of these is wrong ...
        with pytest.raises(ProofError):
            merkle.verify_consistency(old, new, root_of(old), root, proof)
        # ... and so does the contract.
        assert revert_reason(lambda r=root, p=proof: log.anchor(new, r, p)) == INVALID, what
        tried += 1
    assert tried >= 10
    # Mined rather than caught by estimation, a tampered anchor fails the same way.
    proof = proof_between(old, new)
    with pytest.raises(ContractRevertError, match=INVALID):
        log.transact("anchor", new, root_of(new), [flip(proof[0], 0), *proof[1:]], gas=300_000)
    assert_head(log, old)
    assert log.roots(new) == ZERO
    anchor_to(log, new)  # the genuine proof still goes through
    assert_head(log, new)


@st.composite
def growth(draw: st.DrawFn) -> tuple[int, int]:
    old = draw(st.integers(1, len(LEAVES) - 1))
    return old, draw(st.integers(old + 1, len(LEAVES)))


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(pair=growth(), data=st.data())
def test_valid_consistency_proofs_are_accepted(
    env: Env, log: Contract, pair: tuple[int, int], data: st.DataObject
):
    old, new = pair
    with env.snapshot():
        anchor_to(log, old)
        receipt = anchor_to(log, new)
        (event,) = log.decode_receipt(receipt, "Anchored")
        assert (event["size"], event["previous_size"]) == (new, old)
        assert_head(log, new)
        # Both heads now verify inclusion.
        index = data.draw(st.integers(0, new - 1), label="index")
        for size in (old, new):
            expected = index < size
            proof = inclusion_proof(index, LEAVES[:size]) if expected else []
            assert log.verify_inclusion(LEAVES[index], index, size, proof) is expected


# ---------------------------------------------------------------------------------------------
# Inclusion
# ---------------------------------------------------------------------------------------------

INCLUSION_SIZES = [1, 2, 3, 7, 8, 9, 33]


class TestInclusion:
    @pytest.fixture
    def anchored(self, log: Contract) -> Contract:
        for size in INCLUSION_SIZES:
            anchor_to(log, size)
        return log

    def test_every_leaf_of_every_anchored_head(self, anchored: Contract):
        for size in INCLUSION_SIZES:
            for index in range(size):
                proof = inclusion_proof(index, LEAVES[:size])
                assert anchored.verify_inclusion(LEAVES[index], index, size, proof)
                assert anchored.verify_leaf(LEAF_DATA[index], index, size, proof)

    def test_tampered_inclusion_proofs_are_false(self, anchored: Contract):
        for size in (3, 8, 9, 33):
            for index in {0, 1, size // 2, size - 2, size - 1}:
                proof = inclusion_proof(index, LEAVES[:size])
                leaf = LEAVES[index]
                bad: list[tuple[bytes, int, list[bytes]]] = [
                    (flip(leaf, 0), index, proof),
                    (flip(leaf, 255), index, proof),
                    (leaf, index ^ 1, proof),  # a sibling's position
                    (leaf, index, proof[:-1]),
                    (leaf, index, [*proof, proof[-1]]),
                ]
                bad += [
                    (leaf, index, [*proof[:i], flip(p, 100), *proof[i + 1 :]])
                    for i, p in enumerate(proof)
                ]
                for leaf_, index_, proof_ in bad:
                    if index_ >= size:
                        continue
                    assert not anchored.verify_inclusion(leaf_, index_, size, proof_)
                assert not anchored.verify_leaf(LEAF_DATA[index] + b"!", index, size, proof)
                # A leaf hash is not its data: the contract hashes the data itself.
                assert not anchored.verify_leaf(leaf, index, size, proof)

    def test_sizes_never_anchored_and_indices_out_of_range_are_false(self, anchored: Contract):
        # Valid proofs for trees of these sizes, but the contract never saw their heads.
        for size in (4, 5, 10, 32, 34):
            proof = inclusion_proof(0, LEAVES[:size])
            assert not anchored.verify_inclusion(LEAVES[0], 0, size, proof)
        assert not anchored.verify_inclusion(LEAVES[0], 0, 0, [])
        for size in (1, 8, 33):
            for index in (size, size + 1, 2**256 - 1):
                assert not anchored.verify_inclusion(LEAVES[0], index, size, [])
        # The one-leaf tree's root is its leaf hash; only index 0 proves it.
        assert anchored.verify_inclusion(LEAVES[0], 0, 1, [])
        assert not anchored.verify_inclusion(LEAVES[0], 1, 1, [])

    def test_older_heads_still_verify_after_a_newer_one(self, anchored: Contract):
        anchor_to(anchored, 200)
        assert anchored.size() == 200
        for size in (7, 33, 200):
            for index in (0, 5, size - 1):
                proof = inclusion_proof(index, LEAVES[:size])
                assert anchored.verify_inclusion(LEAVES[index], index, size, proof)
        # A proof for the newer tree does not verify against an older head, and vice versa.
        proof_200 = inclusion_proof(5, LEAVES[:200])
        assert not anchored.verify_inclusion(LEAVES[5], 5, 33, proof_200)
        proof_33 = inclusion_proof(5, LEAVES[:33])
        assert not anchored.verify_inclusion(LEAVES[5], 5, 200, proof_33)


# ---------------------------------------------------------------------------------------------
# Gas
# ---------------------------------------------------------------------------------------------


class BigLog:
    """A log of ``size`` leaves whose complete subtrees are all precomputed (one pass, O(n)).

    Leaf ``i`` is ``leaf_hash(i.to_bytes(8, "big"))``. Any RFC-shaped node of any prefix of the
    log is a right fold of aligned complete subtrees, so proofs for every (m, n) are instant.
    """

    def __init__(self, size: int) -> None:
        sha256 = hashlib.sha256
        level = [sha256(b"\x00" + i.to_bytes(8, "big")).digest() for i in range(size)]
        self.levels = [level]
        while len(level) > 1:
            level = [
                sha256(b"\x01" + level[i] + level[i + 1]).digest()
                for i in range(0, len(level) - 1, 2)
            ]
            self.levels.append(level)

    def node(self, start: int, end: int) -> bytes:
        parts = []
        while start < end:
            height = (end - start).bit_length() - 1
            while start % (1 << height):
                height -= 1
            parts.append(self.levels[height][start >> height])
            start += 1 << height
        value = parts.pop()
        while parts:
            value = node_hash(parts.pop(), value)
        return value

    def root(self, size: int) -> bytes:
        return self.node(0, size)

    def consistency(self, old: int, new: int) -> list[bytes]:
        return consistency_proof_from(old, new, self.node)

    def inclusion(self, index: int, size: int) -> list[bytes]:
        return inclusion_proof_from(index, size, self.node)


GAS_SIZES = [2**10, 2**17, 10**6]
# Anchoring a head of size n after one new leaf, after a batch of 1000, and from the old size
# whose proof is longest (ceil(log2(n)) + 1 hashes; n - 1 when n is a power of two, found by
# search for 10^6). Bounds leave ~10% over the measured cost so regressions show.
LONGEST_PROOF_FROM = {2**10: 2**10 - 1, 2**17: 2**17 - 1, 10**6: 982_933}
ANCHOR_GAS_BOUND = {2**10: 105_000, 2**17: 115_000, 10**6: 120_000}
FIRST_ANCHOR_GAS_BOUND = 105_000
VERIFY_GAS_BOUND = {2**10: 14_500, 2**17: 19_500, 10**6: 21_500}
# What a contract pays to check a receipt: a verify_inclusion transaction mostly pays for its
# calldata (it lands on the EIP-7623 floor), so the execution cost is measured from a caller.
GAS_PROBE = """
# pragma version ~=0.4.3
interface DecisionLog:
    def verify_inclusion(
        leaf_hash: bytes32, index: uint256, size: uint256, proof: DynArray[bytes32, 64]
    ) -> bool: view

@view
@external
def verify_gas(
    target: address, leaf_hash: bytes32, index: uint256, size: uint256, proof: DynArray[bytes32, 64]
) -> (bool, uint256):
    before: uint256 = msg.gas
    ok: bool = staticcall DecisionLog(target).verify_inclusion(leaf_hash, index, size, proof)
    return ok, before - msg.gas
"""
#: Filled by the gas tests: (backend, what, log size) -> (proof length, gas).
GAS_TABLE: dict[tuple[str, str, int], tuple[int, int]] = {}


@pytest.fixture(scope="session")
def probe_code(tmp_path_factory: pytest.TempPathFactory) -> CompiledContract:
    return compile_source(GAS_PROBE, "GasProbe", tmp_path_factory.mktemp("probe-cache"))


@pytest.fixture(scope="module")
def big_log() -> BigLog:
    big = BigLog(max(GAS_SIZES))
    # The shortcut agrees with the reference implementation.
    assert big.root(1000) == merkle.root(big.levels[0][:1000])
    return big


def measure_gas(
    env: Env, code: CompiledContract, probe_code: CompiledContract, big: BigLog
) -> dict[tuple[str, int], tuple[int, int]]:
    """Gas of the headline operations at each log size, each run on a fresh contract."""
    gas: dict[tuple[str, int], tuple[int, int]] = {}
    for size in GAS_SIZES:
        for old in sorted({size - 1, size - 1000, LONGEST_PROOF_FROM[size]}):
            proof = big.consistency(old, size)
            merkle.verify_consistency(old, size, big.root(old), big.root(size), proof)
            if old == LONGEST_PROOF_FROM[size]:
                assert len(proof) == math.ceil(math.log2(size)) + 1
            with env.snapshot():
                log = env.deploy(code)
                log.anchor(old, big.root(old), [])
                receipt = log.anchor(size, big.root(size), proof)
                assert log.size() == size
            gas[(f"anchor +{size - old:,}", size)] = (len(proof), receipt.gas_used)
        with env.snapshot():
            log = env.deploy(code)
            receipt = log.anchor(size, big.root(size), [])
            gas[("first anchor", size)] = (0, receipt.gas_used)
            index = size // 3
            proof = big.inclusion(index, size)
            probe = env.deploy(probe_code)
            ok, used = probe.verify_gas(log.address, big.levels[0][index], index, size, proof)
            assert ok
            gas[("verify_inclusion call", size)] = (len(proof), used)
    return gas


def print_gas_table(backend: str, gas: dict[tuple[str, int], tuple[int, int]]) -> None:
    print(f"\nDecisionLog gas on {backend} (proof length in hashes)")
    print(f"  {'operation':<22}{'log size':>10}{'proof':>7}{'gas':>10}")
    for (what, size), (length, used) in sorted(gas.items(), key=lambda kv: (kv[0][1], kv[0][0])):
        print(f"  {what:<22}{size:>10,}{length:>7}{used:>10,}")
        GAS_TABLE[(backend, what, size)] = (length, used)


def test_anchor_gas(
    env: Env, log_code: CompiledContract, probe_code: CompiledContract, big_log: BigLog
):
    gas = measure_gas(env, log_code, probe_code, big_log)
    print_gas_table(type(env.backend).__name__, gas)
    for (what, size), (_, used) in gas.items():
        if what.startswith("anchor +"):
            assert used < ANCHOR_GAS_BOUND[size], (what, size, used)
        elif what == "first anchor":
            assert used < FIRST_ANCHOR_GAS_BOUND, (size, used)
        else:
            assert used < VERIFY_GAS_BOUND[size], (size, used)
    # An extra proof element costs one or two SHA-256 precompile calls and its calldata.
    # 2^17 - 1 -> 2^17 needs 7 more proof elements than 2^10 - 1 -> 2^10.
    extra = gas[("anchor +1", 2**17)][1] - gas[("anchor +1", 2**10)][1]
    assert 0 < extra < 7 * 2_000


@pytest.mark.integration
def test_anchor_gas_is_identical_on_both_backends(
    embedded_env: Env,
    anvil_env: Env,
    log_code: CompiledContract,
    probe_code: CompiledContract,
    big_log: BigLog,
):
    with embedded_env.snapshot():
        embedded = measure_gas(embedded_env, log_code, probe_code, big_log)
    with anvil_env.snapshot():
        anvil = measure_gas(anvil_env, log_code, probe_code, big_log)
    assert embedded == anvil
