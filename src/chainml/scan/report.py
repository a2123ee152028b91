"""Scan reports: findings per file, and each file's scan as a decision in the log (its receipt).

One decision per scanned file: ``model_id`` the scan model's hash, ``input_commitment`` the
SHA-256 of the comment-free source (or bytecode) that was scored, ``score`` the highest
category score in millionths, ``label`` 1 when anything was flagged, and ``metadata_hash`` the
SHA-256 of the file's canonical findings JSON. A receipt plus that JSON proves which model
said what about which code, and when.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from typing import Any

from chainml.errors import VerificationError
from chainml.log.decision_log import Decision, DecisionLog
from chainml.log.receipt import build_receipt, check_receipt
from chainml.log.record import request_id_from

SCORE_SCALE = 1_000_000


@dataclass(frozen=True)
class Finding:
    """One flagged category in one function, with its calibrated score."""

    category: str
    score: float
    contract: str
    function: str
    first_line: int
    last_line: int


@dataclass
class FileScan:
    """The findings of one scanned file (or address) and what was scored."""

    name: str
    language: str
    compiler: str
    code_hash: str  # SHA-256 of the comment-free source (or runtime bytecode) scored
    findings: list[Finding] = field(default_factory=list)
    units: int = 0
    receipt: dict[str, Any] | None = None

    def canonical(self, model_id: bytes) -> bytes:
        """The JSON whose SHA-256 is logged as the decision's metadata hash."""
        body = {
            "name": self.name,
            "language": self.language,
            "compiler": self.compiler,
            "code_hash": self.code_hash,
            "model_id": "0x" + model_id.hex(),
            "findings": [asdict(f) for f in self.findings],
        }
        return json.dumps(body, sort_keys=True, separators=(",", ":")).encode()

    def decision(self, model_id: bytes) -> Decision:
        """The scan of this file as a decision to log."""
        top = max((f.score for f in self.findings), default=0.0)
        return Decision(
            model_id=model_id,
            score=round(top * SCORE_SCALE),
            label=int(bool(self.findings)),
            request_id=request_id_from(f"scan:{self.code_hash}:{self.name}"),
            input_commitment=bytes.fromhex(self.code_hash),
            metadata_hash=hashlib.sha256(self.canonical(model_id)).digest(),
        )


@dataclass
class ScanReport:
    """The scan of one path or address."""

    target: str
    model_id: bytes
    files: list[FileScan]
    seconds: float
    errors: dict[str, str] = field(default_factory=dict)

    @property
    def findings(self) -> list[tuple[str, Finding]]:
        """Every finding with the name of its file."""
        return [(f.name, finding) for f in self.files for finding in f.findings]

    def log_to(self, log: DecisionLog) -> None:
        """Append one decision per file and attach each file's receipt."""
        records = log.append([f.decision(self.model_id) for f in self.files])
        for scan, record in zip(self.files, records, strict=True):
            scan.receipt = build_receipt(log, record.sequence)

    def to_json(self) -> dict[str, Any]:
        """The report as JSON: per file its findings, canonical metadata and receipt."""
        return {
            "format": "chainml.scan-report/1",
            "target": self.target,
            "model_id": "0x" + self.model_id.hex(),
            "seconds": round(self.seconds, 3),
            "errors": self.errors,
            "files": [
                {
                    **{k: v for k, v in asdict(f).items() if k != "receipt"},
                    "metadata": json.loads(f.canonical(self.model_id)),
                    "receipt": f.receipt,
                }
                for f in self.files
            ],
        }


def check_file_receipt(entry: dict[str, Any]) -> None:
    """Check one file entry of a report: its receipt's hashes and that it logs these findings.

    Offline, like :func:`~chainml.log.receipt.check_receipt`; raises VerificationError when
    the metadata shown is not what was logged.
    """
    if entry.get("receipt") is None:
        raise VerificationError(f"{entry.get('name')}: the scan was not logged (no receipt)")
    check = check_receipt(entry["receipt"])
    canonical = json.dumps(entry["metadata"], sort_keys=True, separators=(",", ":")).encode()
    if hashlib.sha256(canonical).digest() != check.record.metadata_hash:
        raise VerificationError(f"{entry.get('name')}: the findings shown are not the ones logged")
    if bytes.fromhex(entry["metadata"]["code_hash"]) != check.record.input_commitment:
        raise VerificationError(f"{entry.get('name')}: the code hash is not the one logged")
    if entry["metadata"]["model_id"] != "0x" + check.record.model_id.hex():
        raise VerificationError(f"{entry.get('name')}: the model is not the one logged")
