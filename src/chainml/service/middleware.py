"""ASGI middleware: request-size limits (413) and per-route request metrics, in one pass."""

from __future__ import annotations

import json
import time
from typing import Any

from fastapi import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from chainml.service.metrics import Metrics


class LimitsAndMetrics:
    """Refuse bodies over ``max_body_bytes`` with 413; time and count every request."""

    def __init__(self, app: ASGIApp, metrics: Metrics, max_body_bytes: int) -> None:
        self.app = app
        self.metrics = metrics
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Handle one ASGI connection scope."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500
        limit = self.max_body_bytes
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            status = 413
            await _too_large(send, limit)
            self._observe(scope, status, started)
            return
        seen = 0

        async def limited_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:  # a body without Content-Length grew too large
                    raise HTTPException(413, _too_large_message(limit))
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        finally:
            self._observe(scope, status, started)

    def _observe(self, scope: Scope, status: int, started: float) -> None:
        route: Any = scope.get("route")
        path = getattr(route, "path", None) or "unmatched"
        self.metrics.request(path, scope["method"], status, time.perf_counter() - started)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


def _too_large_message(limit: int) -> str:
    return f"request body larger than {limit} bytes"


async def _too_large(send: Send, limit: int) -> None:
    body = json.dumps({"detail": _too_large_message(limit)}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 413, "headers": headers})
    await send({"type": "http.response.body", "body": body})
