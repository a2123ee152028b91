# pragma version ~=0.4.3
"""
@title DecisionLog
@notice The on-chain anchor of chainml's append-only decision log, a Certificate-Transparency
        style Merkle log hashed as in RFC 9162 (SHA-256, leaf prefix 0x00, node prefix 0x01).
        Anchorers publish tree heads (size, root); a new head is accepted only with a valid
        RFC 9162 consistency proof from the latest one, so the anchored history can only grow.
        Every anchored head stays queryable, so inclusion proofs against older heads verify.
@dev    Roles: the deployer becomes the owner and the first anchorer. The owner adds and
        removes anchorers and may hand ownership on; it is not an anchorer by virtue of being
        the owner (remove it from the anchorers if the two roles must be separate).
        Size 0 is the initial head; its root reads as empty(bytes32) and any head of size > 0
        must have a non-zero root, so `roots[size] != empty(bytes32)` means "size is anchored".
        As in RFC 9162 a root does not commit to its tree size: anchorers are trusted for the
        size they claim, as a CT log's signature vouches for its tree heads.
        What an anchorer is trusted for: to anchor only heads of the operator's real log.
        What it cannot do: shrink or rewrite the anchored history (every new head needs a
        consistency proof), give one size two roots, or anchor a size of 2^63 or more, which
        no later head could extend with a proof of MAX_PROOF hashes (sizes are below
        MAX_TREE_SIZE + 1 = 2^63, the bound the docs and receipts state). A rogue anchorer can
        still extend the anchored head with a tree the operator never built; `chainml log
        audit` and the anchorer's own check then report a head the local log does not have.
"""

# RFC 9162 domain separation: leaves are SHA-256(0x00 || data), interior nodes
# SHA-256(0x01 || left || right). The sha256 builtin calls the precompile at 0x02; node hashes
# are written inline as sha256(concat(NODE_PREFIX, left, right)) because an internal helper
# costs ~100 gas a call, and a bytes1 prefix concatenates cheaper than a Bytes[1].
LEAF_PREFIX: constant(bytes1) = 0x00
NODE_PREFIX: constant(bytes1) = 0x01
# MTH({}) = SHA-256 of the empty string: the RFC's root of the empty tree.
EMPTY_TREE_ROOT: constant(bytes32) = 0xe3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855
# Longest proof accepted. An inclusion proof has at most ceil(log2(n)) elements and a
# consistency proof at most ceil(log2(n)) + 1 (RFC 9162 2.1.4), so 64 covers 2^63 leaves.
MAX_PROOF: constant(uint256) = 64
# Largest anchorable size: any larger head could never be extended (its proofs would not fit in
# MAX_PROOF), so anchoring one would freeze the log for good. 2^63 - 1 leaves headroom too.
MAX_TREE_SIZE: constant(uint256) = 2**63 - 1
MAX_LEAF_DATA: constant(uint256) = 4096

owner: public(address)
is_anchorer: public(HashMap[address, bool])

# The latest anchored tree head is (size, roots[size]); see root() below.
size: public(uint256)
roots: public(HashMap[uint256, bytes32])
anchored_at: public(HashMap[uint256, uint256])

event Anchored:
    size: indexed(uint256)
    root: bytes32
    previous_size: uint256
    anchorer: indexed(address)

event AnchorerAdded:
    anchorer: indexed(address)
    by: indexed(address)

event AnchorerRemoved:
    anchorer: indexed(address)
    by: indexed(address)

event OwnershipTransferred:
    previous_owner: indexed(address)
    new_owner: indexed(address)


@deploy
def __init__():
    """
    @notice The deployer becomes the owner and the first anchorer.
    """
    self.owner = msg.sender
    self.is_anchorer[msg.sender] = True
    log OwnershipTransferred(previous_owner=empty(address), new_owner=msg.sender)
    log AnchorerAdded(anchorer=msg.sender, by=msg.sender)


# -- roles ---------------------------------------------------------------------------------


@external
def transfer_ownership(new_owner: address):
    """
    @notice Hand the owner role to `new_owner` (not the zero address). Anchorers are unchanged.
    """
    assert msg.sender == self.owner, "only the owner"
    assert new_owner != empty(address), "new owner is the zero address"
    log OwnershipTransferred(previous_owner=msg.sender, new_owner=new_owner)
    self.owner = new_owner


@external
def add_anchorer(anchorer: address):
    """
    @notice Allow `anchorer` to anchor tree heads. Reverts if it already may.
    """
    assert msg.sender == self.owner, "only the owner"
    assert anchorer != empty(address), "anchorer is the zero address"
    assert not self.is_anchorer[anchorer], "already an anchorer"
    self.is_anchorer[anchorer] = True
    log AnchorerAdded(anchorer=anchorer, by=msg.sender)


@external
def remove_anchorer(anchorer: address):
    """
    @notice Withdraw the anchorer role from `anchorer`. Reverts if it does not hold it.
    """
    assert msg.sender == self.owner, "only the owner"
    assert self.is_anchorer[anchorer], "not an anchorer"
    self.is_anchorer[anchorer] = False
    log AnchorerRemoved(anchorer=anchorer, by=msg.sender)


# -- anchoring -----------------------------------------------------------------------------


@view
@external
def root() -> bytes32:
    """
    @notice Root of the latest anchored tree head (empty(bytes32) before the first anchor).
    @dev    Read from `roots` rather than kept in its own slot: saves an SSTORE per anchor.
    """
    return self.roots[self.size]


