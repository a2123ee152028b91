"""Hot swap: follow the registry's approvals for a use and serve the newly approved model.

The watcher polls the chain for ``ModelApproved`` and ``ModelRetired`` events of the registry.
When one concerns the service's use, it asks the registry which model is approved now, loads
that model from the local models directory (every hash checked by
:func:`~chainml.models.artifacts.load_model`, the card and parameters against the registry's
entry) and swaps it in. A model that is not stored locally, or whose hashes differ, is not
served: the previous one stays, the failure is logged and counted, and it is tried again.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path

from chainml.chain import Env
from chainml.governance.deployments import governance
from chainml.governance.match import check_matches_registry
from chainml.governance.registry import ModelRegistry
from chainml.models.artifacts import load_model
from chainml.service.metrics import Metrics
from chainml.service.scoring import ModelSlot, ServingModel

_log = logging.getLogger(__name__)


def registry_of(env: Env, data_dir: Path) -> ModelRegistry:
    """The model registry recorded for ``env``'s chain in ``data_dir`` (never deploys)."""
    return governance(env, data_dir, deploy=False)[1]


def approved_model(registry: ModelRegistry, use: str, data_dir: Path) -> ServingModel | None:
    """The model approved for ``use``, loaded and checked against the registry; None if none."""
    model_id = registry.approved(use)
    if model_id is None:
        return None
    entry = registry.model(model_id)
    artifact = load_model(data_dir, model_id, expected_card_hash=entry.card_hash)
    check_matches_registry(artifact, entry)
    return ServingModel(artifact)


class ModelWatcher:
    """Polls the registry and swaps the serving model when governance changes it."""

    def __init__(
        self,
        chain: Callable[[], Env],
        data_dir: Path,
        use: str,
        slot: ModelSlot,
        metrics: Metrics,
        poll_seconds: float = 2.0,
        from_block: int = 0,
    ) -> None:
        self._chain = chain
        self.data_dir = data_dir
        self.use = use
        self.slot = slot
        self.metrics = metrics
        self.poll_seconds = poll_seconds
        self._next_block = from_block
        self._recheck = True  # compare with approved(use) at the next poll
        self.last_error: Exception | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Poll in a background thread until :meth:`stop`."""
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="chainml-model-watch", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop polling."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(30)
            self._thread = None

    def _run(self) -> None:
        while not self._stop.wait(self.poll_seconds):
            try:
                self.poll()
                self.last_error = None
            except Exception as err:  # the node is down, the model is missing, ...: retry
                self.last_error = err
                self.metrics.count("model_watch_errors")
                _log.warning("model registry poll failed: %s", err)

    def poll(self) -> bool:
        """Look for approvals once; True when the serving model changed."""
        env = self._chain()
        registry = registry_of(env, self.data_dir)
        latest = env.block_number
        if latest >= self._next_block:
            current = self.slot.current
            serving = current.model_id if current else None
            for name in ("ModelApproved", "ModelRetired"):
                for event in registry.contract.events(
                    name, from_block=self._next_block, to_block=latest
                ):
                    event_id = "0x" + bytes(event["model_id"]).hex()
                    if event["use"] == self.use or event_id == serving:
                        self._recheck = True
            self._next_block = latest + 1
        if not self._recheck:
            return False
        model = approved_model(registry, self.use, self.data_dir)  # raises: rechecked later
        self._recheck = False
        changed = self.slot.swap(model)
        if changed:
            self.metrics.count("model_swaps")
            _log.warning(
                "serving model for %r is now %s", self.use, model.model_id if model else "none"
            )
        return changed
