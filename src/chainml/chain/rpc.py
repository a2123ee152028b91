"""A chain reached over JSON-RPC (anvil, geth, reth, besu, an L2): the ``rpc`` backend.

Node errors are translated here, at the boundary, into chainml's typed errors with the cause
kept: an unreachable node is :class:`ChainUnavailableError`, a revert is
:class:`ContractRevertError`, a stale nonce :class:`NonceConflictError`, and so on.
"""

from __future__ import annotations

import itertools
import threading
import time
from typing import Any

import requests
from eth.vm.forks.prague.transactions import PragueTransactionBuilder
from eth_utils import keccak, to_checksum_address

from chainml.chain.backend import Block, CallRequest, ChainBackend, Log, LogFilter, Receipt
from chainml.chain.endpoints import (
    DEFAULT_HEALTH_INTERVAL,
    DEFAULT_MAX_LAG_BLOCKS,
    Endpoint,
    EndpointPool,
    redact_url,
    split_urls,
)
from chainml.chain.fees import FeeHistory
from chainml.chain.revert import revert_error
from chainml.errors import (
    ChainError,
    ChainUnavailableError,
    InsufficientFundsError,
    InvalidInputError,
    NonceConflictError,
    NotFoundError,
    TransactionTimeoutError,
    WrongChainIdError,
)
from chainml.retry import parse_retry_after, poll_policy, request_policy

_FEE_CACHE_SECONDS = 1.0
_NONCE_MESSAGES = ("nonce too low", "nonce too high", "already known", "replacement transaction")
# what a node answers to a transaction it already has (pool) or has mined (nonce used)
_DUPLICATE_MESSAGES = ("already known", "known transaction", "already imported", "nonce too low")
# a busy or restarting node, or a proxy in front of one: worth another attempt
_TRY_AGAIN_STATUS = frozenset({429, 502, 503, 504})
# JSON-RPC error codes of providers that rate-limit in the body (EIP-1474 "limit exceeded")
_TRY_AGAIN_CODES = frozenset({-32005, 429})

__all__ = ["RpcBackend", "RpcError", "redact_url"]


