"""A running ``chainml serve`` survives hostile requests (400/413) and then still scores.

One POST of a body nested 100,000 levels deep used to kill the server (SIGSEGV): py-evm raises
the recursion limit to 100,000, and the stdlib JSON parser ran on every body.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

import pytest

from chainml.chain.devnode import free_port
from chainml.models.artifacts import ModelArtifact
from tests.kill import REPO
from tests.service.conftest import KEY, row

DEEP = b'{"features": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"  # about 200 KB
DEFAULT_LIMIT = 16 * 1024 * 1024  # ServiceOptions.max_body_bytes


READ_TIMEOUT = 2.0  # seconds (--read-timeout): short, so that slow clients are let go soon


def _serve(data_dir: Path, model_id: str, port: int) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHAINML_")}
    env |= {"PYTHONPATH": f"{REPO / 'src'}{os.pathsep}{REPO}", "CHAINML_API_KEYS": KEY}
    command = [sys.executable, "-m", "chainml.cli.main", "--data-dir", str(data_dir), "serve",
               "--model", model_id, "--port", str(port), "--no-anchor",
               "--read-timeout", str(READ_TIMEOUT)]  # fmt: skip
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env)


@pytest.fixture
def server(data_dir: Path, model: ModelArtifact) -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    port = free_port()
    proc = _serve(data_dir, model.model_id, port)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert proc.poll() is None, proc.communicate()[0].decode()
                assert time.monotonic() < deadline, "the server did not start"
                time.sleep(0.1)
        yield proc, port
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGTERM)
        proc.communicate(timeout=30)


def exchange(port: int, head: str, body: Iterable[bytes] = ()) -> tuple[int, dict]:
    """Send a raw request; the status and JSON answer, read while the body is still going out.

    The server may answer before it has read the body (auth, limits) and then close: reading
    concurrently gets the answer before the connection is reset.
    """
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    received = bytearray()

    def read() -> None:
        try:
            while chunk := sock.recv(65536):
                received.extend(chunk)
                if _complete(received):
                    return
        except OSError:
            return

    reader = threading.Thread(target=read)
    reader.start()
    try:
        sock.sendall(head.replace("\n", "\r\n").encode() + b"\r\n")
        for chunk in body:
            sock.sendall(chunk)
    except OSError:  # the server answered and closed: what it said is being read
        pass
    reader.join(30)
    sock.close()
    status_line, _, rest = bytes(received).partition(b"\r\n")
    assert status_line.startswith(b"HTTP/1.1 "), f"no answer: {bytes(received)[:200]!r}"
    return int(status_line.split()[1]), json.loads(rest.partition(b"\r\n\r\n")[2])


def _complete(received: bytearray) -> bool:
    head, found, body = bytes(received).partition(b"\r\n\r\n")
    if not found:
        return False
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return len(body) >= int(value)
    return False


def post_head(length: int | None, key: str | None) -> str:
    lines = ["POST /v1/score HTTP/1.1", "Host: 127.0.0.1", "Content-Type: application/json"]
    framing = f"Content-Length: {length}" if length is not None else "Transfer-Encoding: chunked"
    lines.append(framing)
    if key is not None:
        lines.append(f"X-API-Key: {key}")
    return "\n".join(lines) + "\n"


def chunked(total: int, size: int = 1 << 20) -> Iterator[bytes]:
    """``total`` bytes of a JSON-looking body, in chunked transfer encoding, never finished."""
    sent = 0
    piece = b'{"features": [' + b"1," * (size // 2)
    while sent < total:
        data = piece[:size]
        yield f"{len(data):x}\r\n".encode() + data + b"\r\n"
        sent += len(data)


def score(port: int, features: list[float], request_id: str) -> tuple[int, dict]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    body = json.dumps({"request_id": request_id, "features": features})
    headers = {"X-API-Key": KEY, "Content-Type": "application/json"}
    connection.request("POST", "/v1/score", body, headers)
    answer = connection.getresponse()
    return answer.status, json.loads(answer.read())


@pytest.mark.slow
def test_hostile_requests_are_refused_and_the_server_stays_up(
    server: tuple[subprocess.Popen[bytes], int], model: ModelArtifact
) -> None:
    proc, port = server
    hostile = {
        "deep, no key": (post_head(len(DEEP), None), [DEEP], 401),
        "deep, wrong key": (post_head(len(DEEP), KEY + "x"), [DEEP], 403),
        "deep, valid key": (post_head(len(DEEP), KEY), [DEEP], 400),
        "100 MB declared": (post_head(100 * 1024 * 1024, KEY), [b'{"features": ['], 413),
        "chunked past the limit": (post_head(None, KEY), chunked(DEFAULT_LIMIT + (2 << 20)), 413),
    }
    for name, (head, body, expected) in hostile.items():
        status, answer = exchange(port, head, body)
        assert status == expected, (name, answer)
        assert isinstance(answer["detail"], str) and answer["detail"], name
        assert proc.poll() is None, f"the server died on {name!r}"
    status, result = score(port, row(model), "after-the-storm")
    assert status == 200 and result["log_index"] == 0  # nothing hostile was logged
    assert proc.poll() is None


def _answer_and_close(sock: socket.socket) -> tuple[int, dict[str, str], dict]:
    """Read one answer (status, headers, JSON body), then the server's close of the connection."""
    received = bytearray()
    while not _complete(received):
        chunk = sock.recv(65536)
        assert chunk, f"closed before a complete answer: {bytes(received)[:200]!r}"
        received.extend(chunk)
    head, _, body = bytes(received).partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines[1:])}
    assert _closed_by_server(sock)
    return int(lines[0].split()[1]), headers, json.loads(body)


