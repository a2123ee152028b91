"""Receipts: one decision, proven to be in the log, and the log head proven to be on chain.

A receipt is a JSON document anyone can check with SHA-256 and one ``eth_call``::

    {
      "format": "chainml.receipt/1",
      "record": { ...the decision, human-readable (DecisionRecord.to_json)... },
      "leaf_data": "0x...",          # the ABI-encoded record: what the log hashed
      "leaf_index": 17,
      "tree_size": 1000,             # the inclusion proof leads to the root of this tree
      "tree_root": "0x...",
      "inclusion_proof": ["0x...", ...],          # RFC 9162 section 2.1.3
      "anchor": null | {                          # null while the decision is not anchored
        "chain_id": 1337, "contract": "0x...",
        "tx_hash": "0x...", "block_number": 12,
        "tree_size": 1200, "tree_root": "0x...",  # the head the contract holds
        "consistency_proof": ["0x...", ...]       # RFC 9162 2.1.4, tree_size -> anchor size
      }
    }

To verify: (1) ``leaf_data`` decodes to ``record``; (2) SHA-256(0x00 || leaf_data) with the
inclusion proof gives ``tree_root``; (3) the consistency proof links ``tree_root`` to the
anchored root; (4) the anchor's contract is a log the *verifier* trusts (a
:class:`~chainml.log.trust.TrustRoot`: chain id, address, code hash), never one the receipt
merely names; (5) on chain, ``roots(anchor.tree_size)`` of that contract equals that root, and
it was anchored in the receipt's block and transaction. Steps 1-3 alone
(:func:`check_receipt`) prove nothing about *which* log: anyone can build them for a log of
their own.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from chainml.chain import Env
from chainml.errors import InvalidInputError, VerificationError
from chainml.log import merkle
from chainml.log.decision_log import DecisionLog
from chainml.log.receipt_format import RECEIPT_FORMAT, AnchorClaim, parse_receipt
from chainml.log.record import DecisionRecord
from chainml.log.trust import LOG_CONTRACT, TrustRoot, check_code

__all__ = [
    "RECEIPT_FORMAT",
    "ReceiptCheck",
    "build_receipt",
    "check_receipt",
    "trusted_log_of",
    "verify_receipt",
]


def build_receipt(log: DecisionLog, index: int, tree_size: int | None = None) -> dict[str, Any]:
    """The receipt of decision ``index``.

    The inclusion proof is against ``tree_size`` — by default the latest anchored head when
    it covers the decision, else the current head (and the receipt is pending).
    """
    store = log.store
    if not 0 <= index < store.size:
        raise InvalidInputError(f"no decision {index}: the log holds {store.size}")
    anchor = store.latest_anchor()
    if tree_size is None:
        tree_size = anchor.size if anchor and anchor.size > index else store.size
    if not index < tree_size <= store.size:
        raise InvalidInputError(f"tree size {tree_size} does not contain decision {index}")
    data = store.leaf_data(index)
    receipt: dict[str, Any] = {
        "format": RECEIPT_FORMAT,
        "record": DecisionRecord.decode(data).to_json(),
        "leaf_data": _hex(data),
        "leaf_index": index,
        "tree_size": tree_size,
        "tree_root": _hex(store.root(tree_size)),
        "inclusion_proof": [_hex(h) for h in store.inclusion_proof(index, tree_size)],
        "anchor": None,
    }
    if anchor and anchor.size >= tree_size:
        receipt["anchor"] = {
            "chain_id": anchor.chain_id,
            "contract": anchor.contract,
            "tx_hash": _hex(anchor.tx_hash),
            "block_number": anchor.block_number,
            "tree_size": anchor.size,
            "tree_root": _hex(anchor.root),
            "consistency_proof": [_hex(h) for h in store.consistency_proof(tree_size, anchor.size)],
        }
    return receipt


@dataclass(frozen=True)
class ReceiptCheck:
    """What a check established; ``verified`` only after :func:`verify_receipt` succeeded."""

    record: DecisionRecord
    leaf_index: int
    tree_size: int
    anchor: AnchorClaim | None  # None: the receipt is pending (not anchored)
    trusted_log: TrustRoot | None = None  # set once the anchor was checked against it
    checked_on_chain: bool = False

    @property
    def anchored_size(self) -> int | None:
        """The anchored tree size the receipt claims (None while pending)."""
        return None if self.anchor is None else self.anchor.tree_size

    @property
    def verified(self) -> bool:
        """The decision is in a log the verifier trusts, and the chain holds its head."""
        return self.checked_on_chain and self.trusted_log is not None


def check_receipt(document: object) -> ReceiptCheck:
    """What the hashes alone prove: the record is leaf ``leaf_index`` of *some* tree.

    Offline and never a verdict of validity: without the anchor checked against a trusted
    log (:func:`verify_receipt`), anyone can build such a receipt for a log of their own.
    Raises :class:`InvalidInputError` for a document that is not a receipt, and
    :class:`VerificationError` (or its :class:`ProofError`) when the hashes do not agree.
    """
    receipt = parse_receipt(document)
    try:
        record = DecisionRecord.decode(receipt.leaf_data)
    except InvalidInputError as err:
        raise VerificationError(f"leaf_data is not a decision record: {err}") from err
    if record.to_json() != receipt.record:
        raise VerificationError("the record shown does not match the leaf data that was logged")
    merkle.verify_inclusion(
        merkle.leaf_hash(receipt.leaf_data),
        receipt.leaf_index,
        receipt.tree_size,
        list(receipt.inclusion_proof),
        receipt.tree_root,
    )
    anchor = receipt.anchor
    if anchor is not None:
        merkle.verify_consistency(
            receipt.tree_size,
            anchor.tree_size,
            receipt.tree_root,
            anchor.tree_root,
            list(anchor.consistency_proof),
        )
    return ReceiptCheck(record, receipt.leaf_index, receipt.tree_size, anchor)


def trusted_log_of(
    check: ReceiptCheck, trusted: Sequence[TrustRoot], node_chain_id: int | None = None
) -> TrustRoot:
    """The trust root the receipt's anchor names; VerificationError when there is none.

    A pending receipt, a verifier who pinned no log, and an anchor in a log the verifier did
    not pin all fail here, before anything on chain is asked.
    """
    anchor = check.anchor
    if anchor is None:
        raise VerificationError(
            f"decision {check.leaf_index} is pending: the receipt is not anchored, so nothing "
            "on chain vouches for it; ask for it again after the next anchor"
        )
    if not trusted:
        raise VerificationError(
            f"the hashes check out, but the anchor is unpinned: the receipt names log "
            f"{anchor.chain_id}:{anchor.contract}, and you trust no log. Pin the operator's "
            "log (`--log CHAIN_ID:ADDRESS` or `trusted_logs`); anyone can anchor a receipt in "
            "a log of their own"
        )
    for root in trusted:
        if root.names(anchor.chain_id, anchor.contract, node_chain_id):
            return root
    pinned = ", ".join(str(root) for root in trusted)
    raise VerificationError(
        f"the receipt is anchored in log {anchor.chain_id}:{anchor.contract}, which is not a "
        f"log you trust ({pinned})"
    )


def verify_receipt(document: object, env: Env, *, trusted: Sequence[TrustRoot]) -> ReceiptCheck:
    """Verify a receipt against a log the verifier trusts, on ``env``'s chain; fail closed.

    Checks the hashes (:func:`check_receipt`), that the anchor names one of ``trusted``, that
    ``env`` serves its chain, that the code there is the trusted DecisionLog (code hash), that
    the contract holds the anchored root and that it was anchored in the receipt's block and
    transaction. Returns a check with ``verified`` true; raises :class:`VerificationError`
    naming what failed otherwise (pending, unpinned and untrusted included).
    """
    check = check_receipt(document)
    root = trusted_log_of(check, trusted, env.chain_id)
    anchor = check.anchor
    assert anchor is not None  # trusted_log_of refuses pending receipts
    if anchor.chain_id != env.chain_id:
        raise VerificationError(
            f"the receipt is anchored on chain {anchor.chain_id}, but the node serves chain "
            f"{env.chain_id}: pass --rpc with a node of chain {anchor.chain_id}"
        )
    check_code(env, root, LOG_CONTRACT)
    _check_anchor_on_chain(anchor, env)
    return replace(check, trusted_log=root, checked_on_chain=True)


def _check_anchor_on_chain(anchor: AnchorClaim, env: Env) -> None:
    from chainml import contracts

    contract = env.at(anchor.contract, env.compile(contracts.source_path(LOG_CONTRACT)))
    size = anchor.tree_size
    on_chain = bytes(contract.roots(size))
    if on_chain == bytes(32):
        raise VerificationError(f"contract {contract.address} never anchored a head of size {size}")
    if on_chain != anchor.tree_root:
        raise VerificationError(
            f"contract {contract.address} anchored root 0x{on_chain.hex()} for size {size}, "
            f"but the receipt claims 0x{anchor.tree_root.hex()}"
        )
    # The block is what --require-approved reads the registry at: it must be the real one.
    if anchor.block_number > env.block_number:
        raise VerificationError(
            f"the receipt's anchor block {anchor.block_number} is beyond the chain's head "
            f"(block {env.block_number})"
        )
    events = contract.events(
        "Anchored", from_block=anchor.block_number, to_block=anchor.block_number, size=size
    )
    if not any(bytes(e["_tx"]) == anchor.tx_hash for e in events):
        raise VerificationError(
            f"contract {contract.address} did not anchor size {size} in transaction "
            f"0x{anchor.tx_hash.hex()} of block {anchor.block_number}"
        )


def _hex(data: bytes) -> str:
    return "0x" + data.hex()
