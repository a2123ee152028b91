"""Delivering alerts: each one a decision record in the log, then a JSON line to subscribers.

The record's request id is derived from the chain, block hash, transaction and rule, so
writing an alert twice (a crash between the log append and the checkpoint) finds the first
record instead of adding a second: each alert is logged exactly once. A block replaced by a
reorg has a new hash, so its re-scored alerts are new records.
"""

from __future__ import annotations

import hashlib
import json
import sys
from collections.abc import Callable
from typing import Any, TextIO

from chainml.errors import NotFoundError
from chainml.log.decision_log import Decision, DecisionLog
from chainml.log.record import request_id_from
from chainml.monitor.rules import Alert

Subscriber = Callable[[dict[str, Any]], None]


def alert_metadata(alert: Alert, chain_id: int, block_hash: bytes) -> dict[str, Any]:
    """What the record's metadata hash commits to: where the alert comes from."""
    f = alert.features
    return {
        "chain_id": chain_id,
        "block": f.block,
        "block_hash": "0x" + block_hash.hex(),
        "tx_hash": "0x" + f.tx_hash.hex(),
        "tx_index": f.index,
        "rule": alert.rule,
        "flagged": list(alert.flagged),
    }


def metadata_hash(metadata: dict[str, Any]) -> bytes:
    """SHA-256 of the canonical JSON of ``metadata`` (sorted keys, no spaces)."""
    return hashlib.sha256(
        json.dumps(metadata, sort_keys=True, separators=(",", ":")).encode()
    ).digest()


class AlertSink:
    """Logs alerts as decisions and hands each one to the subscribers."""

    def __init__(
        self, log: DecisionLog, model_id: bytes, subscribers: list[Subscriber] | None = None
    ) -> None:
        self.log = log
        self.model_id = model_id
        self.subscribers = list(subscribers or [])
        #: alerts logged by this sink (not counting ones found already logged)
        self.logged = 0

    def deliver(self, alert: Alert, chain_id: int, block_hash: bytes) -> dict[str, Any]:
        """Log ``alert`` (once) and send it to every subscriber; return the message sent."""
        metadata = alert_metadata(alert, chain_id, block_hash)
        where = f"{chain_id}:{metadata['block_hash']}:{metadata['tx_hash']}:{alert.rule}"
        request_id = request_id_from(f"chainml-monitor:{where}")
        try:
            index = self.log.index_of(request_id)
        except NotFoundError:
            decision = Decision(
                model_id=self.model_id,
                score=alert.score,
                label=alert.label,
                request_id=request_id,
                features=alert.features.vector(),
                metadata_hash=metadata_hash(metadata),
            )
            index = self.log.append([decision])[0].sequence
            self.logged += 1
        message = {
            "type": "alert",
            "log_index": index,
            "score": alert.score,
            "label": alert.label,
            "reason": alert.reason,
            "model_id": "0x" + self.model_id.hex(),
            "request_id": "0x" + request_id.hex(),
            "metadata": metadata,
        }
        for subscriber in self.subscribers:
            subscriber(message)
        return message


def json_lines(stream: TextIO | None = None) -> Subscriber:
    """A subscriber that writes each message as one JSON line (default: stdout)."""

    def write(message: dict[str, Any]) -> None:
        out = stream or sys.stdout
        out.write(json.dumps(message, sort_keys=True) + "\n")
        out.flush()

    return write
