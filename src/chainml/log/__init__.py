"""The tamper-evident decision log: Merkle tree, records, store, anchoring and receipts.

Public names are listed in ``__all__`` and imported on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from chainml._lazy import lazy_exports

if TYPE_CHECKING:
    from chainml.log.anchor import Anchorer, AnchorPolicy
    from chainml.log.anchor_contract import forget_contract, log_contract
    from chainml.log.approval import check_approved
    from chainml.log.decision_log import Decision, DecisionLog, TreeHead
    from chainml.log.merkle import (
        consistency_proof,
        inclusion_proof,
        verify_consistency,
        verify_inclusion,
    )
    from chainml.log.postgres_store import PostgresLogStore
    from chainml.log.receipt import build_receipt, check_receipt, verify_receipt
    from chainml.log.record import DecisionRecord, request_id_from
    from chainml.log.sqlite_store import SqliteLogStore
    from chainml.log.store import AnchorRecord, LogStore
    from chainml.log.trust import TrustRoot, parse_trust_root

_EXPORTS = {
    "AnchorPolicy": "chainml.log.anchor",
    "AnchorRecord": "chainml.log.store",
    "Anchorer": "chainml.log.anchor",
    "Decision": "chainml.log.decision_log",
    "DecisionLog": "chainml.log.decision_log",
    "DecisionRecord": "chainml.log.record",
    "LogStore": "chainml.log.store",
    "PostgresLogStore": "chainml.log.postgres_store",
    "SqliteLogStore": "chainml.log.sqlite_store",
    "TreeHead": "chainml.log.decision_log",
    "TrustRoot": "chainml.log.trust",
    "build_receipt": "chainml.log.receipt",
    "check_approved": "chainml.log.approval",
    "check_receipt": "chainml.log.receipt",
    "consistency_proof": "chainml.log.merkle",
    "forget_contract": "chainml.log.anchor_contract",
    "inclusion_proof": "chainml.log.merkle",
    "log_contract": "chainml.log.anchor_contract",
    "parse_trust_root": "chainml.log.trust",
    "request_id_from": "chainml.log.record",
    "verify_consistency": "chainml.log.merkle",
    "verify_inclusion": "chainml.log.merkle",
    "verify_receipt": "chainml.log.receipt",
}

__all__ = [
    "AnchorPolicy",
    "AnchorRecord",
    "Anchorer",
    "Decision",
    "DecisionLog",
    "DecisionRecord",
    "LogStore",
    "PostgresLogStore",
    "SqliteLogStore",
    "TreeHead",
    "TrustRoot",
    "build_receipt",
    "check_approved",
    "check_receipt",
    "consistency_proof",
    "forget_contract",
    "inclusion_proof",
    "log_contract",
    "parse_trust_root",
    "request_id_from",
    "verify_consistency",
    "verify_inclusion",
    "verify_receipt",
]

__getattr__, __dir__ = lazy_exports(__name__, globals(), _EXPORTS)