def _closed_by_server(sock: socket.socket) -> bool:
    """True once the server closes (EOF, or a reset: it did not read what was sent)."""
    try:
        return sock.recv(65536) == b""
    except ConnectionResetError:
        return True


@pytest.mark.slow
def test_the_edge_refuses_on_headers_and_lets_slow_clients_go(
    server: tuple[subprocess.Popen[bytes], int], model: ModelArtifact
) -> None:
    """Keys are checked before the body is read; partial requests are cut at the read timeout.

    Each client sends a request's head and only part of the rest, then waits (no timing
    assertions: a socket timeout far above the read timeout fails the test if the server
    never answers or never closes).
    """
    proc, port = server
    declared = 15 * 1024 * 1024
    first_part = b'{"features": [' + b"1," * 32_768  # 64 KiB of the 15 MiB announced
    for key, expected in ((None, 401), (KEY + "x", 403)):
        with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
            sock.sendall(post_head(declared, key).replace("\n", "\r\n").encode() + b"\r\n")
            sock.sendall(first_part)
            # answered with 0.4% of the body sent: the server did not wait for the rest (it
            # would have answered 408 after the read timeout), and it closed the connection
            status, headers, answer = _answer_and_close(sock)
        assert (status, headers["connection"]) == (expected, "close"), answer
        assert "API key" in answer["detail"]

    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(post_head(1000, KEY).replace("\n", "\r\n").encode() + b"\r\n")
        sock.sendall(b'{"features": [')  # then nothing: the body stays incomplete
        status, headers, answer = _answer_and_close(sock)
    assert (status, headers["connection"]) == (408, "close")
    assert f"no request data for {READ_TIMEOUT:g} s" in answer["detail"]

    for partial in (b"POST /v1/score HTTP/1.1\r\nHost: 127.0.0.1\r\nX-API", b""):
        with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
            sock.sendall(partial)  # headers never finished (or never started)
            assert _closed_by_server(sock)  # without an answer: there is no request to answer

    status, result = score(port, row(model), "after-the-slow-clients")
    assert status == 200 and result["log_index"] == 0  # nothing partial was logged
    assert proc.poll() is None
