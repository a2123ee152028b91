"""Auditing a federation (``chainml fl audit``): the chain's record against the artifacts.

The trust root is the chain and a contract address the auditor chooses (``contract=``); when
none is given, the address comes from the model's card and the report says so. Checks, each
reported with its evidence:

- the contract's deployed code is chainml's FederatedRounds (code hash of this version);
- the stored model's files verify (ONNX and policy against the id, ``params.json`` against the
  card's artifact hash): a swapped or edited model file fails here;
- the chain's last global model hash is the SHA-256 of the model's own ``params.json``
  (recomputed from the file, not read from the card): a different model fails here;
- the card's federation section matches the chain: contract, rounds, global hashes of every
  round, participants (the accounts the governor admitted);
- every round's update commitments (events) fold to the digest the contract stored, and each
  round has at least one commitment.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from eth_utils import keccak

from chainml.chain import Env
from chainml.errors import ChainMLError
from chainml.models.card import sha256_hex


@dataclass(frozen=True)
class Check:
    """One audit check and its evidence."""

    name: str
    ok: bool
    detail: str


@dataclass
class AuditReport:
    """Every check of one audit; ``ok`` when all passed."""

    model_id: str
    contract: str
    contract_source: str  # "given" or "card"
    checks: list[Check] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when every check passed."""
        return bool(self.checks) and all(c.ok for c in self.checks)

    def add(self, name: str, ok: bool, detail: str) -> bool:
        """Record a check; return ``ok``."""
        self.checks.append(Check(name, ok, detail))
        return ok

    def to_dict(self) -> dict[str, Any]:
        """The report as JSON data."""
        return {
            "ok": self.ok, "model_id": self.model_id, "contract": self.contract,
            "contract_source": self.contract_source,
            "checks": [{"name": c.name, "ok": c.ok, "detail": c.detail} for c in self.checks],
        }  # fmt: skip


def audit_federation(
    env: Env, data_dir: Path, model_id: str, *, contract: str | None = None
) -> AuditReport:
    """Audit model ``model_id`` against the FederatedRounds record at ``contract``."""
    from chainml import contracts
    from chainml.fl.rounds import CONTRACT_NAME, FederatedRounds
    from chainml.models.artifacts import PARAMS_FILE, models_dir, resolve_model_id

    model_id = resolve_model_id(Path(data_dir), model_id)
    card_section = _card_federation(Path(data_dir), model_id)
    claimed = (card_section.get("chain") or {}).get("contract")
    address = contract or claimed or ""
    report = AuditReport(model_id, address, "given" if contract else "card")
    if not address:
        report.add("contract", False, "no contract given and the card names none")
        return report

    compiled = env.compile(contracts.source_path(CONTRACT_NAME))
    code = env.backend.code(address)
    if not report.add(
        "contract code", code == compiled.runtime_bytecode,
        f"code hash {_h(code)} vs FederatedRounds {_h(compiled.runtime_bytecode)}",
    ):  # fmt: skip
        return report
    record = FederatedRounds.at(env, address).record()

    params_bytes = (models_dir(Path(data_dir)) / model_id / PARAMS_FILE).read_bytes()
    try:
        from chainml.models.artifacts import load_model

        load_model(Path(data_dir), model_id)
        report.add("model files", True, "model.onnx, policy.json, params.json, card verified")
    except ChainMLError as err:
        report.add("model files", False, str(err))
    final = record.global_hashes[-1] if record.global_hashes else ""
    report.add(
        "final model", final == sha256_hex(params_bytes),
        f"chain's last global hash {final or '(none)'}; SHA-256 of params.json "
        f"{sha256_hex(params_bytes)}",
    )  # fmt: skip
    if contract and claimed:
        report.add("card contract", claimed.lower() == contract.lower(), f"card names {claimed}")
    rounds = int(card_section.get("rounds", -1))
    report.add(
        "rounds", len(record.global_hashes) == rounds + 1,
        f"chain has {len(record.global_hashes)} global models (round 0..), card says "
        f"{rounds} rounds",
    )  # fmt: skip
    report.add(
        "global hashes", list(card_section.get("global_hashes", [])) == record.global_hashes,
        "card's per-round global hashes vs the chain's",
    )  # fmt: skip
    card_accounts = [p.get("account") for p in card_section.get("participants", [])]
    report.add(
        "participants",
        [str(a).lower() for a in card_accounts] == [a.lower() for a in record.participants],
        f"admitted on chain: {', '.join(record.participants) or '(none)'}",
    )
    for round_ in range(1, len(record.global_hashes)):
        count = sum(1 for u in record.updates if u.round == round_)
        stored, folded = record.digests.get(round_), record.recomputed_digest(round_)
        report.add(
            f"round {round_} updates", count > 0 and stored == folded,
            f"{count} commitment(s); events fold to {folded}, contract stored {stored}",
        )  # fmt: skip
    return report


def _card_federation(data_dir: Path, model_id: str) -> dict[str, Any]:
    import json

    from chainml.models.artifacts import CARD_FILE, models_dir

    try:
        card = json.loads((models_dir(data_dir) / model_id / CARD_FILE).read_text("utf-8"))
    except (OSError, ValueError):
        return {}
    section = card.get("federation") if isinstance(card, dict) else None
    return section if isinstance(section, dict) else {}


def _h(code: bytes) -> str:
    return "0x" + bytes(keccak(code)).hex()
