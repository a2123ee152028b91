"""The HTTP protocol the server runs: uvicorn's httptools protocol, with a deadline for headers.

uvicorn times out a connection that is idle *between* requests (``timeout_keep_alive``), but
not one that opened and sent nothing, nor one that sent part of a request's headers and then
stopped: such a connection was held for ever, and enough of them exhaust the server's file
descriptors (the slowloris attack). Here every request's headers must be complete within
``read_timeout`` seconds of the connection opening, or of the request's first byte; if not,
the connection is closed. A request body's reads are bounded at the ASGI edge
(:class:`~chainml.service.middleware.Edge`: 408), where the application knows it waits.

Only the protocol's documented hooks are extended — asyncio's ``connection_made`` and
``connection_lost``, and the httptools parser's ``on_message_begin`` and
``on_headers_complete`` callbacks — and uvicorn takes the class through its ``http`` setting.
"""

from __future__ import annotations

import asyncio

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

DEFAULT_READ_TIMEOUT = 10.0  # seconds


class HeaderDeadlineProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol; a request's headers must arrive within ``read_timeout``."""

    read_timeout: float = DEFAULT_READ_TIMEOUT
    _deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        """A new connection: its first request's headers are due within the timeout."""
        super().connection_made(transport)
        self._arm()

    def on_message_begin(self) -> None:
        """A request's first byte: its headers are due within the timeout."""
        super().on_message_begin()
        self._arm()

    def on_headers_complete(self) -> None:
        """The headers are in: the application takes it from here."""
        self._disarm()
        super().on_headers_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        """The connection is gone: nothing is due any more."""
        self._disarm()
        super().connection_lost(exc)

    def _arm(self) -> None:
        self._disarm()
        self._deadline = asyncio.get_running_loop().call_later(self.read_timeout, self._expired)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _expired(self) -> None:
        self._deadline = None
        if not self.transport.is_closing():
            self.transport.close()


def protocol_with(read_timeout: float) -> type[HeaderDeadlineProtocol]:
    """The protocol class uvicorn should run, with this headers deadline (seconds)."""
    return type("HeaderDeadlineProtocol", (HeaderDeadlineProtocol,), {"read_timeout": read_timeout})