class RpcBackend(ChainBackend):
    """JSON-RPC nodes of one chain over HTTP, with keep-alive sessions.

    ``url`` is one URL or several, comma-separated (the same chain through several
    providers): requests fail over between them (:mod:`chainml.chain.endpoints`).
    """

    kind = "rpc"

    def __init__(
        self,
        url: str,
        *,
        expected_chain_id: int | None = None,
        timeout: float = 30.0,
        max_lag_blocks: int = DEFAULT_MAX_LAG_BLOCKS,
        health_interval: float = DEFAULT_HEALTH_INTERVAL,
    ) -> None:
        self._pool = EndpointPool(
            split_urls(url),
            self._request_once,
            max_lag_blocks=max_lag_blocks,
            health_interval=health_interval,
        )
        self._shown_url = self._pool.shown
        self._timeout = timeout
        self._ids = itertools.count(1)
        self._local = threading.local()  # requests.Session is not thread-safe
        self._fees: tuple[float, tuple[int, int]] | None = None
        deadline = time.monotonic() + timeout
        policy = request_policy(_is_transient, timeout)
        self._chain_id: int = policy(self._pool.open, deadline, expected_chain_id)

    # -- transport -----------------------------------------------------------------------

    def _session(self) -> requests.Session:
        session: requests.Session | None = getattr(self._local, "session", None)
        if session is None:
            session = self._local.session = requests.Session()
        return session

    def request(self, method: str, params: list[Any], *, timeout: float | None = None) -> Any:
        """Send one JSON-RPC request and return its result; errors become typed errors.

        ``timeout`` (seconds) bounds this request, its retries included; by default the
        backend's own timeout. A refused connection, a timeout, HTTP 429/502/503/504 are
        retried by :func:`chainml.retry.request_policy` (``Retry-After`` honoured); every
        method is safe to send again, a transaction too (see :meth:`send_raw_transaction`).
        """
        budget = self._timeout if timeout is None else timeout
        deadline = time.monotonic() + budget
        # one attempt is one sweep over the endpoints (several URLs: the next one at once)
        policy = request_policy(_is_transient, budget)
        return policy(self._pool.request, method, params, deadline)

    def _request_once(
        self, endpoint: Endpoint, method: str, params: list[Any], deadline: float
    ) -> Any:
        payload = {"jsonrpc": "2.0", "id": next(self._ids), "method": method, "params": params}
        limit = max(0.001, min(self._timeout, deadline - time.monotonic()))
        shown = endpoint.shown
        try:
            response = self._session().post(endpoint.url, json=payload, timeout=limit)
        except requests.RequestException as err:
            raise _TransientError(shown, type(err).__name__) from err
        status = response.status_code
        if status in _TRY_AGAIN_STATUS:
            raise _TransientError(
                shown,
                f"HTTP {status} for {method}",
                parse_retry_after(response.headers.get("Retry-After")),
            )
        if status >= 500 or status == 404:
            raise ChainUnavailableError(shown, f"HTTP {status} for {method}")
        try:
            body = response.json()
        except ValueError as err:
            raise ChainUnavailableError(shown, f"the answer to {method} is not JSON") from err
        if not isinstance(body, dict):
            raise ChainUnavailableError(shown, f"the answer to {method} is not a JSON object")
        if "error" in body:
            error = body["error"]
            if isinstance(error, dict) and error.get("code") in _TRY_AGAIN_CODES:
                raise _TransientError(shown, f"rate limited on {method}: {error.get('message')}")
            raise RpcError(method, error)
        return body.get("result")

    @property
    def endpoints(self) -> EndpointPool:
        """The URLs this backend fails over between, and their health."""
        return self._pool

    # -- identity ------------------------------------------------------------------------

    @property
    def chain_id(self) -> int:
        return self._chain_id

    @property
    def location(self) -> str:
        return self._shown_url

    # -- transactions --------------------------------------------------------------------

    def send_raw_transaction(self, raw: bytes) -> bytes:
        """Send a signed transaction; sending the same bytes again is harmless.

        A signed transaction is identified by its hash, so a retry after a lost answer cannot
        make a second transaction: the node answers "already known" (in its pool) or "nonce
        too low" (mined). Either is success when the node has a transaction with this hash;
        otherwise the nonce really conflicts with another transaction. The same holds when
        the retry fails over to another URL of the pool: the bytes, hence the hash, are the
        same, so a second node either gossips the one transaction or says it already knows it.
        """
        try:
            return _bytes(self.request("eth_sendRawTransaction", ["0x" + raw.hex()]))
        except RpcError as err:
            tx_hash = bytes(keccak(raw))
            if _is_duplicate(err) and self._knows(tx_hash):
                return tx_hash
            raise self._rejection(raw, err) from err

    def _knows(self, tx_hash: bytes) -> bool:
        """Whether the node has the transaction ``tx_hash`` (in its pool or mined)."""
        try:
            return self.request("eth_getTransactionByHash", ["0x" + tx_hash.hex()]) is not None
        except RpcError:
            return False

    def _rejection(self, raw: bytes, err: RpcError) -> ChainError:
        message = err.message.lower()
        try:
            tx = PragueTransactionBuilder.decode(raw)
            sender, nonce, chain_id = to_checksum_address(tx.sender), tx.nonce, tx.chain_id
        except Exception:  # undecodable: the node's message is all there is
            return ChainError(f"the node rejected the transaction: {err.message}")
        if any(text in message for text in _NONCE_MESSAGES):
            return NonceConflictError(sender, nonce, err.message)
        if "insufficient funds" in message:
            return InsufficientFundsError(sender, err.message)
        if "chain id" in message or "chainid" in message:
            return WrongChainIdError(expected=self._chain_id, actual=chain_id)
        if "revert" in message:
            return revert_error(err.revert_data, err.message)
        return ChainError(f"the node rejected the transaction: {err.message}")

    def wait_for_receipt(self, tx_hash: bytes, timeout: float = 120.0) -> Receipt:
        """Poll for the receipt; the whole wait, each request included, is within ``timeout``.

        Not mined in time: :class:`~chainml.errors.TransactionTimeoutError`.
        """
        if timeout < 0:
            raise InvalidInputError(f"a timeout is not negative, got {timeout}")
        deadline = time.monotonic() + timeout
        params = ["0x" + tx_hash.hex()]

        def poll() -> Receipt | None:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            raw = self.request(
                "eth_getTransactionReceipt", params, timeout=min(self._timeout, left)
            )
            return None if raw is None else _receipt(raw)

        # auto-mining dev nodes answer within a millisecond, real chains in seconds
        policy = poll_policy(timeout, lambda: TransactionTimeoutError(tx_hash, timeout))
        receipt = policy(poll)
        if receipt is None:  # the policy raises first; this keeps the type honest
            raise TransactionTimeoutError(tx_hash, timeout)
        return receipt

    def receipt(self, tx_hash: bytes) -> Receipt | None:
        raw = self.request("eth_getTransactionReceipt", ["0x" + tx_hash.hex()])
        return None if raw is None else _receipt(raw)

    def has_transaction(self, tx_hash: bytes) -> bool:
        return self._knows(tx_hash)

    def fee_history(self, blocks: int, percentile: float) -> FeeHistory:
        """From ``eth_feeHistory``; blocks without transactions (tip 0) say nothing of tips."""
        try:
            raw = self.request("eth_feeHistory", [hex(blocks), "latest", [percentile]])
        except RpcError:  # not every node implements it
            return super().fee_history(blocks, percentile)
        base_fees = raw.get("baseFeePerGas") or ["0x0"]
        rewards = raw.get("reward") or []
        ratios = raw.get("gasUsedRatio") or []
        tips = tuple(
            int(reward[0], 16)
            for reward, used in zip(rewards, ratios, strict=False)
            if reward and used > 0
        )
        # The list ends with the next block's base fee. The latest block's counts too: a
        # transaction is sent to be included now, and some pools (anvil's) refuse one that
        # pays less than the base fee of the block they build on.
        latest = [int(fee, 16) for fee in base_fees[-2:]]
        return FeeHistory(next_base_fee=max(latest), tips=tips)

    def confirmed_nonce(self, address: str) -> int:
        return int(self.request("eth_getTransactionCount", [address, "latest"]), 16)

    # -- reading state -------------------------------------------------------------------

    def call(self, request: CallRequest, block: int | None = None) -> bytes:
        try:
            return _bytes(self.request("eth_call", [_call_object(request), _tag(block)]))
        except RpcError as err:
            raise err.as_revert_or_chain_error() from err

    def estimate_gas(self, request: CallRequest) -> int:
        try:
            return int(self.request("eth_estimateGas", [_call_object(request)]), 16)
        except RpcError as err:
            raise err.as_revert_or_chain_error() from err

    def fees(self) -> tuple[int, int]:
        now = time.monotonic()
        if self._fees is not None and now - self._fees[0] < _FEE_CACHE_SECONDS:
            return self._fees[1]
        base_fee = self.block().base_fee
        try:
            tip = int(self.request("eth_maxPriorityFeePerGas", []), 16)
        except RpcError:  # not every node implements it
            tip = 10**9
        fees = (2 * base_fee + tip, tip)
        self._fees = (now, fees)
        return fees

    def nonce(self, address: str) -> int:
        return int(self.request("eth_getTransactionCount", [address, "pending"]), 16)

    def balance(self, address: str) -> int:
        return int(self.request("eth_getBalance", [address, "latest"]), 16)

    def code(self, address: str) -> bytes:
        return _bytes(self.request("eth_getCode", [address, "latest"]))

    def block(self, number: int | None = None) -> Block:
        raw = self.request("eth_getBlockByNumber", [_tag(number), False])
        if raw is None:
            raise NotFoundError(f"block {number} does not exist yet")
        return Block(
            number=int(raw["number"], 16),
            hash=_bytes(raw["hash"]),
            timestamp=int(raw["timestamp"], 16),
            base_fee=int(raw.get("baseFeePerGas", "0x0"), 16),
            gas_limit=int(raw["gasLimit"], 16),
            gas_used=int(raw["gasUsed"], 16),
        )

    def get_logs(self, log_filter: LogFilter) -> list[Log]:
        query: dict[str, Any] = {
            "fromBlock": hex(log_filter.from_block),
            "toBlock": _tag(log_filter.to_block),
            "topics": [
                None if options is None else ["0x" + t.hex() for t in options]
                for options in log_filter.topics
            ],
        }
        if log_filter.addresses:
            query["address"] = list(log_filter.addresses)
        return [_log(raw) for raw in self.request("eth_getLogs", [query])]

    # -- development controls ------------------------------------------------------------

    def mine(self, blocks: int = 1) -> None:
        if blocks < 0:
            raise InvalidInputError(f"cannot mine {blocks} blocks")
        for _ in range(blocks):
            self._dev_request("evm_mine", [])

    def increase_time(self, seconds: int) -> None:
        if seconds < 0:
            raise InvalidInputError("time only moves forward; got a negative number of seconds")
        self._dev_request("evm_increaseTime", [seconds])

    def snapshot(self) -> object:
        return self._dev_request("evm_snapshot", [])

    def revert(self, snapshot: object) -> None:
        self._fees = None  # an earlier block may have had a higher base fee
        if not self._dev_request("evm_revert", [snapshot]):
            raise InvalidInputError(f"the node does not know snapshot {snapshot!r}")

    def _dev_request(self, method: str, params: list[Any]) -> Any:
        try:
            return self.request(method, params)
        except RpcError as err:
            raise ChainError(
                f"{method} is not available on {self._shown_url} ({err.message}); "
                "development controls need a development node such as anvil"
            ) from err

    def close(self) -> None:
        session = getattr(self._local, "session", None)
        if session is not None:
            session.close()

    def __repr__(self) -> str:
        return f"RpcBackend({self._shown_url!r}, chain_id={self._chain_id})"


