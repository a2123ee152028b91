"""The JSON-RPC methods of the embedded chain: Ethereum's ``eth_*`` API over an EmbeddedBackend.

What :class:`chainml.chain.rpc.RpcBackend` calls, plus what web3.py, cast and wallets need
for ordinary use, plus anvil's development controls (``evm_mine``, ``evm_increaseTime``,
``evm_snapshot``, ``evm_revert``). The server never signs: ``eth_accounts`` is empty and
clients send raw signed transactions. Errors follow the conventions clients parse: a revert
is code 3 with the revert data, a rejected transaction says "nonce too low", "insufficient
funds" or "invalid chain id" as geth and anvil do.
"""

# ruff: noqa: N802 - a method is named after its JSON-RPC method (eth_getBalance)

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable
from typing import Any

from eth.abc import BlockHeaderAPI
from eth_bloom import BloomFilter  # type: ignore[attr-defined]
from eth_utils import to_checksum_address

from chainml import __version__
from chainml.chain.backend import LogFilter
from chainml.chain.embedded import EmbeddedBackend
from chainml.chain.rpc_codec import (
    ZERO_ADDRESS,
    account,
    block_or,
    block_tag,
    call_request,
    effective_gas_price,
    hash32,
    hex_bytes,
    log_json,
    param,
    quantity,
    topic_options,
    transaction_json,
)
from chainml.errors import (
    ChainMLError,
    ContractRevertError,
    InsufficientFundsError,
    InvalidInputError,
    NonceConflictError,
    NotFoundError,
    WrongChainIdError,
)

MAX_LOG_BLOCKS = 10_000  # blocks one eth_getLogs may scan


class RpcFault(Exception):  # noqa: N818 - the JSON-RPC error object, raised to the transport
    """A JSON-RPC error answer: ``code``, ``message`` and optional ``data``."""

    def __init__(self, code: int, message: str, data: str | None = None) -> None:
        self.code, self.message, self.data = code, message, data
        super().__init__(message)

    def as_json(self) -> dict[str, Any]:
        """The ``error`` member of the answer."""
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.data is not None:
            error["data"] = self.data
        return error


