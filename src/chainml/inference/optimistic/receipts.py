"""From a receipt to a fraud proof: which head, which proof, which features, then challenge.

A receipt (``chainml.receipt/1``) holds the record's leaf data, its index and an inclusion proof
against some tree size. A challenge must name the *first* anchored head that holds the record;
when the receipt's proof is against another size, the proof for that head comes from a copy of
the log (the operator's data directory, or a mirror) if the caller has one.
"""

from __future__ import annotations

from collections.abc import Sequence

from chainml.chain import Env
from chainml.errors import InvalidInputError
from chainml.inference.optimistic.challenge import (
    ChallengeOutcome,
    FaultReason,
    check_challenge,
    submit_challenge,
)
from chainml.inference.optimistic.errors import HeadNotAnchoredError
from chainml.inference.optimistic.heads import HeadStatus, head_states
from chainml.log.decision_log import DecisionLog
from chainml.log.merkle import leaf_hash, verify_inclusion
from chainml.log.receipt_format import ParsedReceipt, parse_receipt
from chainml.log.record import DecisionRecord


def challenge_receipt(
    env: Env,
    document: object,
    *,
    log_address: str | None = None,
    features: Sequence[int] | None = None,
    local_log: DecisionLog | None = None,
    dry_run: bool = False,
) -> tuple[HeadStatus, FaultReason | ChallengeOutcome]:
    """Challenge the decision of a receipt; returns its head and the outcome (or, dry, the fault).

    ``log_address`` defaults to the contract the receipt's anchor names (the contract itself
    checks everything, and only chainml's ChallengeableLog code is accepted there).
    ``features`` are needed for a record that carries only its input commitment.
    Raises the typed errors of :mod:`chainml.inference.optimistic.errors`.
    """
    receipt = parse_receipt(document)
    address = log_address or (receipt.anchor.contract if receipt.anchor else None)
    if address is None:
        raise InvalidInputError(
            "the receipt is pending (not anchored): there is no head to challenge yet; name "
            "the log with --log once its head is anchored"
        )
    index = receipt.leaf_index
    head = next((h for h in head_states(env, address) if h.covers(index)), None)
    if head is None:
        raise HeadNotAnchoredError(
            f"contract {address} holds no head with record {index} (not anchored yet, or a "
            "reorg dropped it)",
            index=index,
            size=receipt.tree_size,
            reason=None,
        )
    proof = _proof_for(receipt, head, local_log)
    record = DecisionRecord.decode(receipt.leaf_data)
    if record.features:
        features = None
    elif features is None:
        raise InvalidInputError(
            f"record {index} carries only its input commitment: supply its features "
            "(--features), which must hash to it"
        )
    if dry_run:
        fault = check_challenge(env, address, receipt.leaf_data, index, head.size, proof, features)
        return head, fault
    outcome = submit_challenge(env, address, receipt.leaf_data, index, head.size, proof, features)
    return head, outcome


def _proof_for(
    receipt: ParsedReceipt, head: HeadStatus, local_log: DecisionLog | None
) -> list[bytes]:
    """The inclusion proof of the receipt's record in ``head``."""
    index = receipt.leaf_index
    if receipt.tree_size == head.size:
        proof = list(receipt.inclusion_proof)
    elif local_log is not None and local_log.store.size >= head.size:
        proof = local_log.store.inclusion_proof(index, head.size)
    else:
        raise InvalidInputError(
            f"the receipt proves record {index} against a tree of {receipt.tree_size}, but the "
            f"record was first anchored in the head of size {head.size}: get its receipt at "
            f"that size (`chainml log prove {index}` on a copy of the log, or the operator's "
            "API), or run where the log's data directory is"
        )
    # Checked here against the head's root: a wrong proof costs no gas and says why.
    verify_inclusion(leaf_hash(receipt.leaf_data), index, head.size, proof, head.root)
    return proof
