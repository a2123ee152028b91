"""``chainml.Service``: the scoring service as an ``APIRouter``, for a FastAPI app of your own.

``app.include_router(service.router)`` adds the service's endpoints (``/v1/score``,
``/v1/score/batch``, receipts and their zk proofs, the log head and raw entries
(``/v1/log/entries``, what ``chainml watch`` re-verifies), models, health, metrics) to your
app, with the same runtime as ``chainml serve``
(:class:`~chainml.service.runtime.ServiceRuntime`: log writer, group commit, background
anchoring, hot swap, proof jobs). The router's lifespan, which FastAPI
runs with your app's, starts that runtime and stops it. chainml's errors become the same JSON
answers as in ``chainml serve`` (``detail``, status by error family); your app's own handlers,
middleware and routes are left alone. The service keeps its state in ``app.state.runtime``,
``app.state.api_keys`` and ``app.state.public_reads``; one service per app.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import replace
from typing import TYPE_CHECKING

from chainml._closing import Closing
from chainml.config import Settings, load_settings
from chainml.errors import ChainMLError

if TYPE_CHECKING:
    from fastapi import APIRouter, FastAPI

    from chainml.chain import Env
    from chainml.service.options import ServiceOptions
    from chainml.service.runtime import ServiceRuntime

_log = logging.getLogger(__name__)


async def _chainml_errors() -> AsyncIterator[None]:
    """Router dependency: a chainml error in an endpoint becomes its HTTP answer.

    A router cannot register exception handlers on the app it joins; a dependency with
    ``yield`` sees the endpoint's exceptions and may answer with an HTTPException instead.
    """
    from fastapi import HTTPException

    from chainml.service.errors import problem_of

    try:
        yield
    except ChainMLError as err:
        status, detail, retry_after = problem_of(err)
        if status >= 500:
            _log.error("chainml service failed: %s", err)
        headers = {"Retry-After": str(retry_after)} if retry_after is not None else None
        raise HTTPException(status, detail, headers=headers) from err


class Service(Closing):
    """The scorer over ``settings.data_dir``'s log and models, and ``settings``' chain.

    ``options`` are those of ``chainml serve`` (model or use, API keys, anchoring, limits);
    ``model_id`` (pin one stored model) and ``api_keys`` (at least 16 characters each)
    override theirs. ``env`` is a chain connection the caller owns (default: one is opened
    on first use).
    The log is opened and the model loaded and verified here, so a bad configuration fails
    before your app starts.
    """

    def __init__(
        self,
        settings: Settings | None = None,
        options: ServiceOptions | None = None,
        *,
        model_id: str | None = None,
        api_keys: Sequence[str] = (),
        env: Env | None = None,
    ) -> None:
        from chainml.service.health import HealthMonitor
        from chainml.service.options import ServiceOptions, api_keys_from
        from chainml.service.runtime import ServiceRuntime, check_options

        options = options or ServiceOptions()
        if model_id is not None:
            options = replace(options, model_id=model_id)
        if api_keys:
            options = replace(options, api_keys=api_keys_from(tuple(api_keys), environ={}))
        self.options = options
        check_options(self.options)
        self.runtime: ServiceRuntime = ServiceRuntime(
            settings or load_settings(), self.options, env
        )
        self._health = HealthMonitor(self.runtime)  # /livez, /readyz and /healthz read its cache
        self._router: APIRouter | None = None
        self._closed = False

    @property
    def router(self) -> APIRouter:
        """The endpoints, to ``include_router`` into your app (with a ``prefix`` if you like)."""
        if self._router is None:
            from fastapi import APIRouter, Depends

            from chainml.service import (
                routes_entries,
                routes_health,
                routes_proof,
                routes_read,
                routes_score,
            )

            router = APIRouter(lifespan=self._lifespan, dependencies=[Depends(_chainml_errors)])
            router.include_router(routes_score.router)
            router.include_router(routes_read.router)
            router.include_router(routes_health.router)
            router.include_router(routes_entries.router)
            router.include_router(routes_proof.router)
            self._router = router
        return self._router

    @asynccontextmanager
    async def _lifespan(self, app: FastAPI) -> AsyncIterator[None]:
        app.state.runtime = self.runtime
        app.state.api_keys = tuple(key.reveal().encode() for key in self.options.api_keys)
        app.state.public_reads = self.options.public_reads
        app.state.health = self._health
        self.runtime.start()
        self._health.start()
        try:
            yield
        finally:
            self._health.stop()
            self.close()

    def close(self) -> None:
        """Stop the runtime and release the log and the chain (the lifespan's end does it)."""
        if not self._closed:
            self._closed = True
            self.runtime.close()
