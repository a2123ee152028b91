"""The coordinator's side of the on-chain record: global models in, participants' updates checked.

:class:`RoundRecorder` commits the hash of every global model (round 0 = the initial model,
round r = the aggregate of round r) from the coordinator's account, and before each
aggregation checks every received update against the chain: the participant named in the
update's metrics must have committed, for this round and from its own account, the hash of
exactly the weights received (without secure aggregation, where the coordinator sees them)
and the sample count it claims. Updates that fail are left out of the aggregate and recorded
as rejected. It also keeps the round log (times, gas, validation metrics) for the run record.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from chainml.fl.params import Weights, model_hash, native_document, update_hash
from chainml.fl.rounds import FederatedRounds
from chainml.models.dataset import FloatArray


@dataclass
class RoundLog:
    """What happened in one round."""

    round: int
    global_hash: str = ""
    global_gas: int = 0
    accepted: list[str] = field(default_factory=list)  # participant accounts
    rejected: dict[str, str] = field(default_factory=dict)  # account -> reason
    update_gas: list[int] = field(default_factory=list)
    seconds: float = 0.0
    cpu_seconds: float = 0.0  # the coordinator process's CPU (embedded chain and its endpoint)
    validation: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class ReceivedUpdate:
    """An update as the coordinator received it."""

    account: str
    claimed_hash: str
    samples: int
    weights: Weights | None  # None under secure aggregation (only the sum is seen)


class RoundRecorder:
    """Commits global models and checks updates on one FederatedRounds contract."""

    def __init__(
        self, rounds: FederatedRounds | None, *, kind: str, feature_names: tuple[str, ...],
        mean: FloatArray, scale: FloatArray, coordinator: str | None = None,
        commit_wait: float = 30.0,
    ) -> None:  # fmt: skip
        self.rounds = rounds
        self.kind = kind
        self.feature_names = feature_names
        self.mean, self.scale = mean, scale
        self.coordinator = coordinator
        #: seconds to wait for participants' commitments still being mined
        self.commit_wait = commit_wait
        self.log: list[RoundLog] = []
        self._started = time.perf_counter()
        self._cpu_started = time.process_time()

    def hash_of(self, weights: Weights) -> str:
        """The global model hash of ``weights`` (the artifact hash of that model)."""
        return model_hash(
            native_document(self.kind, self.feature_names, self.mean, self.scale, weights)
        )

    def round_started(self) -> None:
        """Mark the start of a round (for its time)."""
        self._started = time.perf_counter()
        self._cpu_started = time.process_time()

    def commit_global(self, round_: int, weights: Weights) -> RoundLog:
        """Commit the global model of ``round_`` (when on chain) and log the round."""
        entry = self._entry(round_)
        entry.global_hash = self.hash_of(weights)
        if self.rounds is not None:
            receipt = self.rounds.commit_global(round_, entry.global_hash, sender=self.coordinator)
            entry.global_gas = int(receipt.gas_used)
        entry.seconds = time.perf_counter() - self._started
        entry.cpu_seconds = time.process_time() - self._cpu_started
        return entry

    def check_updates(self, round_: int, updates: list[ReceivedUpdate]) -> list[bool]:
        """Which of ``updates`` the chain backs (all of them when there is no chain)."""
        entry = self._entry(round_)
        if self.rounds is None:
            entry.accepted = [u.account for u in updates]
            return [True] * len(updates)
        committed = self.rounds.wait_for_updates(
            round_, {u.account for u in updates if u.account}, self.commit_wait
        )
        verdicts = []
        for update in updates:
            event = committed.get(update.account.lower())
            reason = self._problem(update, event)
            if reason is not None or event is None:
                entry.rejected[update.account] = reason or "no commitment"
            else:
                entry.accepted.append(update.account)
                receipt = self.rounds.contract.env.backend.receipt(event["_tx"])
                entry.update_gas.append(int(receipt.gas_used) if receipt else 0)
            verdicts.append(reason is None)
        return verdicts

    @staticmethod
    def _problem(update: ReceivedUpdate, event: dict[str, Any] | None) -> str | None:
        if event is None:
            return "no commitment on chain for this round"
        on_chain = "0x" + bytes(event["update_hash"]).hex()
        if on_chain != update.claimed_hash:
            return f"claimed hash {update.claimed_hash} != committed {on_chain}"
        if int(event["samples"]) != update.samples:
            return f"claimed {update.samples} samples != committed {int(event['samples'])}"
        if update.weights is not None and update_hash(update.weights) != on_chain:
            return "the weights received do not hash to the commitment"
        return None

    def _entry(self, round_: int) -> RoundLog:
        if not self.log or self.log[-1].round != round_:
            self.log.append(RoundLog(round_))
        return self.log[-1]
