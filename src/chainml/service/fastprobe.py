"""Probes answered by the HTTP protocol itself: whole responses from memory, no ASGI at all.

Even answered at the ASGI edge (:class:`~chainml.service.middleware.Edge`), a probe cost the
server a task, an ASGI scope, two ``send`` calls and the middleware stack: several times what
the answer costs, so probes were not far cheaper than scoring. :class:`FastProbes` holds each
probe's complete HTTP response (status line, the server's default headers, the JSON body) as
bytes, built again only when the probe's answer or the server's default headers (the ``date``
header, once a second) change; the protocol (:mod:`chainml.service.protocol`) writes them to
the socket when a request's headers are complete.

The bytes are those the edge would have sent through uvicorn: the same status, headers in the
same order and body. Only the plain case is answered here — ``GET`` of the exact path, no query,
HTTP/1.1 keep-alive, no request of the connection still in progress, and read access granted;
anything else (a missing or wrong key, ``Connection: close``, ``HEAD``, a pipelined request
behind a slow one) goes the usual way, through the edge. Each answer is counted in the
service's metrics like any other request.
"""

from __future__ import annotations

import http
import time
from collections.abc import Mapping, Sequence

from chainml.service.auth import HEADER_BYTES, key_problem
from chainml.service.metrics import Metrics
from chainml.service.routes_health import Probe

Headers = Sequence[tuple[bytes, bytes]]


class _Rendered:
    """One probe's last response, and what it was built from."""

    __slots__ = ("answer", "defaults", "response", "status")

    def __init__(self) -> None:
        self.answer: tuple[int, bytes] | None = None
        self.defaults: Headers | None = None
        self.response = b""
        self.status = 0


class FastProbes:
    """Complete responses to the service's probes, for the HTTP protocol to write as they are."""

    def __init__(
        self,
        probes: Mapping[str, Probe],
        metrics: Metrics,
        api_keys: tuple[bytes, ...],
        public_reads: bool,
    ) -> None:
        self.metrics = metrics
        self.api_keys = api_keys
        self.public_reads = public_reads
        #: by the request target as sent (bytes): the protocol looks the raw URL up
        self.paths = {path.encode("ascii"): (path, probe) for path, probe in probes.items()}
        self._rendered = {path: _Rendered() for path in self.paths}

    def response(self, target: bytes, headers: Headers, defaults: Headers) -> bytes | None:
        """The whole response to ``GET target`` with ``headers``, or None to go the usual way.

        ``defaults`` are the headers the server puts first in every response (uvicorn's
        ``date`` and ``server``). None when ``target`` is not a probe, or it needs read access
        that ``headers`` do not give (the edge then answers 401 or 403).
        """
        found = self.paths.get(target)
        if found is None:
            return None
        path, probe = found
        started = time.perf_counter()
        if probe.read and not self.public_reads and not self._allowed(headers):
            return None
        answer = probe.answer()
        rendered = self._rendered[target]
        if answer is not rendered.answer or defaults is not rendered.defaults:
            rendered.response = render(answer[0], answer[1], defaults)
            rendered.answer, rendered.defaults, rendered.status = answer, defaults, answer[0]
        self.metrics.request(path, "GET", rendered.status, time.perf_counter() - started)
        return rendered.response

    def _allowed(self, headers: Headers) -> bool:
        given = next((value for name, value in headers if name == HEADER_BYTES), None)
        return key_problem(given, self.api_keys) is None


def render(status: int, body: bytes, defaults: Headers) -> bytes:
    """An HTTP/1.1 response with a JSON body, as uvicorn writes the edge's answer."""
    lines = [f"HTTP/1.1 {status} {http.HTTPStatus(status).phrase}\r\n".encode("ascii")]
    lines += [name + b": " + value + b"\r\n" for name, value in defaults]
    lines.append(b"content-type: application/json\r\ncontent-length: %d\r\n\r\n" % len(body))
    return b"".join(lines) + body
