"""The receipt document (``chainml.receipt/1``, ``/2``), parsed strictly from untrusted bytes.

``chainml.receipt/2`` is ``/1`` plus one key, ``zk``: a zero-knowledge proof of the decision
(:mod:`chainml.inference.zk.proof` checks its shape and what it proves). Everything else is
the same, and a ``/2`` receipt's hashes are checked exactly as a ``/1``'s.

A receipt comes from whoever hands it over, so it is read within bounds
(:func:`chainml.bounded_json.loads`) and every field is held to the type and form that
:func:`chainml.log.receipt.build_receipt` writes: JSON integers for indexes and sizes, ``0x`` +
lowercase hex for bytes, 32-byte hashes, an EIP-55 address, no missing and no unknown keys.
A document that is not of that shape is an :class:`InvalidInputError` naming the field (CLI
exit 2); whether its values *prove* anything is for :mod:`chainml.log.receipt` (exit 3).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eth_utils import is_checksum_address

from chainml import bounded_json
from chainml.errors import InvalidInputError
from chainml.log.record import DecisionRecord, exact_fields, shown

RECEIPT_FORMAT = "chainml.receipt/1"
#: A receipt with a zero-knowledge proof attached (``zk``); see docs/zk.md.
RECEIPT_FORMAT_ZK = "chainml.receipt/2"
#: Far above any real receipt (a proof holds at most 64 hashes), far below a memory problem.
MAX_RECEIPT_BYTES = 4 * 1024 * 1024
#: Tree sizes below 2^63, as the DecisionLog contract enforces; proofs hold at most 64 hashes.
MAX_TREE_SIZE = 2**63 - 1
MAX_PROOF = 64

_FIELDS = (
    "format",
    "record",
    "leaf_data",
    "leaf_index",
    "tree_size",
    "tree_root",
    "inclusion_proof",
    "anchor",
)
_ANCHOR_FIELDS = (
    "chain_id",
    "contract",
    "tx_hash",
    "block_number",
    "tree_size",
    "tree_root",
    "consistency_proof",
)
_HEX = re.compile(r"0x(?:[0-9a-f]{2})*")


@dataclass(frozen=True)
class AnchorClaim:
    """Where the receipt says its head is anchored; checked only against a trusted log."""

    chain_id: int
    contract: str
    tx_hash: bytes
    block_number: int
    tree_size: int
    tree_root: bytes
    consistency_proof: tuple[bytes, ...]


@dataclass(frozen=True)
class ParsedReceipt:
    """A receipt whose fields have the right types; nothing in it is verified yet."""

    record: dict[str, Any]  # as written (DecisionRecord.to_json form), types checked
    leaf_data: bytes
    leaf_index: int
    tree_size: int
    tree_root: bytes
    inclusion_proof: tuple[bytes, ...]
    anchor: AnchorClaim | None
    zk: object = None  # the zk attachment of a /2 receipt, shape unchecked here


def read_receipt(path: Path) -> Any:
    """Read and parse a receipt file within :data:`MAX_RECEIPT_BYTES`; never reads more."""
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_RECEIPT_BYTES + 1)
    except OSError as err:
        raise InvalidInputError(f"cannot read receipt {path}: {err.strerror or err}") from err
    return bounded_json.loads(data, what=f"receipt {path}", max_bytes=MAX_RECEIPT_BYTES)


#: The keys of the service's answer to ``GET /v1/decisions/{id}``, which wraps a receipt;
#: ``proof`` (the status of a zk proof job) came later, so answers saved before lack it.
SERVICE_ANSWER_KEYS = frozenset({"status", "leaf_index", "receipt"})
_SERVICE_ANSWERS = (SERVICE_ANSWER_KEYS, SERVICE_ANSWER_KEYS | {"proof"})


def unwrap_service_answer(document: object) -> object:
    """The receipt inside the service's ``GET /v1/decisions/{id}`` answer; else the document.

    Users save that answer as it comes (``curl ... > r.json``). Its ``status`` is the server's
    claim and is ignored: only the receipt inside is checked, as any receipt is.
    """
    if isinstance(document, dict) and set(document) in _SERVICE_ANSWERS:
        return document["receipt"]
    return document


def parse_receipt(document: object) -> ParsedReceipt:
    """Check the shape of a receipt document (already parsed JSON).

    The service's answer that wraps a receipt (:func:`unwrap_service_answer`) is accepted too.
    """
    unwrapped = unwrap_service_answer(document)
    proved = isinstance(unwrapped, dict) and unwrapped.get("format") == RECEIPT_FORMAT_ZK
    fields = exact_fields(unwrapped, "receipt", (*_FIELDS, "zk") if proved else _FIELDS)
    if fields["format"] not in (RECEIPT_FORMAT, RECEIPT_FORMAT_ZK):
        raise InvalidInputError(
            f"not a chainml receipt: format is {shown(fields['format'])}, "
            f"expected {RECEIPT_FORMAT!r} (or {RECEIPT_FORMAT_ZK!r} with a zk proof)"
        )
    DecisionRecord.fields_from_json(fields["record"])  # types only: the values are verified
    anchor = fields["anchor"]
    return ParsedReceipt(
        record=fields["record"],
        leaf_data=_bytes(fields["leaf_data"], "leaf_data"),
        leaf_index=_integer(fields["leaf_index"], "leaf_index", 0, MAX_TREE_SIZE - 1),
        tree_size=_integer(fields["tree_size"], "tree_size", 1, MAX_TREE_SIZE),
        tree_root=_hash(fields["tree_root"], "tree_root"),
        inclusion_proof=_proof(fields["inclusion_proof"], "inclusion_proof"),
        anchor=None if anchor is None else _anchor(anchor),
        zk=fields.get("zk"),
    )


def _anchor(document: object) -> AnchorClaim:
    fields = exact_fields(document, "anchor", _ANCHOR_FIELDS)
    contract = fields["contract"]
    if not isinstance(contract, str) or not is_checksum_address(contract):
        raise InvalidInputError(
            f"anchor.contract must be an EIP-55 checksummed address, got {shown(contract)}"
        )
    return AnchorClaim(
        chain_id=_integer(fields["chain_id"], "anchor.chain_id", 1, 2**64 - 1),
        contract=contract,
        tx_hash=_hash(fields["tx_hash"], "anchor.tx_hash"),
        block_number=_integer(fields["block_number"], "anchor.block_number", 0, 2**64 - 1),
        tree_size=_integer(fields["tree_size"], "anchor.tree_size", 1, MAX_TREE_SIZE),
        tree_root=_hash(fields["tree_root"], "anchor.tree_root"),
        consistency_proof=_proof(fields["consistency_proof"], "anchor.consistency_proof"),
    )


def _integer(value: object, name: str, low: int, high: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise InvalidInputError(f"{name} must be a JSON integer, got {shown(value)}")
    if not low <= value <= high:
        raise InvalidInputError(f"{name} must be between {low} and {high}, got {value}")
    return value


def _bytes(value: object, name: str) -> bytes:
    if not isinstance(value, str) or not _HEX.fullmatch(value):
        raise InvalidInputError(
            f"{name} must be 0x followed by lowercase hex byte pairs, got {shown(value)}"
        )
    return bytes.fromhex(value[2:])


def _hash(value: object, name: str) -> bytes:
    data = _bytes(value, name)
    if len(data) != 32:
        raise InvalidInputError(f"{name} must be a 32-byte hash, got {len(data)} bytes")
    return data


def _proof(value: object, name: str) -> tuple[bytes, ...]:
    if not isinstance(value, list):
        raise InvalidInputError(f"{name} must be a list of hashes, got {shown(value)}")
    if len(value) > MAX_PROOF:
        raise InvalidInputError(f"{name} has {len(value)} hashes; at most {MAX_PROOF}")
    return tuple(_hash(item, f"{name}[{i}]") for i, item in enumerate(value))
