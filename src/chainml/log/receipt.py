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
anchored root; (4) on chain, ``roots(anchor.tree_size)`` of the contract equals that root.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from chainml.chain import Env
from chainml.errors import InvalidInputError, VerificationError
from chainml.log import merkle
from chainml.log.decision_log import DecisionLog
from chainml.log.record import DecisionRecord

RECEIPT_FORMAT = "chainml.receipt/1"


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
    """What a verification established."""

    record: DecisionRecord
    leaf_index: int
    tree_size: int
    anchored_size: int | None  # None: the receipt is not anchored (pending)
    checked_on_chain: bool


def verify_receipt(receipt: Any, env: Env | None = None) -> ReceiptCheck:
    """Check a receipt offline and, given ``env``, against the chain.

    Raises :class:`VerificationError` (or its :class:`ProofError`) naming what failed, and
    :class:`InvalidInputError` for a document that is not a receipt at all.
    """
    if not isinstance(receipt, dict) or receipt.get("format") != RECEIPT_FORMAT:
        raise InvalidInputError(f"not a chainml receipt (expected format {RECEIPT_FORMAT})")
    try:
        data = _unhex(receipt["leaf_data"])
        index, size = int(receipt["leaf_index"]), int(receipt["tree_size"])
        root = _unhex(receipt["tree_root"])
        inclusion = [_unhex(h) for h in receipt["inclusion_proof"]]
        claimed = DecisionRecord.from_json(receipt["record"])
        anchor = receipt.get("anchor")
    except (KeyError, TypeError, ValueError) as err:
        raise InvalidInputError(f"malformed receipt: {err!r}") from err
    try:
        record = DecisionRecord.decode(data)
    except InvalidInputError as err:
        raise VerificationError(f"leaf_data is not a decision record: {err}") from err
    if record != claimed:
        raise VerificationError("the record shown does not match the leaf data that was logged")
    merkle.verify_inclusion(merkle.leaf_hash(data), index, size, inclusion, root)
    if anchor is None:
        return ReceiptCheck(record, index, size, None, checked_on_chain=False)
    try:
        anchored_size = int(anchor["tree_size"])
        anchored_root = _unhex(anchor["tree_root"])
        consistency = [_unhex(h) for h in anchor["consistency_proof"]]
    except (KeyError, TypeError, ValueError) as err:
        raise InvalidInputError(f"malformed receipt anchor: {err!r}") from err
    merkle.verify_consistency(size, anchored_size, root, anchored_root, consistency)
    if env is None:
        return ReceiptCheck(record, index, size, anchored_size, checked_on_chain=False)
    _check_on_chain(anchor, anchored_size, anchored_root, env)
    return ReceiptCheck(record, index, size, anchored_size, checked_on_chain=True)


def _check_on_chain(anchor: dict[str, Any], size: int, root: bytes, env: Env) -> None:
    from chainml import contracts

    if int(anchor["chain_id"]) != env.chain_id:
        raise InvalidInputError(
            f"the receipt is anchored on chain {anchor['chain_id']}, but the node serves chain "
            f"{env.chain_id}: pass --rpc with a node of chain {anchor['chain_id']}"
        )
    contract = env.at(str(anchor["contract"]), env.compile(contracts.source_path("DecisionLog")))
    on_chain = bytes(contract.roots(size))
    if on_chain == bytes(32):
        raise VerificationError(f"contract {contract.address} never anchored a head of size {size}")
    if on_chain != root:
        raise VerificationError(
            f"contract {contract.address} anchored root 0x{on_chain.hex()} for size {size}, "
            f"but the receipt claims 0x{root.hex()}"
        )


def _hex(data: bytes) -> str:
    return "0x" + data.hex()


def _unhex(text: str) -> bytes:
    if not isinstance(text, str) or not text.startswith("0x"):
        raise ValueError(f"expected 0x-prefixed hex, got {text!r}")
    return bytes.fromhex(text[2:])
