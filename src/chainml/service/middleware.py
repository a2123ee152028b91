"""The service's ASGI edge: what is decided before FastAPI reads a body, and request metrics.

From the request line and headers alone, before a byte of the body is read:

- a request that can carry a body (any method but GET, HEAD and OPTIONS) needs a valid API key
  (401 missing, 403 wrong): an unauthenticated client cannot make the service read, buffer or
  parse its body;
- a body declared (``Content-Length``) larger than the limit is 413.

Both answers close the connection, so the body that was announced is never read. While a body
streams in (with a length or chunked), it is counted — past the limit it is 413 — and each read
waits at most ``read_timeout`` seconds for the client (408: a client that stops sending holds
no connection). Probes (``GET /livez``, ``/readyz``, ``/healthz``) are answered here from
memory, without FastAPI's routing (see :mod:`chainml.service.routes_health`). Every request is
timed and counted by route. Incomplete request headers are the protocol's business: see
:mod:`chainml.service.protocol`.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Mapping, Sequence
from typing import Any

from fastapi import HTTPException
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from chainml.service.auth import HEADER, HEADER_BYTES, key_problem
from chainml.service.metrics import Metrics
from chainml.service.routes_health import Probe

#: methods whose requests carry no body the service reads (their routes check keys themselves)
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_CLOSE = {"Connection": "close"}


class Edge:
    """Keys and declared sizes checked on headers; bodies bounded in size and read time."""

    def __init__(
        self,
        app: ASGIApp,
        metrics: Metrics,
        max_body_bytes: int,
        api_keys: tuple[bytes, ...],
        read_timeout: float,
        routes: Sequence[BaseRoute] = (),
        probes: Mapping[str, Probe] | None = None,
        public_reads: bool = True,
    ) -> None:
        self.app = app
        self.metrics = metrics
        self.max_body_bytes = max_body_bytes
        self.api_keys = api_keys
        self.read_timeout = read_timeout
        self.routes = routes  # to name the route of a request refused before routing
        self.probes = probes or {}
        self.public_reads = public_reads

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Handle one ASGI connection scope."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        probe = self.probes.get(scope["path"]) if scope["method"] == "GET" else None
        if probe is not None:
            status = await self._answer_probe(scope, send, probe)
            self._observe(scope, status, started, scope["path"])
            return
        refusal = self._refusal(scope)
        if refusal is not None:
            status, message, headers = refusal
            await _refuse(send, status, message, headers)
            self._observe(scope, status, started, self._route_of(scope))
            return
        status = 500
        limit, timeout = self.max_body_bytes, self.read_timeout
        seen = 0
        body_done = False

        async def bounded_receive() -> Message:
            nonlocal seen, body_done
            if body_done:  # after the body: the server tells of a disconnect, wait as it says
                return await receive()
            try:
                async with asyncio.timeout(timeout):  # no task per read, unlike wait_for
                    message = await receive()
            except TimeoutError:
                raise HTTPException(
                    408, f"no request data for {timeout:g} s; the body is incomplete", _CLOSE
                ) from None
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:  # a body without Content-Length grew too large
                    raise HTTPException(413, _too_large_message(limit), _CLOSE)
                body_done = not message.get("more_body", False)
            else:
                body_done = True
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, bounded_receive, tracking_send)
        finally:
            self._observe(scope, status, started)

    async def _answer_probe(self, scope: Scope, send: Send, probe: Probe) -> int:
        if probe.read and not self.public_reads:
            problem = key_problem(_header(scope, HEADER_BYTES), self.api_keys)
            if problem is not None:
                status, message = problem
                extra = {"WWW-Authenticate": HEADER} if status == 401 else {}
                await _refuse(send, status, message, extra, close=False)
                return status
        status, body = probe.answer()
        await _respond(send, status, body)
        return status

    def _refusal(self, scope: Scope) -> tuple[int, str, dict[str, str]] | None:
        """The answer to give on the headers alone (status, message, headers), or None."""
        if scope["method"] not in SAFE_METHODS:
            problem = key_problem(_header(scope, HEADER_BYTES), self.api_keys)
            if problem is not None:
                status, message = problem
                extra = {"WWW-Authenticate": HEADER} if status == 401 else {}
                return status, message, extra
        declared = _header(scope, b"content-length")
        if declared is not None:
            try:
                length = int(declared)
            except ValueError:
                return 400, "the Content-Length header is not a number", {}
            if length > self.max_body_bytes:
                return 413, _too_large_message(self.max_body_bytes), {}
        return None

    def _route_of(self, scope: Scope) -> str | None:
        for route in self.routes:
            match, _ = route.matches(scope)
            if match is not Match.NONE:
                return getattr(route, "path", None)
        return None

    def _observe(self, scope: Scope, status: int, started: float, path: str | None = None) -> None:
        route: Any = scope.get("route")
        path = path or getattr(route, "path", None) or "unmatched"
        self.metrics.request(path, scope["method"], status, time.perf_counter() - started)


def _header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope["headers"]:
        if key == name:
            return bytes(value)
    return None


def _too_large_message(limit: int) -> str:
    return f"request body larger than {limit} bytes"


async def _refuse(
    send: Send, status: int, message: str, headers: dict[str, str], close: bool = True
) -> None:
    """Answer ``status`` with a JSON ``detail``; ``close``: so the request's body stays unread."""
    fields = {**_CLOSE, **headers} if close else headers
    extra = [(name.lower().encode(), value.encode()) for name, value in fields.items()]
    await _respond(send, status, json.dumps({"detail": message}).encode(), extra)


async def _respond(
    send: Send, status: int, body: bytes, extra: list[tuple[bytes, bytes]] | None = None
) -> None:
    """Answer ``status`` with the JSON ``body``."""
    headers = [(b"content-type", b"application/json"),
               (b"content-length", str(len(body)).encode()), *(extra or ())]  # fmt: skip
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
