"""The HTTP protocol the server runs: uvicorn's httptools protocol, a deadline for headers, probes.

uvicorn times out a connection that is idle *between* requests (``timeout_keep_alive``), but
not one that opened and sent nothing, nor one that sent part of a request's headers and then
stopped: such a connection was held for ever, and enough of them exhaust the server's file
descriptors (the slowloris attack). Here every request's headers must be complete within
``read_timeout`` seconds of the connection opening, or of the request's first byte; if not,
the connection is closed. A request body's reads are bounded at the ASGI edge
(:class:`~chainml.service.middleware.Edge`: 408), where the application knows it waits.

Probes (``GET /livez``, ``/readyz``, ``/healthz``) are answered in ``on_headers_complete``
with the whole response from :class:`~chainml.service.fastprobe.FastProbes`, without an ASGI
task: at the same concurrency they serve many times the scoring rate. That needs a little of
uvicorn's protocol beyond its hooks — the request target it collected (``url``), whether the
connection's previous request is answered (``cycle.response_complete``), the server's default
headers, and ``on_response_complete`` to go on as after any answer (count it, arm the
keep-alive timeout, read on). :data:`FAST_PROBES_USABLE` checks at import that its methods are
there (without them every probe goes through the ASGI edge as before), and
``tests/service/test_fast_probes.py`` compares the bytes of both paths on a real server.

The asyncio and httptools hooks extended are ``connection_made``, ``connection_lost``,
``on_message_begin`` and ``on_headers_complete``; uvicorn takes the class through its ``http``
setting.
"""

from __future__ import annotations

import asyncio
from typing import cast

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol, RequestResponseCycle

from chainml.service.fastprobe import FastProbes

DEFAULT_READ_TIMEOUT = 10.0  # seconds
#: uvicorn's protocol has what the probes' fast path uses (else probes go through ASGI)
FAST_PROBES_USABLE = all(
    callable(getattr(HttpToolsProtocol, name, None))
    for name in ("on_url", "on_header", "on_response_complete")
)


class HeaderDeadlineProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol; a request's headers must arrive within ``read_timeout``."""

    read_timeout: float = DEFAULT_READ_TIMEOUT
    probes: FastProbes | None = None  # answered here when set (and FAST_PROBES_USABLE)
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
        """The headers are in: a probe is answered now, anything else goes to the application."""
        self._disarm()
        if self.probes is not None and self._answered_probe(self.probes):
            return
        super().on_headers_complete()

    def _answered_probe(self, probes: FastProbes) -> bool:
        """Answer a plain probe request from memory; False to let the application answer."""
        cycle: RequestResponseCycle | None = self.cycle
        parser = self.parser
        if (
            (cycle is not None and not cycle.response_complete)  # one in progress: queue behind
            or parser.get_method() != b"GET"
            or parser.get_http_version() != "1.1"
            or not parser.should_keep_alive()  # Connection: close: uvicorn says so and closes
            or parser.should_upgrade()
        ):
            return False
        response = probes.response(self.url, self.headers, self.server_state.default_headers)
        if response is None:
            return False
        self.transport.write(response)
        if cycle is None:  # the parser's body and completion callbacks look at the last cycle
            self.cycle = cast("RequestResponseCycle", _Answered())
        self.on_response_complete()  # counted, keep-alive timeout armed, reading resumed
        return True

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


class _Answered:
    """A request-response cycle that is over: what the protocol reads of the last one."""

    response_complete = True
    disconnected = False
    keep_alive = True

    def __init__(self) -> None:
        self.message_event = asyncio.Event()


def protocol_with(
    read_timeout: float, probes: FastProbes | None = None
) -> type[HeaderDeadlineProtocol]:
    """The protocol class uvicorn should run: this headers deadline (seconds), these probes."""
    fast = probes if FAST_PROBES_USABLE else None
    attributes = {"read_timeout": read_timeout, "probes": fast}
    return type("HeaderDeadlineProtocol", (HeaderDeadlineProtocol,), attributes)
