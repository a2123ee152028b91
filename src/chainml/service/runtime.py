"""What a running service holds: the log and its writer, the serving model, the chain, threads.

:class:`ServiceRuntime` is built (log opened, chain process started, model loaded and
verified) when the app is created, so configuration errors surface before the server listens;
its threads (log writer, registry watcher) run between :meth:`start` and :meth:`close`.

The serving process does no chain work of its own: the chain process
(:mod:`chainml.service.chain_process`) holds the embedded chain and anchors, and the service
reads the registry through it. Only an application that hands the service its own ``Env`` has
it anchor in a thread here, beside the chain that application holds.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable

from chainml._closing import Closing
from chainml.chain import Env, connect
from chainml.chain.endpoints import ENDPOINT_GAUGES, EndpointPool
from chainml.config import Settings
from chainml.errors import ChainUnavailableError, InvalidInputError
from chainml.log.anchor import AnchorPolicy
from chainml.log.decision_log import DecisionLog
from chainml.models.artifacts import load_model
from chainml.service.anchoring import OFF, AnchoringStatus, BackgroundAnchoring
from chainml.service.chain_process import ChainPlan, ChainProcess
from chainml.service.committer import GroupCommitter
from chainml.service.log_writer import WriterProcess
from chainml.service.metrics import Labels, Metrics
from chainml.service.options import ServiceOptions
from chainml.service.proving import ProofJobs
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
        self._env = env  # given: anchoring runs here, beside it; else a JSON-RPC node's, or None
        self._owns_env = env is None
        self._env_lock = threading.Lock()
        self._watch_from = 0
        # durability "full": fsync per group commit; "normal": survives a process crash
        self.log = DecisionLog.open(
            settings.data_dir, durability=settings.durability, url=settings.log_url
        )
        self.proofs = ProofJobs(self.log, settings.data_dir, max_pending=options.max_proof_jobs)
        self.anchoring: BackgroundAnchoring | ChainProcess | None = None
        self.chain_process: ChainProcess | None = None
        try:
            self.chain_process = self._chain_process()
            if self.chain_process is not None:
                self.chain_process.start()
                if options.anchor:
                    self.anchoring = self.chain_process
            self.slot = ModelSlot(self._initial_model())
        except BaseException:
            self.close()
            raise
        writer = (
            WriterProcess(settings.data_dir, settings.durability, settings.log_url)
            if options.writer_process
            else None
        )
        self.committer = GroupCommitter(
            self.log, options.max_commit, self.metrics.committed, writer=writer
        )
        self.watcher: ModelWatcher | None = None
        self._register_gauges()

    @property
    def pinned(self) -> bool:
        """True when a model was named at startup (no registry, no hot swap)."""
        return self.options.model_id is not None

    def _policy(self) -> AnchorPolicy:
        return AnchorPolicy(
            every_decisions=self.options.anchor_every, every_seconds=self.options.anchor_seconds
        )

    def _chain_process(self) -> ChainProcess | None:
        """The chain process, when the service anchors or reads an embedded chain's registry."""
        embedded = self.settings.rpc is None
        read_registry = not self.pinned
        if self._env is not None or not (self.options.anchor or (embedded and read_registry)):
            return None
        policy = self._policy() if self.options.anchor else None
        plan = ChainPlan(self.settings, hold_chain=embedded and read_registry, policy=policy)
        return ChainProcess(plan, self.metrics)

    def chain(self) -> Env:
        """The chain for reads (ChainUnavailableError while it is down).

        The Env given at creation, else the embedded chain through the chain process's
        endpoint (read-only), else the JSON-RPC node, connected on first use.
        """
        if self._env is None and self.settings.rpc is None:
            if self.chain_process is None:
                raise ChainUnavailableError(
                    str(self.settings.data_dir), "this service holds no chain (a pinned model)"
                )
            return self.chain_process.chain()
        with self._env_lock:
            if self._env is None:
                self._env = connect(self.settings)
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
        if self.options.anchor and self.chain_process is None:  # beside the Env we were given
            self.anchoring = BackgroundAnchoring(
                self.log, self.chain, self._policy(), self.metrics, self.settings.confirmations
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
        if getattr(self, "proofs", None) is not None:
            self.proofs.close()
        if getattr(self, "watcher", None) is not None:
            assert self.watcher is not None
            self.watcher.stop()
        if getattr(self, "committer", None) is not None:
            self.committer.stop()
        if isinstance(getattr(self, "anchoring", None), BackgroundAnchoring):
            assert isinstance(self.anchoring, BackgroundAnchoring)
            self.anchoring.stop()
        if getattr(self, "chain_process", None) is not None:
            assert self.chain_process is not None
            self.chain_process.close()  # after the last commit: its final anchor covers it
            self.chain_process = None
        self.log.close()
        if self._owns_env and self._env is not None:
            self._env.close()
            self._env = None

    # -- health and gauges ---------------------------------------------------------------

    def anchoring_status(self) -> AnchoringStatus:
        """Anchoring's state, last anchored size and last error, and since when it fails.

        Reads memory only (the chain process reports changes as they happen): cheap enough
        for every readiness probe. ``status().ok`` and ``status().detail`` summarize it.
        """
        return OFF if self.anchoring is None else self.anchoring.status()

    @property
    def anchoring_state(self) -> str:
        """``off``, ``starting``, ``ok``, ``retrying`` or ``down`` (the chain process died)."""
        return self.anchoring_status().state

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