class _TransientError(ChainUnavailableError):
    """The node was unreachable or asked to be asked again (``retry_after`` s, when it said)."""

    def __init__(self, url: str, detail: str, retry_after: float | None = None) -> None:
        super().__init__(url, detail)
        self.retry_after = retry_after


def _is_transient(err: BaseException) -> bool:
    return isinstance(err, _TransientError)


def _is_duplicate(err: RpcError) -> bool:
    message = err.message.lower()
    return any(text in message for text in _DUPLICATE_MESSAGES)


class RpcError(ChainError):
    """An error object returned by the node (kept as the cause of the typed error)."""

    def __init__(self, method: str, error: Any) -> None:
        error = error if isinstance(error, dict) else {"message": str(error)}
        self.method = method
        self.code = error.get("code")
        self.message = str(error.get("message", ""))
        data = error.get("data")
        if isinstance(data, dict):  # some nodes nest it
            data = data.get("data")
        self.revert_data = _bytes(data) if isinstance(data, str) and data.startswith("0x") else b""
        super().__init__(f"{method} failed: {self.message} (code {self.code})")

    def as_revert_or_chain_error(self) -> ChainError:
        """A revert becomes ContractRevertError; anything else stays a chain error."""
        message = self.message.lower()
        failed = any(text in message for text in ("revert", "out of gas", "evm error"))
        if self.revert_data or failed or self.code == 3:
            return revert_error(self.revert_data, self.message)
        return self


