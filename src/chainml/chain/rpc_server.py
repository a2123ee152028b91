"""The embedded chain as a JSON-RPC node on loopback: the transport around :mod:`rpc_methods`.

It listens on 127.0.0.1 only. Every body is bounded before it is parsed (size, then JSON
depth, through :func:`chainml.bounded_json.loads`), batches are bounded too, and a request
must say ``Content-Type: application/json`` and name a loopback ``Host``: a web page the
user visits can neither send such a request without a CORS preflight (which is never
answered) nor reach the port through a rebound DNS name.
"""

from __future__ import annotations

import json
import logging
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from chainml import bounded_json
from chainml._closing import Closing
from chainml.chain.embedded import EmbeddedBackend
from chainml.chain.rpc_methods import EthMethods, RpcFault
from chainml.errors import InvalidInputError

MAX_BODY_BYTES = 1 << 20  # a deployment of the largest contract (48 KiB initcode) is ~100 KB
MAX_BATCH = 100
_LOOPBACK_HOSTS = ("127.0.0.1", "localhost")
_log = logging.getLogger(__name__)


class RpcServer(Closing):
    """Serves ``backend`` at :attr:`url` from a background thread until :meth:`close`."""

    def __init__(self, backend: EmbeddedBackend, *, port: int = 0) -> None:
        self.methods = EthMethods(backend)
        try:
            self._http = _Server(("127.0.0.1", port), _Handler)
        except OSError as err:
            raise InvalidInputError(f"cannot listen on 127.0.0.1:{port}: {err.strerror}") from err
        self._http.methods = self.methods
        self.port = int(self._http.server_address[1])
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(
            target=self._http.serve_forever,
            args=(0.1,),  # how often it looks for shutdown: close() waits at most that
            name="chainml-rpc-server",
            daemon=True,
        )
        self._thread.start()

    def close(self) -> None:
        """Stop accepting requests and release the port."""
        self._http.shutdown()
        self._http.server_close()
        self._thread.join(10)


class _Server(ThreadingHTTPServer):
    # Connections are daemon threads: close() does not wait for idle keep-alive clients; a
    # request in flight holds the backend's lock, which the backend's close() waits for.
    daemon_threads = True
    methods: EthMethods


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"  # keep-alive: RpcBackend reuses its connection
    timeout = 60  # seconds a connection may sit idle or send a body slowly
    # TCP_NODELAY: the headers and the body go out as two writes; with Nagle's algorithm the
    # body waited for the client's delayed ACK of the headers, ~40-50 ms on every request
    disable_nagle_algorithm = True

    def do_POST(self) -> None:
        refusal = self._refusal()
        if refusal is not None:
            self._send(refusal[0], {"error": refusal[1]})
            return
        length = int(self.headers["Content-Length"])
        body = self.rfile.read(length)
        try:
            document = bounded_json.loads(body, what="request", max_bytes=MAX_BODY_BYTES)
        except InvalidInputError as err:
            self._send(200, _error(None, RpcFault(-32700, f"parse error: {err}")))
            return
        if isinstance(document, list):
            if not document or len(document) > MAX_BATCH:
                fault = RpcFault(-32600, f"a batch holds 1 to {MAX_BATCH} requests")
                self._send(200, _error(None, fault))
                return
            self._send(200, [self._answer(item) for item in document])
            return
        self._send(200, self._answer(document))

    def do_GET(self) -> None:
        self._send(405, {"error": "JSON-RPC takes POST"})

    def _refusal(self) -> tuple[int, str] | None:
        host = (self.headers.get("Host") or "").rsplit(":", 1)[0].strip("[]")
        if host not in _LOOPBACK_HOSTS:
            return 403, "only loopback Host names are served"
        if (self.headers.get("Content-Type") or "").split(";")[0].strip() != "application/json":
            return 415, "Content-Type must be application/json"
        length = self.headers.get("Content-Length")
        if length is None or not length.isdigit():
            return 411, "Content-Length is required"
        if int(length) > MAX_BODY_BYTES:
            return 413, f"a request body holds at most {MAX_BODY_BYTES} bytes"
        return None

    def _answer(self, request: Any) -> dict[str, Any]:
        if not isinstance(request, dict) or not isinstance(request.get("method"), str):
            return _error(None, RpcFault(-32600, "invalid request"))
        request_id = request.get("id")
        params = request.get("params", [])
        if not isinstance(params, list):
            return _error(request_id, RpcFault(-32602, "params must be an array"))
        try:
            result = self.server.methods.call(request["method"], params)
        except RpcFault as fault:
            return _error(request_id, fault)
        except Exception as err:  # a bug: answer, log, keep serving
            _log.exception("JSON-RPC %s failed", request["method"])
            return _error(request_id, RpcFault(-32603, f"internal error: {type(err).__name__}"))
        return {"jsonrpc": "2.0", "id": request_id, "result": result}

    def _send(self, status: int, document: Any) -> None:
        body = json.dumps(document).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        _log.debug("%s " + format, self.address_string(), *args)


def _error(request_id: Any, fault: RpcFault) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": request_id, "error": fault.as_json()}