class EthMethods:
    """Dispatches one JSON-RPC call to the backend and encodes the answer."""

    def __init__(self, backend: EmbeddedBackend) -> None:
        self.backend = backend
        self._snapshots: dict[str, object] = {}
        self._snapshot_ids = itertools.count(1)
        self._snapshot_lock = threading.Lock()
        self._table: dict[str, Callable[[list[Any]], Any]] = {
            name.removeprefix("_rpc_"): getattr(self, name)
            for name in dir(self)
            if name.startswith("_rpc_")
        }

    def call(self, method: str, params: list[Any]) -> Any:
        """The result of ``method``; a failure raises :class:`RpcFault`."""
        handler = self._table.get(method)
        if handler is None:
            raise RpcFault(-32601, f"the method {method} does not exist/is not available")
        try:
            return handler(params)
        except RpcFault:
            raise
        except ContractRevertError as err:
            raise RpcFault(3, str(err), "0x" + err.data.hex()) from err
        except NonceConflictError as err:
            expected = self.backend.nonce(err.sender)
            side = "low" if err.nonce < expected else "high"
            raise RpcFault(-32003, f"nonce too {side}: {err}") from err
        except InsufficientFundsError as err:
            raise RpcFault(-32003, f"insufficient funds for gas * price + value: {err}") from err
        except WrongChainIdError as err:
            raise RpcFault(-32003, f"invalid chain id: {err}") from err
        except InvalidInputError as err:
            raise RpcFault(-32602, str(err)) from err
        except ChainMLError as err:
            raise RpcFault(-32000, str(err)) from err

    def _at(self, value: Any) -> int | None:
        """A block parameter: a tag, a number, or an EIP-1898 object (number or hash)."""
        if isinstance(value, dict) and "blockHash" in value:
            header = self.backend.header_by_hash(hash32(value["blockHash"]))
            if header is None:
                raise InvalidInputError(f"no canonical block {value['blockHash']}")
            return int(header.block_number)
        if isinstance(value, dict) and "blockNumber" in value:
            return block_tag(value["blockNumber"])
        return block_tag(value)

    # -- identity --------------------------------------------------------------------------

    def _rpc_eth_chainId(self, params: list[Any]) -> str:
        return hex(self.backend.chain_id)

    def _rpc_net_version(self, params: list[Any]) -> str:
        return str(self.backend.chain_id)

    def _rpc_net_listening(self, params: list[Any]) -> bool:
        return True

    def _rpc_web3_clientVersion(self, params: list[Any]) -> str:
        return f"chainml/{__version__}/embedded-py-evm"

    def _rpc_eth_syncing(self, params: list[Any]) -> bool:
        return False

    def _rpc_eth_accounts(self, params: list[Any]) -> list[str]:
        return []  # the server signs nothing: clients hold their keys

    def _rpc_eth_coinbase(self, params: list[Any]) -> str:
        return ZERO_ADDRESS

    # -- state -----------------------------------------------------------------------------

    def _rpc_eth_blockNumber(self, params: list[Any]) -> str:
        return hex(self.backend.block().number)

    def _rpc_eth_getBalance(self, params: list[Any]) -> str:
        address, block = (
            account(param(params, 0)),
            self._at(param(params, 1, "latest")),
        )
        return hex(self.backend.balance(address, block))

    def _rpc_eth_getTransactionCount(self, params: list[Any]) -> str:
        address, block = (
            account(param(params, 0)),
            self._at(param(params, 1, "latest")),
        )
        return hex(self.backend.nonce(address, block))

    def _rpc_eth_getCode(self, params: list[Any]) -> str:
        address, block = (
            account(param(params, 0)),
            self._at(param(params, 1, "latest")),
        )
        return "0x" + self.backend.code(address, block).hex()

    def _rpc_eth_getStorageAt(self, params: list[Any]) -> str:
        address, slot = (
            account(param(params, 0)),
            quantity(param(params, 1)),
        )
        value = self.backend.storage(address, slot, self._at(param(params, 2, "latest")))
        return "0x" + value.to_bytes(32, "big").hex()

    def _rpc_eth_call(self, params: list[Any]) -> str:
        request = call_request(param(params, 0))
        return "0x" + self.backend.call(request, self._at(param(params, 1, "latest"))).hex()

    def _rpc_eth_estimateGas(self, params: list[Any]) -> str:
        return hex(self.backend.estimate_gas(call_request(param(params, 0))))

    # -- fees ------------------------------------------------------------------------------

    def _rpc_eth_gasPrice(self, params: list[Any]) -> str:
        return hex(self.backend.fees()[0])

    def _rpc_eth_maxPriorityFeePerGas(self, params: list[Any]) -> str:
        return hex(self.backend.fees()[1])

    def _rpc_eth_feeHistory(self, params: list[Any]) -> dict[str, Any]:
        count = min(quantity(param(params, 0)), 1024)
        newest = self._at(param(params, 1, "latest"))
        last = self.backend.block(newest).number
        first = max(0, last - count + 1)
        headers = [self.backend.header(n) for n in range(first, last + 1)]
        percentiles = param(params, 2, None) or []
        return {
            "oldestBlock": hex(first),
            "baseFeePerGas": [hex(h.base_fee_per_gas) for h in headers]
            + [hex(self.backend.next_base_fee())],
            "gasUsedRatio": [h.gas_used / h.gas_limit for h in headers],
            "reward": [["0x0"] * len(percentiles) for _ in headers],
        }

    # -- transactions ----------------------------------------------------------------------

    def _rpc_eth_sendRawTransaction(self, params: list[Any]) -> str:
        return "0x" + self.backend.send_raw_transaction(hex_bytes(param(params, 0))).hex()

    def _rpc_eth_getTransactionReceipt(self, params: list[Any]) -> dict[str, Any] | None:
        tx_hash = hash32(param(params, 0))
        located = self.backend.locate(tx_hash)
        if located is None:
            return None
        tx, number, index = located
        header = self.backend.header(number)
        receipts = [
            self.backend.wait_for_receipt(bytes(t.hash))
            for t in self.backend.block_transactions(number)[: index + 1]
        ]
        receipt = receipts[-1]
        bloom = BloomFilter()
        for log in receipt.logs:
            bloom.add(bytes.fromhex(log.address[2:]))
            for topic in log.topics:
                bloom.add(topic)
        answer = {
            "transactionHash": "0x" + tx_hash.hex(),
            "transactionIndex": hex(index),
            "blockHash": "0x" + bytes(header.hash).hex(),
            "blockNumber": hex(number),
            "from": to_checksum_address(tx.sender),
            "to": to_checksum_address(tx.to) if tx.to else None,
            "cumulativeGasUsed": hex(sum(r.gas_used for r in receipts)),
            "gasUsed": hex(receipt.gas_used),
            "effectiveGasPrice": hex(effective_gas_price(tx, header)),
            "contractAddress": receipt.contract_address,
            "logs": [log_json(log, header, index) for log in receipt.logs],
            "logsBloom": "0x" + int(bloom).to_bytes(256, "big").hex(),
            "status": "0x1" if receipt.status else "0x0",
            "type": hex(tx.type_id or 0),
        }
        if receipt.revert_data is not None:  # chainml's RpcBackend reads these; others ignore
            answer["revertData"] = "0x" + receipt.revert_data.hex()
            answer["failure"] = receipt.failure
        return answer

    def _rpc_eth_getTransactionByHash(self, params: list[Any]) -> dict[str, Any] | None:
        located = self.backend.locate(hash32(param(params, 0)))
        if located is None:
            return None
        tx, number, index = located
        return transaction_json(tx, self.backend.header(number), index)

    # -- blocks and logs -------------------------------------------------------------------

    def _rpc_eth_getBlockByNumber(self, params: list[Any]) -> dict[str, Any] | None:
        try:
            header = self.backend.header(self._at(param(params, 0)))
        except NotFoundError:
            return None
        return self._block_json(header, bool(param(params, 1, False)))

    def _rpc_eth_getBlockByHash(self, params: list[Any]) -> dict[str, Any] | None:
        header = self.backend.header_by_hash(hash32(param(params, 0)))
        return None if header is None else self._block_json(header, bool(param(params, 1)))

    def _block_json(self, header: BlockHeaderAPI, full: bool) -> dict[str, Any]:
        txs = self.backend.block_transactions(header.block_number)
        answer = {
            "number": hex(header.block_number),
            "hash": "0x" + bytes(header.hash).hex(),
            "parentHash": "0x" + bytes(header.parent_hash).hex(),
            "sha3Uncles": "0x" + bytes(header.uncles_hash).hex(),
            "miner": to_checksum_address(header.coinbase),
            "stateRoot": "0x" + bytes(header.state_root).hex(),
            "transactionsRoot": "0x" + bytes(header.transaction_root).hex(),
            "receiptsRoot": "0x" + bytes(header.receipt_root).hex(),
            "logsBloom": "0x" + int(header.bloom).to_bytes(256, "big").hex(),
            "difficulty": hex(header.difficulty),
            "totalDifficulty": "0x0",
            "gasLimit": hex(header.gas_limit),
            "gasUsed": hex(header.gas_used),
            "timestamp": hex(header.timestamp),
            "extraData": "0x" + bytes(header.extra_data).hex(),
            "mixHash": "0x" + bytes(header.mix_hash).hex(),
            "nonce": "0x" + bytes(header.nonce).hex(),
            "baseFeePerGas": hex(header.base_fee_per_gas),
            "uncles": [],
            "withdrawals": [],
            "transactions": [
                transaction_json(tx, header, i) if full else "0x" + bytes(tx.hash).hex()
                for i, tx in enumerate(txs)
            ],
        }
        for name, field in (
            ("withdrawalsRoot", "withdrawals_root"),
            ("parentBeaconBlockRoot", "parent_beacon_block_root"),
            ("requestsHash", "requests_hash"),
        ):
            value = getattr(header, field, None)
            if value is not None:
                answer[name] = "0x" + bytes(value).hex()
        for name, field in (("blobGasUsed", "blob_gas_used"), ("excessBlobGas", "excess_blob_gas")):
            value = getattr(header, field, None)
            if value is not None:
                answer[name] = hex(value)
        return answer

    def _rpc_eth_getLogs(self, params: list[Any]) -> list[dict[str, Any]]:
        query = param(params, 0)
        if not isinstance(query, dict):
            raise InvalidInputError("eth_getLogs takes a filter object")
        if query.get("blockHash") is not None:
            header = self.backend.header_by_hash(hash32(query["blockHash"]))
            if header is None:
                raise InvalidInputError("unknown block hash")
            first = last = header.block_number
        else:
            head = self.backend.block().number
            first = block_or(query.get("fromBlock"), head)
            last = block_or(query.get("toBlock"), head)
        if last - first >= MAX_LOG_BLOCKS:
            raise InvalidInputError(f"eth_getLogs spans at most {MAX_LOG_BLOCKS} blocks")
        addresses = query.get("address") or []
        addresses = [addresses] if isinstance(addresses, str) else addresses
        topics = query.get("topics") or []
        if not isinstance(addresses, list) or not isinstance(topics, list):
            raise InvalidInputError("address and topics are strings or lists")
        log_filter = LogFilter(
            addresses=tuple(account(a) for a in addresses),
            topics=tuple(topic_options(t) for t in topics),
            from_block=first,
            to_block=last,
        )
        logs = self.backend.get_logs(log_filter)
        headers: dict[int, BlockHeaderAPI] = {}
        answer = []
        for log in logs:
            header = headers.get(log.block_number)
            if header is None:
                header = headers[log.block_number] = self.backend.header(log.block_number)
            located = self.backend.locate(log.tx_hash)
            answer.append(log_json(log, header, located[2] if located else 0))
        return answer

    # -- development controls (anvil's names) ----------------------------------------------

    def _rpc_evm_mine(self, params: list[Any]) -> str:
        self.backend.mine(1)
        return "0x0"

    def _rpc_evm_increaseTime(self, params: list[Any]) -> str:
        seconds = quantity(param(params, 0))
        self.backend.increase_time(seconds)
        return hex(seconds)

    def _rpc_evm_snapshot(self, params: list[Any]) -> str:
        snapshot = self.backend.snapshot()
        with self._snapshot_lock:
            key = hex(next(self._snapshot_ids))
            self._snapshots[key] = snapshot
        return key

    def _rpc_evm_revert(self, params: list[Any]) -> bool:
        key = param(params, 0)
        key = hex(key) if isinstance(key, int) else key
        with self._snapshot_lock:
            snapshot = self._snapshots.get(key) if isinstance(key, str) else None
            if snapshot is None:
                return False
            # as on anvil, a revert forgets that snapshot and every later one
            for later in [k for k in self._snapshots if int(k, 16) >= int(key, 16)]:
                del self._snapshots[later]
        self.backend.revert(snapshot)
        return True
