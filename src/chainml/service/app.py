"""``create_app``: the scoring service as a FastAPI application (routes, auth, limits, lifespan)."""

from __future__ import annotations

import functools
import inspect
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from chainml import __version__
from chainml.chain import Env
from chainml.config import Settings
from chainml.service import (
    routes_entries,
    routes_health,
    routes_proof,
    routes_read,
    routes_score,
)
from chainml.service.errors import install_error_handlers
from chainml.service.fastprobe import FastProbes
from chainml.service.health import HealthMonitor
from chainml.service.middleware import Edge
from chainml.service.options import ServiceOptions
from chainml.service.runtime import ServiceRuntime, check_options
from chainml.service.schemas import MAX_FEATURE

DESCRIPTION = """\
Scores records with the model that governance approved, logs every decision in a
tamper-evident Merkle log **before** answering, anchors the log's head on chain, and hands
out receipts that anyone can verify (see `docs/receipts.md`). Write endpoints need an API key
in the `X-API-Key` header.
"""


def create_app(
    settings: Settings, options: ServiceOptions | None = None, *, env: Env | None = None
) -> FastAPI:
    """The service over ``settings.data_dir``'s log and models, and ``settings``' chain.

    The log is opened and the model loaded (and verified) here, so a bad configuration fails
    before a server listens; the background threads run during the app's lifespan. ``env``
    (optional) is the chain to use, owned by the caller; otherwise one is connected on use.
    """
    options = options or ServiceOptions()
    check_options(options)
    runtime = ServiceRuntime(settings, options, env)
    health = HealthMonitor(runtime)
    lifespans = _Lifespans(runtime, health)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        lifespans.enter()
        try:
            yield
        finally:
            lifespans.exit()

    app = FastAPI(
        title="chainml scoring service",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        **without_telemetry(),
    )
    app.state.runtime = runtime
    app.state.health = health
    app.state.api_keys = tuple(key.reveal().encode() for key in options.api_keys)
    app.state.public_reads = options.public_reads
    app.state.read_timeout = options.read_timeout  # for the server's protocol (server.py)
    routers = (
        routes_score.router,
        routes_read.router,
        routes_health.router,
        routes_entries.router,
        routes_proof.router,
    )
    for router in routers:
        app.include_router(router)
    install_error_handlers(app)
    app.openapi = functools.partial(_openapi, app, runtime)  # type: ignore[method-assign]
    probes = routes_health.probes(health)
    # the server's protocol answers plain probes itself (server.py); the edge, the rest
    app.state.fast_probes = FastProbes(
        probes, runtime.metrics, app.state.api_keys, options.public_reads
    )
    app.add_middleware(
        Edge,
        metrics=runtime.metrics,
        max_body_bytes=options.max_body_bytes,
        api_keys=app.state.api_keys,
        read_timeout=options.read_timeout,
        routes=[route for router in routers for route in router.routes],
        probes=probes,
        public_reads=options.public_reads,
    )
    return app


def without_telemetry() -> dict[str, Any]:
    """FastAPI's arguments that turn its native OpenTelemetry bridge off, where it has one.

    The service's metrics are its own Prometheus registry (``/metrics``); the bridge (FastAPI
    0.16x) looked up the global OpenTelemetry providers on every request, probes included,
    which cost more than answering a probe.
    """
    if "telemetry" in inspect.signature(FastAPI.__init__).parameters:
        return {"telemetry": {"tracing": False, "metrics": False, "logs": False}}
    return {}


class _Lifespans:
    """Starts the runtime and its health monitor with the first lifespan, stops them with the last.

    A server has one lifespan; test clients may nest several around one app.
    """

    def __init__(self, runtime: ServiceRuntime, health: HealthMonitor) -> None:
        self.runtime = runtime
        self.health = health
        self.active = 0
        self._lock = threading.Lock()

    def enter(self) -> None:
        with self._lock:
            if self.active == 0:
                self.runtime.start()
                self.health.start()
            self.active += 1

    def exit(self) -> None:
        with self._lock:
            self.active -= 1
            if self.active == 0:
                self.health.stop()
                self.runtime.close()


def _openapi(app: FastAPI, runtime: ServiceRuntime) -> dict[str, Any]:
    """The spec, with the serving model's features spelled out (regenerated after a swap)."""
    current = runtime.slot.current
    model_id = current.model_id if current else None
    cached: dict[str, Any] | None = app.openapi_schema
    if cached is not None and cached.get("x-chainml-model") == model_id:
        return cached
    spec = get_openapi(title=app.title, version=app.version, description=app.description,
                       routes=app.routes)  # fmt: skip
    spec["x-chainml-model"] = model_id
    if not runtime.options.public_reads:
        for operations in spec["paths"].values():
            if "get" in operations:
                operations["get"]["security"] = [{"APIKeyHeader": []}]
    if current is not None:
        names = list(current.feature_names)
        number = {"type": "number", "minimum": -MAX_FEATURE, "maximum": MAX_FEATURE}
        request = spec["components"]["schemas"]["ScoreRequest"]["properties"]
        request["features"] = {
            "description": f"The {len(names)} features of model {model_id}, in its order "
            "or by name.",
            "oneOf": [
                {"type": "array", "items": number, "minItems": len(names),
                 "maxItems": len(names)},
                {"type": "object", "properties": dict.fromkeys(names, number),
                 "required": names, "additionalProperties": False},
            ],
        }  # fmt: skip
    app.openapi_schema = spec
    return spec
