"""The rpc backend's retries: transient answers retried within bounds, transactions never doubled.

A scripted JSON-RPC server on 127.0.0.1 answers each request as the test says (HTTP status,
headers, result or error), and records what it received.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from eth_account import Account
from eth_utils import keccak

from chainml.chain.devnode import ANVIL_DEV_KEY
from chainml.chain.rpc import RpcBackend
from chainml.errors import (
    ChainError,
    ChainUnavailableError,
    InvalidInputError,
    NonceConflictError,
    TransactionTimeoutError,
)
from chainml.retry import MAX_RETRY_AFTER, REQUEST_ATTEMPTS

Answer = tuple[int, dict[str, str], dict[str, Any]]  # status, headers, result or error member
Script = Callable[[dict[str, Any]], Answer]


def ok(result: Any) -> Answer:
    return 200, {}, {"result": result}


def busy(status: int = 429, retry_after: str | None = "0") -> Answer:
    return status, ({"Retry-After": retry_after} if retry_after is not None else {}), {}


class _Handler(BaseHTTPRequestHandler):
    server: _ScriptedNode

    def do_POST(self) -> None:
        request = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.server.calls.append(request)
        status, headers, member = self.server.script(request)
        payload = json.dumps({"jsonrpc": "2.0", "id": request["id"], **member}).encode()
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args: object) -> None:
        pass


class _ScriptedNode(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, script: Script) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.script = script
        self.calls: list[dict[str, Any]] = []
        self.url = f"http://127.0.0.1:{self.server_address[1]}"

    def methods(self) -> list[str]:
        return [call["method"] for call in self.calls]


def _serve(script: Script) -> Iterator[_ScriptedNode]:
    node = _ScriptedNode(script)
    thread = threading.Thread(target=node.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield node
    finally:
        node.shutdown()
        node.server_close()


def _chain_id_then(script: Script) -> Script:
    """Answer eth_chainId at once (the backend asks it when created), the rest by ``script``."""
    return lambda request: ok("0x1") if request["method"] == "eth_chainId" else script(request)


@pytest.fixture
def scripted() -> Iterator[Callable[[Script], _ScriptedNode]]:
    nodes: list[Iterator[_ScriptedNode]] = []

    def start(script: Script) -> _ScriptedNode:
        serving = _serve(script)
        nodes.append(serving)
        return next(serving)

    yield start
    for serving in nodes:
        next(serving, None)


def test_429_then_success_is_retried(scripted: Callable[[Script], _ScriptedNode]) -> None:
    answers = iter([busy(429), busy(503), ok("0x2a")])
    node = scripted(_chain_id_then(lambda _: next(answers)))
    backend = RpcBackend(node.url, timeout=5)
    assert backend.request("eth_blockNumber", []) == "0x2a"
    assert node.methods() == ["eth_chainId"] + ["eth_blockNumber"] * 3


def test_retry_after_is_honoured(scripted: Callable[[Script], _ScriptedNode]) -> None:
    answers = iter([busy(429, "1"), ok("0x2a")])
    node = scripted(_chain_id_then(lambda _: next(answers)))
    backend = RpcBackend(node.url, timeout=5)
    started = time.monotonic()
    assert backend.request("eth_blockNumber", []) == "0x2a"
    assert time.monotonic() - started >= 1.0


def test_a_retry_after_beyond_the_bound_is_not_waited_for(
    scripted: Callable[[Script], _ScriptedNode],
) -> None:
    node = scripted(_chain_id_then(lambda _: busy(429, str(int(MAX_RETRY_AFTER) + 55))))
    backend = RpcBackend(node.url, timeout=30)
    started = time.monotonic()
    with pytest.raises(ChainUnavailableError, match="HTTP 429"):
        backend.request("eth_blockNumber", [])
    assert time.monotonic() - started < 1.0
    assert node.methods().count("eth_blockNumber") == 1


def test_a_persistent_failure_ends_in_the_typed_error_after_the_bounded_attempts(
    scripted: Callable[[Script], _ScriptedNode],
) -> None:
    node = scripted(_chain_id_then(lambda _: busy(503, retry_after=None)))
    backend = RpcBackend(node.url, timeout=30)
    with pytest.raises(ChainUnavailableError, match="HTTP 503") as info:
        backend.request("eth_blockNumber", [])
    assert info.value.exit_code == 4
    assert node.methods().count("eth_blockNumber") == REQUEST_ATTEMPTS


def test_a_server_error_that_is_not_transient_is_not_retried(
    scripted: Callable[[Script], _ScriptedNode],
) -> None:
    node = scripted(_chain_id_then(lambda _: busy(500, retry_after=None)))
    backend = RpcBackend(node.url, timeout=30)
    with pytest.raises(ChainUnavailableError, match="HTTP 500"):
        backend.request("eth_blockNumber", [])
    assert node.methods().count("eth_blockNumber") == 1


def test_the_receipt_timeout_is_a_typed_error(
    scripted: Callable[[Script], _ScriptedNode],
) -> None:
    node = scripted(_chain_id_then(lambda _: ok(None)))  # never mined
    backend = RpcBackend(node.url, timeout=30)
    tx_hash = b"\x07" * 32
    started = time.monotonic()
    with pytest.raises(TransactionTimeoutError) as info:
        backend.wait_for_receipt(tx_hash, timeout=0.3)
    assert 0.3 <= time.monotonic() - started < 1.5
    assert info.value.tx_hash == tx_hash and info.value.seconds == 0.3
    assert info.value.exit_code == 4 and isinstance(info.value, TimeoutError)
    assert tx_hash.hex() in str(info.value)
    assert node.methods().count("eth_getTransactionReceipt") > 3  # it polled, backing off


def test_wait_for_receipt_keeps_its_timeout_when_the_node_hangs(
    scripted: Callable[[Script], _ScriptedNode],
) -> None:
    def hangs(request: dict[str, Any]) -> Answer:
        time.sleep(5)  # far beyond the caller's timeout
        return ok(None)

    backend = RpcBackend(scripted(_chain_id_then(hangs)).url, timeout=30)
    started = time.monotonic()
    with pytest.raises(ChainError):  # unavailable (4) or not mined (4): never a 30 s hang
        backend.wait_for_receipt(b"\x01" * 32, timeout=0.5)
    assert time.monotonic() - started < 2.5
    with pytest.raises(InvalidInputError, match="timeout"):
        backend.wait_for_receipt(b"\x01" * 32, timeout=-1)


def _signed(nonce: int = 0) -> bytes:
    tx = {
        "type": 2,
        "chainId": 1,
        "nonce": nonce,
        "to": "0x" + "11" * 20,
        "value": 1,
        "gas": 21_000,
        "maxFeePerGas": 2 * 10**9,
        "maxPriorityFeePerGas": 10**9,
    }
    return bytes(Account.sign_transaction(tx, ANVIL_DEV_KEY).raw_transaction)


class _Mempool:
    """A node that accepts a transaction but loses its first answer (a 503 after accepting)."""

    def __init__(self, duplicate_message: str) -> None:
        self.known: dict[str, str] = {}  # hash -> raw
        self.sent: list[str] = []
        self.duplicate_message = duplicate_message

    def __call__(self, request: dict[str, Any]) -> Answer:
        method, params = request["method"], request["params"]
        if method == "eth_sendRawTransaction":
            raw = params[0]
            self.sent.append(raw)
            tx_hash = "0x" + keccak(hexstr=raw).hex()
            if tx_hash in self.known:
                return 200, {}, {"error": {"code": -32000, "message": self.duplicate_message}}
            self.known[tx_hash] = raw
            return busy(503, retry_after=None)  # accepted, but the answer is lost
        if method == "eth_getTransactionByHash":
            return ok({"hash": params[0]} if params[0] in self.known else None)
        return ok("0x1")


@pytest.mark.parametrize("message", ["already known", "nonce too low"])
def test_a_retried_transaction_is_the_same_transaction(
    scripted: Callable[[Script], _ScriptedNode], message: str
) -> None:
    pool = _Mempool(message)
    node = scripted(pool)
    raw = _signed()
    tx_hash = RpcBackend(node.url, timeout=5).send_raw_transaction(raw)
    assert tx_hash == keccak(raw)
    assert pool.sent == ["0x" + raw.hex()] * 2  # the same bytes again, never a new signature
    assert list(pool.known) == ["0x" + tx_hash.hex()]


def test_a_nonce_taken_by_another_transaction_is_still_a_conflict(
    scripted: Callable[[Script], _ScriptedNode],
) -> None:
    def script(request: dict[str, Any]) -> Answer:
        if request["method"] == "eth_sendRawTransaction":
            return 200, {}, {"error": {"code": -32000, "message": "nonce too low"}}
        if request["method"] == "eth_getTransactionByHash":
            return ok(None)  # the node does not have this transaction
        return ok("0x1")

    node = scripted(script)
    with pytest.raises(NonceConflictError):
        RpcBackend(node.url, timeout=5).send_raw_transaction(_signed(nonce=3))
    assert node.methods().count("eth_sendRawTransaction") == 1