def _tag(block: int | None) -> str:
    return "latest" if block is None else hex(block)


def _bytes(value: str | None) -> bytes:
    return bytes.fromhex((value or "0x")[2:])


def _call_object(request: CallRequest) -> dict[str, str]:
    call = {"from": request.sender, "data": "0x" + request.data.hex(), "value": hex(request.value)}
    if request.to:
        call["to"] = request.to
    if request.gas is not None:
        call["gas"] = hex(request.gas)
    return call


def _log(raw: dict[str, Any]) -> Log:
    return Log(
        address=to_checksum_address(raw["address"]),
        topics=tuple(_bytes(t) for t in raw["topics"]),
        data=_bytes(raw["data"]),
        block_number=int(raw["blockNumber"], 16),
        tx_hash=_bytes(raw["transactionHash"]),
        log_index=int(raw["logIndex"], 16),
    )


def _receipt(raw: dict[str, Any]) -> Receipt:
    created = raw.get("contractAddress")
    revert = raw.get("revertData")  # the embedded chain's endpoint says why a transaction failed
    return Receipt(
        tx_hash=_bytes(raw["transactionHash"]),
        block_number=int(raw["blockNumber"], 16),
        gas_used=int(raw["gasUsed"], 16),
        status=int(raw.get("status", "0x1"), 16) == 1,
        contract_address=to_checksum_address(created) if created else None,
        logs=tuple(_log(log) for log in raw.get("logs", [])),
        revert_data=_bytes(revert) if isinstance(revert, str) and revert.startswith("0x") else None,
        failure=str(raw["failure"]) if revert is not None and raw.get("failure") else None,
        effective_gas_price=_quantity(raw.get("effectiveGasPrice")),
        **_l1_fee(raw),
    )


def _quantity(value: Any) -> int | None:
    """A hex quantity of a receipt, or None when absent or not one (nodes differ)."""
    if not isinstance(value, str) or not value.startswith("0x") or len(value) > 66:
        return None
    try:
        return int(value, 16)
    except ValueError:
        return None


def _l1_fee(raw: dict[str, Any]) -> dict[str, Any]:
    """The L1 data fee of a rollup receipt: OP stack ``l1Fee``, Arbitrum ``gasUsedForL1``."""
    if (l1_fee := _quantity(raw.get("l1Fee"))) is not None:
        return {"l1_fee": l1_fee}
    l1_gas, price = _quantity(raw.get("gasUsedForL1")), _quantity(raw.get("effectiveGasPrice"))
    if l1_gas is not None and price is not None:
        return {"l1_fee": l1_gas * price, "l1_fee_in_gas": True}
    return {}
