"""``chainml zk verify``: a receipt's zk proof checked locally (EZKL) and on chain (registry).

Fail closed, relative to what the *verifier* pins: the record comes from a receipt whose
hashes check (and, with trusted logs, whose anchor is on chain); the public instances are
derived from that record, never read from the attachment; the verifier contract is the one
the verifier's ZkVerifierRegistry records for the record's model (at the anchor's block
too, when the receipt is anchored), with the verifying-key hash the attachment names.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chainml.chain import Env
from chainml.errors import ContractRevertError, NotFoundError, VerificationError
from chainml.inference.zk.proof import (
    ZkAttachment,
    ezkl_proof_document,
    parse_attachment,
    public_instances,
)
from chainml.inference.zk.runner import run_ezkl
from chainml.inference.zk.setup import ZkCircuit
from chainml.inference.zk.verifiers import ZkVerifierRegistry, code_hash
from chainml.log.receipt import ReceiptCheck, check_receipt, verify_receipt
from chainml.log.receipt_format import parse_receipt
from chainml.log.record import DecisionRecord
from chainml.log.trust import TrustRoot


@dataclass(frozen=True)
class ZkCheck:
    """What was established about a receipt's proof."""

    record: DecisionRecord
    attachment: ZkAttachment
    receipt: ReceiptCheck
    local: bool = False  # EZKL accepted it with the local verifying key
    on_chain: bool = False  # the registry's verifier accepted it (eth_call)
    verifier: str | None = None

    @property
    def verified(self) -> bool:
        """Accepted by the registry's verifier on chain (the local check is extra)."""
        return self.on_chain


def read_attachment(receipt: object) -> tuple[ReceiptCheck, ZkAttachment]:
    """The receipt's hashes checked and its zk attachment parsed, bound to its record."""
    parsed = parse_receipt(receipt)
    if parsed.zk is None:
        raise VerificationError("the receipt carries no zk proof (run `chainml zk prove`)")
    check = check_receipt(receipt)
    attachment = parse_attachment(parsed.zk)
    if attachment.model_id != check.record.model_id:
        raise VerificationError(
            f"the proof is for model 0x{attachment.model_id.hex()}, the decision was made by "
            f"model 0x{check.record.model_id.hex()}"
        )
    return check, attachment


def verify_locally(check: ReceiptCheck, attachment: ZkAttachment, circuit: ZkCircuit) -> None:
    """EZKL's verify with ``circuit``'s verifying key; VerificationError when it refuses."""
    if circuit.vk_hash != attachment.vk_hash:
        raise VerificationError(
            f"the proof names verifying key 0x{attachment.vk_hash.hex()}, the local circuit "
            f"has 0x{circuit.vk_hash.hex()}"
        )
    instances = public_instances(check.record, attachment)
    with tempfile.TemporaryDirectory(prefix="chainml-zk-verify-") as scratch_name:
        proof = Path(scratch_name) / "proof.json"
        proof.write_text(json.dumps(ezkl_proof_document(attachment, instances)))
        try:
            accepted = run_ezkl("verify", proof, circuit.file("settings"), circuit.file("vk"),
                                srs_path=circuit.file("srs")).value  # fmt: skip
        except Exception as err:  # EZKL reports a bad proof as an error
            raise VerificationError(f"EZKL rejects the proof: {err}") from err
    if accepted is not True:
        raise VerificationError("EZKL rejects the proof")


def verify_on_chain(
    check: ReceiptCheck, attachment: ZkAttachment, env: Env, registry: ZkVerifierRegistry
) -> str:
    """The registry's verifier for the record's model accepts the proof; its address."""
    record = check.record
    model_id = "0x" + record.model_id.hex()
    entry = registry.entry(model_id)
    if entry.vk_hash != attachment.vk_hash:
        raise VerificationError(
            f"the registry's verifier for model {model_id} has verifying key "
            f"0x{entry.vk_hash.hex()}, the proof names 0x{attachment.vk_hash.hex()}"
        )
    if check.anchor is not None and check.anchor.chain_id == env.chain_id:
        try:  # the verifier must have been the model's at the anchor's block already
            then = registry.entry(model_id, block=check.anchor.block_number)
        except NotFoundError as err:
            raise VerificationError(
                f"no zk verifier was recorded for model {model_id} at the anchor's block "
                f"{check.anchor.block_number}"
            ) from err
        if then.verifier.lower() != entry.verifier.lower() or then.vk_hash != entry.vk_hash:
            raise VerificationError(
                f"model {model_id}'s verifier changed since the anchor's block "
                f"{check.anchor.block_number}"
            )
    if code_hash(env, entry.verifier) != entry.codehash:
        raise VerificationError(f"the code at verifier {entry.verifier} changed")
    try:
        if attachment.inputs == "public":
            registry.contract.call(
                "verify_public", record.model_id, attachment.proof, list(record.features),
                record.score, record.label, record.input_commitment,
            )  # fmt: skip
        else:
            registry.contract.call(
                "verify_hidden", record.model_id, attachment.proof,
                list(attachment.input_hashes), record.score, record.label,
                record.input_commitment,
            )  # fmt: skip
    except ContractRevertError as err:
        raise VerificationError(f"the on-chain verifier rejects the proof: {err}") from err
    return entry.verifier


def verify_decision(
    receipt: object,
    *,
    env: Env | None = None,
    registry: ZkVerifierRegistry | None = None,
    circuit: ZkCircuit | None = None,
    trusted: Sequence[TrustRoot] = (),
) -> ZkCheck:
    """Check a ``chainml.receipt/2``: hashes, the anchor (with ``trusted`` logs), the proof.

    With ``circuit``, EZKL verifies locally; with ``env`` and ``registry``, the registry's
    verifier for the record's model verifies on chain. ``verified`` needs the chain.
    """
    check, attachment = read_attachment(receipt)
    if trusted and env is not None:
        check = verify_receipt(receipt, env, trusted=trusted)
    local = False
    if circuit is not None:
        verify_locally(check, attachment, circuit)
        local = True
    verifier = None
    if env is not None and registry is not None:
        verifier = verify_on_chain(check, attachment, env, registry)
    return ZkCheck(check.record, attachment, check, local, verifier is not None, verifier)


def summary(result: ZkCheck) -> dict[str, Any]:
    """A JSON-ready account of a check, for the CLI and the service."""
    record = result.record
    return {
        "model_id": "0x" + record.model_id.hex(),
        "score": str(record.score),
        "inputs": result.attachment.inputs,
        "checked_locally": result.local,
        "checked_on_chain": result.on_chain,
        "verifier": result.verifier,
        "anchor_verified": result.receipt.verified,
        "srs": result.attachment.srs_note,
        "srs_insecure": result.attachment.insecure_srs,
        "verified": result.verified,
    }
