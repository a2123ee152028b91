"""Proving a logged decision with its model's circuit, and the proof as a receipt attachment.

:func:`prove_decision` takes a receipt (``chainml.receipt/1`` or ``/2``), re-creates the
witness from the record's fixed-point features (or, for a record logged without them, from
the features the prover holds, which must match the record's input commitment), checks that
EZKL's output equals the logged score (scale 0 on both sides, see
:mod:`chainml.inference.zk.circuit`) and proves (witness and proof in one EZKL child
process), and returns the receipt as
``chainml.receipt/2`` with a ``zk`` attachment (:data:`ATTACHMENT_FORMAT`)::

    "zk": {"format": "chainml.zk-proof/1", "model_id": "0x…", "circuit": "<key>",
           "vk_sha256": "0x…", "inputs": "public" | "hashed" | "private",
           "input_hashes": ["0x…"],      # hashed inputs: the Poseidon hash the proof publishes
           "proof": "0x…", "ezkl": "23.0.5",
           "srs": {"insecure": true, "note": "INSECURE FOR PRODUCTION: …"}}

The public instances are never taken from the attachment: the verifier derives them from
the record (features and score) it has checked against the log.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chainml.errors import InvalidInputError, VerificationError
from chainml.inference.zk import circuit as circuits
from chainml.inference.zk.runner import EZKL_VERSION, ZkToolError, run_steps, step
from chainml.inference.zk.setup import ZkCircuit, load_circuit
from chainml.log.receipt import check_receipt
from chainml.log.receipt_format import RECEIPT_FORMAT_ZK
from chainml.log.record import DecisionRecord, commit_features, exact_fields, hex32, shown
from chainml.models.artifacts import load_model

ATTACHMENT_FORMAT = "chainml.zk-proof/1"
MAX_PROOF_BYTES = 32768  # the verifier registry's bound
_FIELDS = ("format", "model_id", "circuit", "vk_sha256", "inputs", "input_hashes", "proof",
           "ezkl", "srs")  # fmt: skip


@dataclass(frozen=True)
class ZkAttachment:
    """A receipt's ``zk`` attachment, shape-checked; nothing in it is trusted yet."""

    model_id: bytes
    circuit: str
    vk_hash: bytes
    inputs: str
    input_hashes: tuple[int, ...]
    proof: bytes
    insecure_srs: bool
    srs_note: str

    def document(self) -> dict[str, Any]:
        """The attachment as the receipt carries it."""
        return {
            "format": ATTACHMENT_FORMAT,
            "model_id": "0x" + self.model_id.hex(),
            "circuit": self.circuit,
            "vk_sha256": "0x" + self.vk_hash.hex(),
            "inputs": self.inputs,
            "input_hashes": ["0x" + h.to_bytes(32, "big").hex() for h in self.input_hashes],
            "proof": "0x" + self.proof.hex(),
            "ezkl": EZKL_VERSION,
            "srs": {"insecure": self.insecure_srs, "note": self.srs_note},
        }


def parse_attachment(document: object) -> ZkAttachment:
    """Check the shape of a ``zk`` attachment; InvalidInputError naming what is wrong."""
    fields = exact_fields(document, "zk", _FIELDS)
    if fields["format"] != ATTACHMENT_FORMAT:
        raise InvalidInputError(f"zk.format must be {ATTACHMENT_FORMAT!r}")
    inputs = fields["inputs"]
    if inputs not in ("public", "hashed", "private"):
        raise InvalidInputError(f"zk.inputs must be public, hashed or private, got {shown(inputs)}")
    proof = fields["proof"]
    if not isinstance(proof, str) or not proof.startswith("0x") or len(proof) % 2:
        raise InvalidInputError("zk.proof must be 0x followed by hex byte pairs")
    try:
        proof_bytes = bytes.fromhex(proof[2:])
    except ValueError:
        raise InvalidInputError("zk.proof is not hexadecimal") from None
    if not 0 < len(proof_bytes) <= MAX_PROOF_BYTES:
        raise InvalidInputError(f"zk.proof must hold 1 to {MAX_PROOF_BYTES} bytes")
    hashes = fields["input_hashes"]
    if not isinstance(hashes, list) or len(hashes) > 4:
        raise InvalidInputError("zk.input_hashes must be a list of at most 4 hashes")
    srs = exact_fields(fields["srs"], "zk.srs", ("insecure", "note"))
    if not isinstance(srs["insecure"], bool) or not isinstance(srs["note"], str):
        raise InvalidInputError("zk.srs must hold insecure (boolean) and note (text)")
    if not isinstance(fields["circuit"], str):
        raise InvalidInputError("zk.circuit must be text")
    return ZkAttachment(
        model_id=hex32(fields["model_id"], "zk.model_id"),
        circuit=fields["circuit"],
        vk_hash=hex32(fields["vk_sha256"], "zk.vk_sha256"),
        inputs=inputs,
        input_hashes=tuple(
            int.from_bytes(hex32(h, f"zk.input_hashes[{i}]"), "big") for i, h in enumerate(hashes)
        ),
        proof=proof_bytes,
        insecure_srs=srs["insecure"],
        srs_note=srs["note"],
    )


