"""Running the follower over a chain and collecting what it saw and raised."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from chainml.chain import Env
from chainml.log.decision_log import DecisionLog
from chainml.monitor.alerts import AlertSink
from chainml.monitor.blocks import source_for
from chainml.monitor.features import TxFeatures
from chainml.monitor.follow import Follower
from chainml.monitor.rules import Alert, RuleSet

# anvil's default development mnemonic (public): its ten funded accounts
ANVIL_MNEMONIC = "test test test test test test test test test test test junk"


@dataclass
class Seen:
    """Everything a follower reported."""

    features: dict[bytes, TxFeatures] = field(default_factory=dict)
    alerts: list[tuple[bytes, str]] = field(default_factory=list)
    messages: list[dict[str, Any]] = field(default_factory=list)

    def on_features(self, f: TxFeatures, alerts: list[Alert]) -> None:
        self.features[f.tx_hash] = f
        self.alerts.extend((f.tx_hash, a.rule) for a in alerts)


def follower(
    env: Env, log_dir: Path, start: int, checkpoint: Path | None = None
) -> tuple[Follower, Seen]:
    """A follower of ``env`` from block ``start``, logging into ``log_dir``."""
    seen = Seen()
    rules = RuleSet()
    sink = AlertSink(DecisionLog.open(log_dir), rules.model_id, [seen.messages.append])
    return (
        Follower(
            source_for(env.backend),
            sink,
            rules,
            env.chain_id,
            checkpoint,
            start=start,
            on_event=seen.messages.append,
            on_features=seen.on_features,
        ),
        seen,
    )
