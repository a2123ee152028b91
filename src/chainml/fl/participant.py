"""One participant of a federation: local training on its own file, and its own commitments.

:class:`Participant` is the work a Flower client does each round, independent of Flower:
start from the global weights, train locally (:mod:`chainml.fl.local`), optionally privatize
the update (:mod:`chainml.fl.privacy`), hash the weights it returns and commit that hash and
its sample count on chain *from its own account* (:class:`Committer`, in the background
while the weights go back; the coordinator waits for the commitment before merging). A
configured poisoner (experiments only) flips its labels or scales its update.
"""

from __future__ import annotations

import logging
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from chainml.errors import ChainMLError
from chainml.fl.data import read_participant_file
from chainml.fl.local import LocalTraining, train_local
from chainml.fl.params import Weights, update_hash
from chainml.fl.privacy import PrivacySettings, privatize
from chainml.models.dataset import FloatArray

_log = logging.getLogger(__name__)


def _log_failure(sent: Future[str]) -> None:
    if sent.exception() is not None:
        _log.warning("an update commitment was not sent: %s", sent.exception())


@dataclass(frozen=True)
class Poison:
    """An attack for robustness experiments: ``flip`` labels, ``scale`` the update, or both."""

    mode: str  # "flip" | "scale" | "flip+scale"
    factor: float = 10.0


class ParticipantDropoutError(ChainMLError):
    """A participant left in the middle of a round (a simulated dropout, experiments only)."""


@dataclass(frozen=True)
class ChainAccess:
    """How a participant reaches the chain: a data directory (embedded) or an RPC URL."""

    data_dir: str
    rpc: str | None
    contract: str
    account: str


class Committer:
    """Sends a participant's update commitments from its own account (connects lazily)."""

    def __init__(self, access: ChainAccess) -> None:
        self.access = access
        self._env: Any = None
        self._rounds: Any = None
        self._sender = ThreadPoolExecutor(max_workers=1, thread_name_prefix="chainml-commit")
        self._pending: Future[str] | None = None

    def commit_in_background(self, round_: int, digest: str, samples: int) -> None:
        """Send the commitment from a background thread, so the update goes out meanwhile.

        Nothing is weaker: the coordinator merges an update only once it finds this
        commitment on chain (it waits for it, bounded). Sends stay in order, one at a time;
        a send that failed is raised by the next call (and its update was rejected).
        """
        if self._pending is not None and self._pending.done():
            self._pending.result()  # raises the previous send's error
        self._pending = self._sender.submit(self.commit, round_, digest, samples)
        self._pending.add_done_callback(_log_failure)

    def commit(self, round_: int, digest: str, samples: int) -> str:
        """Send the commitment of ``digest`` for ``round_``; return the transaction hash."""
        if self._rounds is None:
            from chainml.chain import connect
            from chainml.config import load_settings
            from chainml.fl.rounds import FederatedRounds

            if self._env is None:  # kept apart from the contract: close() closes it either way
                settings = load_settings().with_overrides(
                    data_dir=Path(self.access.data_dir), rpc=self.access.rpc
                )
                self._env = connect(settings)
            self._rounds = FederatedRounds.at(self._env, self.access.contract)
        tx_hash: str = self._rounds.send_update(round_, digest, samples, sender=self.access.account)
        return tx_hash

    def close(self) -> None:
        """Wait for the commitment in flight (its error is logged, not raised) and disconnect."""
        self._sender.shutdown(wait=True)
        if self._env is not None:
            self._env.close()
            self._env = self._rounds = None


class Participant:
    """Local state and the per-round work of participant ``index``."""

    def __init__(
        self, *, index: int, kind: str, data_file: Path, mean: FloatArray, scale: FloatArray,
        training: LocalTraining, privacy: PrivacySettings | None = None,
        poison: Poison | None = None, committer: Committer | None = None, seed: int = 0,
        drop_in: tuple[int, ...] = (),
    ) -> None:  # fmt: skip
        self.index = index
        self.kind = kind
        _, x, y = read_participant_file(data_file)
        self.z = (x - mean) / scale
        self.y = 1.0 - y if poison is not None and "flip" in poison.mode else y
        self.training = training
        self.privacy = privacy
        self.poison = poison
        self.committer = committer
        self.seed = seed
        self.drop_in = drop_in

    @property
    def samples(self) -> int:
        """Rows of local data."""
        return int(self.z.shape[0])

    def fit(self, global_weights: Weights, round_: int) -> tuple[Weights, dict[str, Any]]:
        """One round: the weights to send and metrics (hash, samples, norm, gas)."""
        if round_ in self.drop_in:
            raise ParticipantDropoutError(f"participant {self.index} dropped out of round {round_}")
        # one stream per (participant, round): independent noise every round (the accountant
        # composes independent Gaussian mechanisms), the same whichever worker runs the round
        rng = np.random.default_rng([self.seed, self.index, round_])
        trained = train_local(self.kind, global_weights, self.z, self.y, self.training, rng)
        update = [t - g for t, g in zip(trained, global_weights, strict=True)]
        metrics: dict[str, Any] = {"participant": self.index}
        if self.privacy is not None:
            update, norm = privatize(update, self.privacy, rng)
            metrics["update_norm"] = norm
        if self.poison is not None and "scale" in self.poison.mode:
            update = [u * self.poison.factor for u in update]
        weights = [g + u for g, u in zip(global_weights, update, strict=True)]
        digest = update_hash(weights)
        metrics["update_hash"] = digest
        if self.committer is not None:
            self.committer.commit_in_background(round_, digest, self.samples)
            metrics["account"] = self.committer.access.account
        return weights, metrics
