"""Ethereum JSON-RPC encodings: request parameters in (strictly checked), records out.

Every parameter is checked for what it must be (hex quantity, 32-byte hash, address, block
tag) and refused with :class:`~chainml.errors.InvalidInputError` otherwise; answers use the
field names and hex encodings geth and anvil use, so web3.py and cast read them unchanged.
"""

from __future__ import annotations

from typing import Any

from eth.abc import BlockHeaderAPI, SignedTransactionAPI
from eth_utils import is_address, to_checksum_address

from chainml.chain.backend import CallRequest, Log
from chainml.errors import InvalidInputError

ZERO_ADDRESS = "0x" + "00" * 20


# -- decoding parameters -------------------------------------------------------------------


def param(params: list[Any], index: int, *default: Any) -> Any:
    """Positional parameter ``index``, or ``default`` when it is absent (else an error)."""
    if index < len(params):
        return params[index]
    if default:
        return default[0]
    raise InvalidInputError(f"missing parameter {index}")


def quantity(value: Any) -> int:
    """A non-negative integer given as 0x-hex (at most 256 bits) or a JSON integer."""
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    if not isinstance(value, str) or not value.startswith("0x") or len(value) > 66:
        raise InvalidInputError(f"{value!r} is not a hex quantity")
    try:
        return int(value, 16)
    except ValueError:
        raise InvalidInputError(f"{value!r} is not a hex quantity") from None


def hex_bytes(value: Any) -> bytes:
    """0x-prefixed hex data as bytes."""
    if not isinstance(value, str) or not value.startswith("0x"):
        raise InvalidInputError("hex data starts with 0x")
    try:
        return bytes.fromhex(value[2:])
    except ValueError:
        raise InvalidInputError("malformed hex data") from None


def hash32(value: Any) -> bytes:
    """A 32-byte hash in 0x-hex."""
    data = hex_bytes(value)
    if len(data) != 32:
        raise InvalidInputError(f"a hash has 32 bytes, got {len(data)}")
    return data


def account(value: Any) -> str:
    """An address, checksummed."""
    if not isinstance(value, str) or not is_address(value):
        raise InvalidInputError(f"{value!r} is not an address")
    return str(to_checksum_address(value))


def block_tag(value: Any) -> int | None:
    """A block number, or None for the latest state (pending, safe, finalized: the same)."""
    if value in ("latest", "pending", "safe", "finalized"):
        return None
    if value == "earliest":
        return 0
    return quantity(value)


def block_or(value: Any, head: int) -> int:
    """A block parameter of a filter; a missing one or a latest tag means ``head``."""
    number = block_tag("latest" if value is None else value)
    return head if number is None else number


def topic_options(value: Any) -> tuple[bytes, ...] | None:
    """One position of a log filter's topics: any (None), one value or a list."""
    if value is None:
        return None
    if isinstance(value, list):
        return tuple(hash32(v) for v in value)
    return (hash32(value),)


def call_request(value: Any) -> CallRequest:
    """An ``eth_call``/``eth_estimateGas`` object (``input`` or ``data``)."""
    if not isinstance(value, dict):
        raise InvalidInputError("a call is an object")
    payload = value.get("input", value.get("data")) or "0x"
    to = value.get("to")
    gas = value.get("gas")
    return CallRequest(
        sender=account(value.get("from") or ZERO_ADDRESS),
        to=None if to is None else account(to),
        data=hex_bytes(payload),
        value=quantity(value.get("value") or "0x0"),
        gas=None if gas is None else quantity(gas),
    )


# -- encoding answers ----------------------------------------------------------------------


def effective_gas_price(tx: SignedTransactionAPI, header: BlockHeaderAPI) -> int:
    """What a transaction paid per gas in the block of ``header``."""
    base = int(header.base_fee_per_gas)
    return int(min(tx.max_fee_per_gas, base + tx.max_priority_fee_per_gas))


def transaction_json(
    tx: SignedTransactionAPI, header: BlockHeaderAPI, index: int
) -> dict[str, Any]:
    """A transaction as ``eth_getTransactionByHash`` answers it."""
    answer: dict[str, Any] = {
        "hash": "0x" + bytes(tx.hash).hex(),
        "nonce": hex(tx.nonce),
        "blockHash": "0x" + bytes(header.hash).hex(),
        "blockNumber": hex(header.block_number),
        "transactionIndex": hex(index),
        "from": to_checksum_address(tx.sender),
        "to": to_checksum_address(tx.to) if tx.to else None,
        "value": hex(tx.value),
        "gas": hex(tx.gas),
        "gasPrice": hex(effective_gas_price(tx, header)),
        "input": "0x" + bytes(tx.data).hex(),
        "type": hex(tx.type_id or 0),
        "chainId": hex(tx.chain_id) if tx.chain_id is not None else None,
        "v": hex(tx.y_parity),
        "yParity": hex(tx.y_parity),
        "r": hex(tx.r),
        "s": hex(tx.s),
    }
    if tx.type_id:
        answer["maxFeePerGas"] = hex(tx.max_fee_per_gas)
        answer["maxPriorityFeePerGas"] = hex(tx.max_priority_fee_per_gas)
        answer["accessList"] = [
            {"address": to_checksum_address(a), "storageKeys": [hex(k) for k in keys]}
            for a, keys in tx.access_list
        ]
    return answer


def log_json(log: Log, header: BlockHeaderAPI, tx_index: int) -> dict[str, Any]:
    """A log as ``eth_getLogs`` and receipts answer it."""
    return {
        "address": log.address,
        "topics": ["0x" + t.hex() for t in log.topics],
        "data": "0x" + log.data.hex(),
        "blockNumber": hex(log.block_number),
        "blockHash": "0x" + bytes(header.hash).hex(),
        "transactionHash": "0x" + log.tx_hash.hex(),
        "transactionIndex": hex(tx_index),
        "logIndex": hex(log.log_index),
        "removed": False,
    }
