"""Probes answered by the protocol send the bytes the ASGI edge sends, and follow the state.

Two uvicorn servers run the same app (so the same readiness and counts): one whose protocol
answers probes itself, one without that (every probe through the edge, as before). Their
answers must match byte for byte, but for the ``date`` header.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI

from chainml.models.artifacts import ModelArtifact
from chainml.service.fastprobe import FastProbes
from chainml.service.protocol import FAST_PROBES_USABLE
from chainml.service.server import LoopbackServer
from tests.service.conftest import KEY, make_app

PROBES = ("/livez", "/readyz", "/healthz")


def _port(url: str) -> int:
    return int(url.rsplit(":", 1)[1])


def _fast(app: FastAPI) -> FastProbes:
    probes: FastProbes = app.state.fast_probes
    return probes


@pytest.fixture
def servers(data_dir: Path, model: ModelArtifact) -> Iterator[tuple[FastAPI, int, int]]:
    """The app, the port of the server answering probes itself, the port of the edge-only one."""
    app = make_app(data_dir, model.model_id)
    fast = LoopbackServer(app)
    probes, app.state.fast_probes = app.state.fast_probes, None
    edge = LoopbackServer(app)  # its protocol is made without the probes
    app.state.fast_probes = probes
    with fast as fast_url, edge as edge_url:
        yield app, _port(fast_url), _port(edge_url)


def exchange(port: int, raw: bytes, answers: int = 1) -> list[bytes]:
    """Send ``raw`` on one connection; the ``answers`` whole responses that come back."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(raw)
        received = b""
        out: list[bytes] = []
        while len(out) < answers:
            head, found, rest = received.partition(b"\r\n\r\n")
            if found:
                length = next(
                    int(line.split(b":")[1])
                    for line in head.split(b"\r\n")
                    if line.lower().startswith(b"content-length:")
                )
                if len(rest) >= length:
                    out.append(head + found + rest[:length])
                    received = rest[length:]
                    continue
            chunk = sock.recv(65536)
            assert chunk, f"the server closed after {len(out)} answers"
            received += chunk
        return out


def get(path: str, *headers: str) -> bytes:
    lines = [f"GET {path} HTTP/1.1", "Host: 127.0.0.1", *headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def without_date(response: bytes) -> bytes:
    return b"\r\n".join(
        line for line in response.split(b"\r\n") if not line.lower().startswith(b"date:")
    )


@pytest.mark.skipif(not FAST_PROBES_USABLE, reason="this uvicorn lacks the protocol's methods")
def test_the_protocol_answers_probes_as_the_edge_does(servers: tuple[FastAPI, int, int]) -> None:
    app, fast, edge = servers
    for path in PROBES:
        [mine] = exchange(fast, get(path))
        [theirs] = exchange(edge, get(path))
        assert without_date(mine) == without_date(theirs), path
        assert mine.startswith(b"HTTP/1.1 200 OK\r\ndate: ")
        assert b"\r\nserver: uvicorn\r\ncontent-type: application/json\r\n" in mine
        assert _fast(app)._rendered[path.encode()].response  # answered by the protocol
    # three probes pipelined on one connection: three answers, in order
    answers = exchange(fast, get("/livez") + get("/readyz") + get("/livez"), answers=3)
    assert [a.rsplit(b"\r\n\r\n", 1)[1][:10] for a in answers] == [
        b'{"status":',
        b'{"status":',
        b'{"status":',
    ]
    assert b'"ready":true' in answers[1] and b"alive" in answers[2]


@pytest.mark.skipif(not FAST_PROBES_USABLE, reason="this uvicorn lacks the protocol's methods")
def test_a_state_change_shows_at_once_and_counts_stay_right(
    servers: tuple[FastAPI, int, int],
) -> None:
    app, fast, _ = servers
    readiness = app.state.health.readiness
    [before] = exchange(fast, get("/readyz"))
    readiness.set("log", False, "disk full")
    [after] = exchange(fast, get("/readyz"))
    assert before.startswith(b"HTTP/1.1 200 OK") and after.startswith(
        b"HTTP/1.1 503 Service Unavailable"
    )
    assert b'"detail":"disk full"' in after
    [health] = exchange(fast, get("/healthz"))
    assert health.startswith(b"HTTP/1.1 200 OK") and b'"log: disk full"' in health
    text = app.state.runtime.metrics.render()
    line = 'chainml_http_requests_total{method="GET",route="/readyz",status="503"} 1.0'
    assert line in text


def test_connection_close_and_missing_keys_go_through_the_edge(
    data_dir: Path, model: ModelArtifact
) -> None:
    app = make_app(data_dir, model.model_id, public_reads=False)
    with LoopbackServer(app) as url:
        port = _port(url)
        [refused] = exchange(port, get("/readyz"))
        assert refused.startswith(b"HTTP/1.1 401 Unauthorized")
        assert b"www-authenticate: X-API-Key" in refused
        [wrong] = exchange(port, get("/healthz", "X-API-Key: nope"))
        assert wrong.startswith(b"HTTP/1.1 403 Forbidden")
        [allowed] = exchange(port, get("/readyz", f"X-API-Key: {KEY}"))
        assert allowed.startswith(b"HTTP/1.1 200 OK")
        [live] = exchange(port, get("/livez"))  # liveness needs no key
        assert live.startswith(b"HTTP/1.1 200 OK")
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            sock.sendall(get("/livez", "Connection: close"))
            received = b""
            while chunk := sock.recv(65536):  # the server closes after its answer
                received += chunk
        assert received.startswith(b"HTTP/1.1 200 OK") and b"\r\nconnection: close\r\n" in received
