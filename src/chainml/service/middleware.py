"""The service's ASGI edge: what is decided before FastAPI reads a body, and request metrics.

From the request line and headers alone, before a byte of the body is read:

- a request that can carry a body (any method but GET, HEAD and OPTIONS) needs a valid API key
  (401 missing, 403 wrong): an unauthenticated client cannot make the service read, buffer or
  parse its body;
- a body declared (``Content-Length``) larger than the limit is 413.

Both answers close the connection, so the body that was announced is never read. While a body
streams in (with a length or chunked), it is counted — past the limit it is 413 — and each read
waits at most ``read_timeout`` seconds for the client (408: a client that stops sending holds
no connection). Every request is timed and counted by route. Incomplete request headers are
the protocol's business: see :mod:`chainml.service.protocol`.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Sequence
from typing import Any

from fastapi import HTTPException
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from chainml.service.auth import HEADER, HEADER_BYTES, key_problem
from chainml.service.metrics import Metrics

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
    ) -> None:
        self.app = app
        self.metrics = metrics
        self.max_body_bytes = max_body_bytes
        self.api_keys = api_keys
        self.read_timeout = read_timeout
        self.routes = routes  # to name the route of a request refused before routing

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Handle one ASGI connection scope."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
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


async def _refuse(send: Send, status: int, message: str, headers: dict[str, str]) -> None:
    """Answer ``status`` with a JSON ``detail`` and close: the request's body stays unread."""
    body = json.dumps({"detail": message}).encode()
    fields = {"content-type": "application/json", "content-length": str(len(body)), **_CLOSE}
    fields.update(headers)
    raw = [(name.lower().encode(), value.encode()) for name, value in fields.items()]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})
