"""Revert data into reasons: ``Error(string)``, ``Panic(uint256)`` and raw custom errors."""

from __future__ import annotations

from eth_abi import decode
from eth_abi.exceptions import DecodingError

from chainml.errors import ContractRevertError

ERROR_SELECTOR = bytes.fromhex("08c379a0")  # Error(string), what Vyper's assert emits
PANIC_SELECTOR = bytes.fromhex("4e487b71")  # Panic(uint256)

_PANIC_CODES = {
    0x01: "assertion failed",
    0x11: "arithmetic overflow or underflow",
    0x12: "division or modulo by zero",
    0x21: "invalid enum value",
    0x31: "pop on empty array",
    0x32: "array index out of bounds",
    0x41: "out of memory",
    0x51: "call to an uninitialised function",
}


def revert_reason(data: bytes) -> str | None:
    """Decode a human-readable reason from revert data, or None when there is none."""
    try:
        if data[:4] == ERROR_SELECTOR:
            return str(decode(["string"], data[4:])[0])
        if data[:4] == PANIC_SELECTOR:
            code = int(decode(["uint256"], data[4:])[0])
            return f"panic 0x{code:02x}: {_PANIC_CODES.get(code, 'unknown panic code')}"
    except (DecodingError, OverflowError, UnicodeDecodeError):
        return None
    return None


def revert_error(
    data: bytes, fallback: str | None = None, tx_hash: str | None = None
) -> ContractRevertError:
    """Build the ContractRevertError for revert ``data`` (fallback: the node's own message)."""
    reason = revert_reason(data)
    if reason is None and not data and fallback:
        reason = fallback
    return ContractRevertError(reason, data=data, tx_hash=tx_hash)
