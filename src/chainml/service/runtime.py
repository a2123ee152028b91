"""What a running service holds: the log and its writer, the serving model, the chain, threads.

:class:`ServiceRuntime` is built (log opened, model loaded and verified) when the app is
created, so configuration errors surface before the server listens; its threads (log writer,
anchoring, registry watcher) run between :meth:`start` and :meth:`close`.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable

from chainml._closing import Closing
from chainml.chain import Env, connect
from chainml.chain.endpoints import ENDPOINT_GAUGES, EndpointPool
from chainml.config import Settings
from chainml.errors import InvalidInputError
from chainml.log.anchor import AnchorPolicy
from chainml.log.decision_log import DecisionLog
from chainml.models.artifacts import load_model
from chainml.service.anchoring import BackgroundAnchoring
from chainml.service.committer import GroupCommitter
from chainml.service.log_writer import WriterProcess
from chainml.service.metrics import Labels, Metrics
from chainml.service.options import ServiceOptions
from chainml.service.readiness import Readiness
from chainml.service.scoring import ModelSlot, ServingModel
from chainml.service.watcher import ModelWatcher, approved_model, registry_of

_log = logging.getLogger(__name__)


class ServiceRuntime(Closing):
    """The state and background work of one scoring service."""

    def __init__(self, settings: Settings, options: ServiceOptions, env: Env | None = None) -> None:
        self.settings = settings
        self.options = options
        self.metrics = Metrics()
        self.readiness = Readiness()  # each check's owner sets it; probes read it (health.py)
        self._env = env
        self._owns_env = env is None
        self._env_lock = threading.Lock()
        self._watch_from = 0
        # durability "full": fsync per group commit; "normal": survives a process crash
        self.log = DecisionLog.open(settings.data_dir, durability=settings.durability)
        try:
            self.slot = ModelSlot(self._initial_model())
        except BaseException:
            self.close()
            raise
        writer = (
            WriterProcess(settings.data_dir, settings.durability)
            if options.writer_process
            else None
        )
        self.committer = GroupCommitter(
            self.log, options.max_commit, self.metrics.committed, writer=writer
        )
        self.anchoring: BackgroundAnchoring | None = None
        self.watcher: ModelWatcher | None = None
        self._register_gauges()

    @property
    def pinned(self) -> bool:
        """True when a model was named at startup (no registry, no hot swap)."""
        return self.options.model_id is not None

    def chain(self) -> Env:
        """The chain connection, opened on first use (ChainUnavailableError while it is down)."""
        with self._env_lock:
            if self._env is None:
                # serve=True: the CLI reaches an embedded chain through this owner meanwhile
                self._env = connect(self.settings, serve=True)
            return self._env

    def _initial_model(self) -> ServingModel | None:
        if self.options.model_id is not None:
            return ServingModel(load_model(self.settings.data_dir, self.options.model_id))
        env = self.chain()
        self._watch_from = env.block_number + 1
        model = approved_model(
            registry_of(env, self.settings.data_dir), self.options.use, self.settings.data_dir
        )
        if model is None:
            _log.warning("no model is approved for %r yet: scoring answers 503", self.options.use)
        return model

    def start(self) -> None:
        """Start the log writer, anchoring and the registry watcher."""
        self.committer.start()
        if self.options.anchor:
            policy = AnchorPolicy(
                every_decisions=self.options.anchor_every, every_seconds=self.options.anchor_seconds
            )
            self.anchoring = BackgroundAnchoring(
                self.log, self.chain, policy, self.metrics, self.settings.confirmations
            )
            self.anchoring.start()
        if not self.pinned:
            self.watcher = ModelWatcher(
                self.chain,
                self.settings.data_dir,
                self.options.use,
                self.slot,
                self.metrics,
                self.options.watch_seconds,
                from_block=self._watch_from,
            )
            self.watcher.start()

    def close(self) -> None:
        """Stop the threads (writing what waits, one last anchor if possible); release all."""
        if getattr(self, "watcher", None) is not None:
            assert self.watcher is not None
            self.watcher.stop()
        if getattr(self, "committer", None) is not None:
            self.committer.stop()
        if getattr(self, "anchoring", None) is not None:
            assert self.anchoring is not None
            self.anchoring.stop()
        self.log.close()
        if self._owns_env and self._env is not None:
            self._env.close()
            self._env = None

    # -- health and gauges ---------------------------------------------------------------

    @property
    def anchoring_state(self) -> str:
        """``off``, ``ok`` or ``retrying``."""
        return "off" if self.anchoring is None else self.anchoring.state

    def _register_gauges(self) -> None:
        def log_sizes() -> Iterable[tuple[Labels, float]]:
            latest = self.log.store.latest_anchor()
            return [
                ((("kind", "total"),), self.log.store.size),
                ((("kind", "anchored"),), latest.size if latest else 0),
            ]

        def model_info() -> Iterable[tuple[Labels, float]]:
            current = self.slot.current
            model = current.model_id if current else "none"
            return [((("use", self.options.use), ("model_id", model)), 1)]

        self.metrics.gauges["chainml_log_size"] = (
            "Decisions in the log, and how many are anchored.",
            log_sizes,
        )
        self.metrics.gauges["chainml_model_info"] = ("The model serving now.", model_info)

        def endpoint_samples(key: str) -> Callable[[], Iterable[tuple[Labels, float]]]:
            def read() -> Iterable[tuple[Labels, float]]:
                pool = getattr(self._env.backend, "endpoints", None) if self._env else None
                return pool.samples(key) if isinstance(pool, EndpointPool) else []

            return read

        for name, (text, key) in ENDPOINT_GAUGES.items():  # node health, with --rpc
            self.metrics.gauges[name] = (text, endpoint_samples(key))


def check_options(options: ServiceOptions) -> None:
    """Refuse options the service cannot run with (no API key: nobody could score)."""
    if not options.api_keys:
        raise InvalidInputError(
            "the service needs at least one API key for its write endpoints: pass --api-key "
            "or set CHAINML_API_KEYS (comma-separated)"
        )