@external
def anchor(new_size: uint256, new_root: bytes32, proof: DynArray[bytes32, MAX_PROOF]):
    """
    @notice Anchor the tree head (new_size, new_root), which `proof` (RFC 9162 2.1.4) shows to
            extend the latest anchored head. Re-anchoring the latest head is a no-op, so a
            retried transaction succeeds without effect.
    @param new_size Number of leaves of the new tree.
    @param new_root Its Merkle tree hash.
    @param proof Consistency proof from the latest anchored head (empty from size 0).
    """
    assert self.is_anchorer[msg.sender], "only an anchorer"
    old_size: uint256 = self.size
    old_root: bytes32 = self.roots[old_size]

    if new_size == old_size:
        # The empty tree's root reads as empty(bytes32), but the RFC's MTH({}) names it too.
        if new_root == old_root or (old_size == 0 and new_root == EMPTY_TREE_ROOT):
            return
        raise "conflicting root for anchored size"
    assert new_size > old_size, "log cannot shrink"
    assert new_size <= MAX_TREE_SIZE, "size beyond the log's bound (2^63 - 1)"
    assert new_root != empty(bytes32), "root must not be empty"
    if old_size == 0:
        # Every tree extends the empty one; the RFC's proof of that is empty.
        assert len(proof) == 0, "invalid consistency proof"
    else:
        if not self._consistent(old_size, old_root, new_size, new_root, proof):
            raise "invalid consistency proof"

    self.size = new_size
    self.roots[new_size] = new_root
    self.anchored_at[new_size] = block.number
    log Anchored(size=new_size, root=new_root, previous_size=old_size, anchorer=msg.sender)


@pure
@internal
def _consistent(
    first: uint256,
    first_hash: bytes32,
    second: uint256,
    second_hash: bytes32,
    proof: DynArray[bytes32, MAX_PROOF],
) -> bool:
    # RFC 9162 2.1.4.2, for 0 < first < second.
    count: uint256 = len(proof)
    if count == 0:
        return False  # step 1
    # Steps 2 and 5: the RFC prepends first_hash to the path when `first` is a power of two
    # (the old tree is then a complete subtree of the new one, whose hash the proof leaves
    # out) and starts fr = sr = path[0]. Rather than copy the array, start from first_hash and
    # read the whole proof, or else start from proof[0] and read the rest.
    start: uint256 = 1
    fr: bytes32 = empty(bytes32)
    if first & (first - 1) == 0:
        fr = first_hash
        start = 0
    else:
        fr = proof[0]
    sr: bytes32 = fr
    # Steps 3 and 4: fn and sn walk from the last leaf of each tree up to the root. Climb
    # while the old tree's node is a right child: those levels lie inside the complete subtree
    # whose hash path[0] is.
    fn: uint256 = first - 1
    sn: uint256 = second - 1
    for _: uint256 in range(256):
        if fn & 1 == 0:
            break
        fn >>= 1
        sn >>= 1

    # Step 6: fr rebuilds the old root, sr the new root, from the same path.
    for i: uint256 in range(start, count, bound=MAX_PROOF):
        if sn == 0:
            return False  # the proof is longer than the path to the root
        c: bytes32 = proof[i]
        if fn & 1 == 1 or fn == sn:
            # c is a left sibling, shared by both trees.
            fr = sha256(concat(NODE_PREFIX, c, fr))
            sr = sha256(concat(NODE_PREFIX, c, sr))
            # On the old tree's right edge a node may lack a right sibling: climb past the
            # levels where it is a left child until it is a right child or the old root.
            for _: uint256 in range(256):
                if fn & 1 == 1 or fn == 0:
                    break
                fn >>= 1
                sn >>= 1
        else:
            # c is a right sibling, present in the new tree only.
            sr = sha256(concat(NODE_PREFIX, sr, c))
        fn >>= 1
        sn >>= 1

    # Step 7: the path must end exactly at the root and rebuild both heads.
    return sn == 0 and fr == first_hash and sr == second_hash


# -- inclusion -----------------------------------------------------------------------------


@view
@internal
def _included(
    leaf_hash: bytes32, index: uint256, size: uint256, proof: DynArray[bytes32, MAX_PROOF]
) -> bool:
    # RFC 9162 2.1.3.2 against the anchored root of `size`.
    expected: bytes32 = self.roots[size]
    if expected == empty(bytes32) or index >= size:
        return False  # never anchored (size 0 included), or not a leaf of that tree
    fn: uint256 = index
    sn: uint256 = size - 1
    r: bytes32 = leaf_hash
    for p: bytes32 in proof:
        if sn == 0:
            return False  # the proof is longer than the path to the root
        if fn & 1 == 1 or fn == sn:
            # p is a left sibling.
            r = sha256(concat(NODE_PREFIX, p, r))
            # On the right edge a node may lack a right sibling: skip those levels.
            for _: uint256 in range(256):
                if fn & 1 == 1 or fn == 0:
                    break
                fn >>= 1
                sn >>= 1
        else:
            r = sha256(concat(NODE_PREFIX, r, p))
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == expected


@view
@external
def verify_inclusion(
    leaf_hash: bytes32, index: uint256, size: uint256, proof: DynArray[bytes32, MAX_PROOF]
) -> bool:
    """
    @notice Whether `proof` (RFC 9162 2.1.3) shows the leaf with hash `leaf_hash` at `index` in
            the anchored tree of `size` leaves. False, never a revert, when `size` was never
            anchored, `index >= size`, or the proof fails.
    """
    return self._included(leaf_hash, index, size, proof)


@view
@external
def verify_leaf(
    leaf_data: Bytes[MAX_LEAF_DATA],
    index: uint256,
    size: uint256,
    proof: DynArray[bytes32, MAX_PROOF],
) -> bool:
    """
    @notice As verify_inclusion, for the leaf data itself (hashed here as SHA-256(0x00 || data)).
    """
    return self._included(sha256(concat(LEAF_PREFIX, leaf_data)), index, size, proof)
