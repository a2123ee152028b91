"""Running the app: uvicorn on one event loop (uvloop when installed) with httptools.

The listening socket is bound first (:func:`bind`), so that a busy port is a clear error
(exit 4, "unavailable") before anything else starts, and no other process can take the port
between the check and the server's start.
"""

from __future__ import annotations

import asyncio
import importlib.util
import socket
import sys
import threading
import time

from fastapi import FastAPI

from chainml.errors import ChainMLError
from chainml.service.log_writer import settle_heap
from chainml.service.protocol import DEFAULT_READ_TIMEOUT, protocol_with

SWITCH_INTERVAL = 0.0002  # seconds


def _have(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


class PortUnavailableError(ChainMLError):
    """The service cannot listen on its address (the port is taken, or not ours to use)."""

    exit_code = 4

    def __init__(self, host: str, port: int, detail: str) -> None:
        self.host = host
        self.port = port
        self.detail = detail
        super().__init__(
            f"cannot listen on {host}:{port}: {detail}. Hint: another process may be "
            f"listening on port {port} (is a chainml serve already running?); choose another "
            "port with --port"
        )


class ServerStartError(ChainMLError):
    """The service did not start (its lifespan failed: uvicorn logged why)."""

    def __init__(self, port: int) -> None:
        self.port = port
        super().__init__(f"the service on 127.0.0.1:{port} did not start (see the log above)")


def bind(host: str, port: int) -> socket.socket:
    """A TCP socket bound to ``host:port`` (PortUnavailableError if it cannot be)."""
    try:
        family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
    except OSError as err:
        raise PortUnavailableError(host, port, f"the address does not resolve ({err})") from err
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn does: restarts
    try:
        sock.bind((host, port))
    except OSError as err:
        sock.close()
        raise PortUnavailableError(host, port, err.strerror or str(err)) from err
    return sock


def tune_interpreter() -> None:
    """Set the interpreter up for a process that is only the service (``chainml serve``).

    Process-wide, so never done by the library on its own: a shorter thread switch interval,
    and everything loaded so far frozen out of the garbage collector, which then runs less
    often.
    """
    # A log writer thread (writer_process=False) releases the GIL at every SQLite call and must
    # get it back fast: with the default 5 ms switch interval it would wait behind the loop.
    sys.setswitchinterval(SWITCH_INTERVAL)
    # Everything loaded so far (models, chain libraries, the app) lives as long as the server
    settle_heap()


def run_server(
    app: FastAPI, host: str = "127.0.0.1", port: int = 8000, *, sock: socket.socket | None = None
) -> None:
    """Serve ``app`` until SIGINT/SIGTERM, then shut down cleanly (the log writer drains).

    One process and one event loop: the decision log has a single writer. Access logs are
    off (the metrics count every request). ``sock`` is a socket from :func:`bind` (else
    ``host:port`` is bound here). The interpreter's settings are left alone: a process that
    is only the server calls :func:`tune_interpreter` first (``chainml serve`` does).
    A request's headers are due within the app's ``read_timeout``, and its probes are answered
    by the protocol (see :mod:`chainml.service.protocol`).
    """
    sock = sock if sock is not None else bind(host, port)
    import uvicorn

    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        loop="uvloop" if _have("uvloop") else "asyncio",
        http=_protocol(app),
        access_log=False,
        log_level="warning",
        backlog=2048,
        timeout_keep_alive=30,
    )
    uvicorn.Server(config).run(sockets=[sock])


def _protocol(app: FastAPI) -> type[asyncio.Protocol]:
    """The httptools protocol (uvicorn's) with the app's deadline for headers and its probes."""
    return protocol_with(
        getattr(app.state, "read_timeout", DEFAULT_READ_TIMEOUT),
        getattr(app.state, "fast_probes", None),
    )


class LoopbackServer:
    """``app`` served by uvicorn on a free 127.0.0.1 port, in a thread of this process.

    For a caller that shares objects with the app (``chainml demo`` hands it the chain it
    opened) and talks to it over real HTTP with the standard library: no test client, no
    dev-only packages. ``with LoopbackServer(app) as url:`` starts it (the app's lifespan
    runs) and stops it through its handle on exit.
    """

    def __init__(self, app: FastAPI, start_timeout: float = 60.0) -> None:
        import uvicorn

        self.app = app
        self.start_timeout = start_timeout
        config = uvicorn.Config(
            app,
            http=_protocol(app),
            access_log=False,
            log_level="warning",
            timeout_keep_alive=30,
            lifespan="on",
        )
        self._server = uvicorn.Server(config)
        self._thread: threading.Thread | None = None

    def __enter__(self) -> str:
        sock = bind("127.0.0.1", 0)
        port = sock.getsockname()[1]
        # not a daemon: the server always stops through __exit__, and its lifespan drains the log
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [sock]}, name="chainml-loopback-server"
        )
        self._thread.start()
        deadline = time.monotonic() + self.start_timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self._stop()
                sock.close()
                raise ServerStartError(port)
            time.sleep(0.01)
        return f"http://127.0.0.1:{port}"

    def __exit__(self, *exc: object) -> None:
        self._stop()

    def _stop(self) -> None:
        self._server.should_exit = True
        if self._thread is not None:
            self._thread.join()
            self._thread = None
