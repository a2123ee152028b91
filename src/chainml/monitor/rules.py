"""Rule detectors over transaction features, and the id of the rule set that decided.

Each rule looks at one transaction's :class:`TxFeatures` and either stays silent or raises
an :class:`Alert` with a score (0-100) and the addresses it flags. The rule set's
parameters are hashed into its model id, so a logged alert names exactly which rules (and
thresholds) raised it.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass

from chainml.monitor.features import RATIO_ONE, ZERO_ADDRESS, TxFeatures

RULESET_NAME = "chainml-monitor-rules"
RULESET_VERSION = 1

#: labels written to the decision record
LABELS = {
    "approval_to_fresh_contract": 1,
    "third_party_sweep": 2,
    "mint_and_dump": 3,
    "reentrant_withdrawal": 4,
}


@dataclass(frozen=True)
class RuleParams:
    """The thresholds of the rule set (all part of its model id)."""

    large_approval: int = 2**128  # an approval at least this large is "unlimited"
    sweep_sources: int = 3  # distinct holders drained by one transaction
    dump_ratio: int = RATIO_ONE // 2  # share of a mint spike moved out in one transfer
    repeated_event: int = 3  # the same event of one contract, this often in one call


@dataclass(frozen=True)
class Alert:
    """One rule firing on one transaction."""

    rule: str
    label: int
    score: int
    features: TxFeatures
    flagged: tuple[str, ...]
    reason: str


class RuleSet:
    """The rule detectors, evaluated in order on each transaction."""

    def __init__(self, params: RuleParams | None = None) -> None:
        self.params = params or RuleParams()
        document = {"name": RULESET_NAME, "version": RULESET_VERSION, **asdict(self.params)}
        canonical = json.dumps(document, sort_keys=True, default=str).encode()
        #: SHA-256 of the rule set's name, version and parameters
        self.model_id = hashlib.sha256(canonical).digest()

    def evaluate(self, f: TxFeatures) -> list[Alert]:
        """The alerts ``f`` raises (usually none)."""
        p = self.params
        alerts = []
        if f.fresh_spender_approval >= p.large_approval:
            spenders = tuple(sorted({e.dst for e in f.events if e.kind == "approval"} - {f.sender}))
            alerts.append(
                Alert(
                    "approval_to_fresh_contract",
                    LABELS["approval_to_fresh_contract"],
                    90,
                    f,
                    spenders,
                    "unlimited approval to a contract created within the window",
                )
            )
        if f.third_party_sources >= p.sweep_sources or (
            f.third_party_sources >= 1 and f.touches_flagged
        ):
            receivers = {
                e.dst
                for e in f.events
                if e.kind == "transfer" and e.src not in (f.sender, ZERO_ADDRESS)
            }
            score = 95 if f.third_party_sources >= p.sweep_sources else 80
            alerts.append(
                Alert(
                    "third_party_sweep",
                    LABELS["third_party_sweep"],
                    score,
                    f,
                    tuple(sorted(receivers | ({f.to} if f.to else set()))),
                    f"tokens of {f.third_party_sources} other holders moved by one transaction",
                )
            )
        if f.spike_dump_ratio >= p.dump_ratio:
            alerts.append(
                Alert(
                    "mint_and_dump",
                    LABELS["mint_and_dump"],
                    85,
                    f,
                    (f.sender,),
                    "a holder of a sudden mint moved most of it out",
                )
            )
        if f.to_fresh and f.repeated_event >= p.repeated_event:
            alerts.append(
                Alert(
                    "reentrant_withdrawal",
                    LABELS["reentrant_withdrawal"],
                    85,
                    f,
                    tuple(a for a in (f.to, f.sender) if a),
                    "a fresh contract made another emit the same event repeatedly in one call",
                )
            )
        return alerts