@dataclass(frozen=True)
class ProofRun:
    """What proving took."""

    witness_seconds: float
    prove_seconds: float
    peak_rss_bytes: int
    proof_bytes: int


def ezkl_proof_document(attachment: ZkAttachment, instances: Sequence[int]) -> dict[str, Any]:
    """EZKL's proof file for ``attachment`` with public ``instances`` (integers)."""
    return {
        "protocol": None,
        "instances": [[circuits.felt(v) for v in instances]],
        "proof": list(attachment.proof),
        "hex_proof": "0x" + attachment.proof.hex(),
        "split": None,
        "pretty_public_inputs": None,
        "timestamp": None,
        "version": EZKL_VERSION,
    }


def public_instances(record: DecisionRecord, attachment: ZkAttachment) -> list[int]:
    """The proof's public instances as the verifier derives them from the checked record."""
    if attachment.inputs == "public":
        if not record.features:
            raise VerificationError("a public-input proof needs the record's features")
        return [*record.features, record.score]
    return [*attachment.input_hashes, record.score]


def prove_decision(
    receipt: dict[str, Any],
    data_dir: Path,
    *,
    features: Sequence[int] | None = None,
    circuit_key: str | None = None,
    progress: Callable[[str], None] | None = None,
) -> tuple[dict[str, Any], ProofRun]:
    """Prove the receipt's decision; return the receipt with its ``zk`` attachment."""
    record = check_receipt(receipt).record
    artifact = load_model(data_dir, "0x" + record.model_id.hex())
    circuit = load_circuit(artifact, circuit_key)
    values = tuple(record.features) or tuple(int(v) for v in (features or ()))
    if not values:
        raise InvalidInputError(
            "the record was logged without its features: give the features you hold "
            "(they must match its input commitment)"
        )
    if commit_features(values) != record.input_commitment:
        raise VerificationError("the features do not match the record's input commitment")
    model = circuits.supported(artifact.policy.model)
    if model.score(values) != record.score:
        raise VerificationError(
            f"the model's score on the features is {model.score(values)}, the log says "
            f"{record.score}: the logged decision is not this model's, there is nothing to prove"
        )
    circuits.check_witness_range(model, values)
    with tempfile.TemporaryDirectory(prefix="chainml-zk-prove-") as scratch_name:
        scratch = Path(scratch_name)
        (scratch / "input.json").write_text(json.dumps(circuits.input_document([values])))
        if progress:
            progress(f"witness and proof (2**{circuit.manifest['logrows']} rows)")
        witness, proved = run_steps([
            step("gen_witness", scratch / "input.json", circuit.file("compiled"),
                 scratch / "witness.json"),
            step("prove", scratch / "witness.json", circuit.file("compiled"), circuit.file("pk"),
                 scratch / "proof.json", srs_path=circuit.file("srs")),
        ])  # fmt: skip
        document = json.loads((scratch / "witness.json").read_text(encoding="utf-8"))
        output = circuits.felt_int(document["outputs"][-1][0])
        if output != record.score:  # the scales line up (0 and 0), so the numbers are equal
            raise ZkToolError("gen_witness", f"circuit output {output} != logged {record.score}")
        hashes = _input_hashes(document, circuit)
        proof = json.loads((scratch / "proof.json").read_text(encoding="utf-8"))
    attachment = ZkAttachment(
        model_id=record.model_id,
        circuit=circuit.key,
        vk_hash=circuit.vk_hash,
        inputs=circuit.inputs,
        input_hashes=hashes,
        proof=bytes.fromhex(proof["hex_proof"][2:]),
        insecure_srs=circuit.insecure,
        srs_note=circuit.srs_note,
    )
    expected = [circuits.felt(v) for v in public_instances(record, attachment)]
    if proof["instances"][0] != expected:
        raise ZkToolError("prove", "the proof's public instances are not the record's")
    proved_receipt = {key: value for key, value in receipt.items() if key != "zk"}
    proved_receipt["format"] = RECEIPT_FORMAT_ZK
    proved_receipt["zk"] = attachment.document()
    run = ProofRun(witness.seconds, proved.seconds, proved.peak_rss_bytes, len(attachment.proof))
    return proved_receipt, run


def _input_hashes(witness: dict[str, Any], circuit: ZkCircuit) -> tuple[int, ...]:
    """The Poseidon hash(es) a hashed-input circuit publishes (empty otherwise)."""
    if circuit.inputs != "hashed":
        return ()
    processed = witness.get("processed_inputs") or {}
    hashes = processed.get("poseidon_hash") or []
    return tuple(circuits.felt_int(h) % circuits.FIELD for h in hashes)
