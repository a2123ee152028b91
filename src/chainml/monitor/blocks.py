"""Full blocks (header, transactions, receipts) read from an embedded chain or a JSON-RPC node."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Protocol

from eth_utils import to_checksum_address

from chainml.chain.backend import ChainBackend, Receipt
from chainml.chain.rpc import _receipt as decode_receipt
from chainml.errors import ChainError, ChainUnavailableError, NotFoundError

#: concurrent JSON-RPC requests when catching up on a node (the node does the work)
FETCH_THREADS = 4


@dataclass(frozen=True)
class ChainTx:
    """The fields of one transaction the monitor scores."""

    hash: bytes
    sender: str
    to: str | None  # None for a contract creation
    value: int
    gas: int
    data: bytes
    nonce: int


@dataclass(frozen=True)
class ChainBlock:
    """A block with its transactions and their receipts, in order."""

    number: int
    hash: bytes
    parent_hash: bytes
    timestamp: int
    txs: tuple[ChainTx, ...]
    receipts: tuple[Receipt, ...]


class BlockSource(Protocol):
    """Where blocks come from."""

    def head(self) -> int:
        """The number of the latest block."""

    def block(self, number: int) -> ChainBlock:
        """Block ``number`` of the canonical chain, in full."""

    def block_hash(self, number: int) -> bytes | None:
        """The hash of canonical block ``number``, None if there is none (yet)."""

    def blocks(self, numbers: range) -> list[ChainBlock]:
        """Blocks ``numbers`` in full, in order."""


def source_for(backend: ChainBackend) -> BlockSource:
    """The block source of ``backend`` (embedded chain or JSON-RPC node)."""
    from chainml.chain.embedded import EmbeddedBackend
    from chainml.chain.rpc import RpcBackend

    if isinstance(backend, EmbeddedBackend):
        return EmbeddedSource(backend)
    if isinstance(backend, RpcBackend):
        return RpcSource(backend)
    raise ChainError(f"the monitor cannot read blocks from a {backend.kind} backend")


class EmbeddedSource:
    """Blocks of the in-process py-evm chain, read without JSON-RPC."""

    def __init__(self, backend: Any) -> None:
        self.backend = backend

    def head(self) -> int:
        """The number of the latest block."""
        number: int = self.backend.block().number
        return number

    def block_hash(self, number: int) -> bytes | None:
        """The hash of canonical block ``number``, None if there is none (yet)."""
        try:
            return bytes(self.backend.header(number).hash)
        except NotFoundError:
            return None

    def blocks(self, numbers: range) -> list[ChainBlock]:
        """Blocks ``numbers`` in full, in order (one at a time: py-evm reads hold one lock)."""
        return [self.block(n) for n in numbers]

    def block(self, number: int) -> ChainBlock:
        """Block ``number`` of the canonical chain, in full."""
        header = self.backend.header(number)
        txs = tuple(
            ChainTx(
                hash=bytes(tx.hash),
                sender=to_checksum_address(tx.sender),
                to=to_checksum_address(tx.to) if tx.to else None,
                value=int(tx.value),
                gas=int(tx.gas),
                data=bytes(tx.data),
                nonce=int(tx.nonce),
            )
            for tx in self.backend.block_transactions(number)
        )
        receipts = tuple(self.backend.wait_for_receipt(tx.hash, 0.0) for tx in txs)
        return ChainBlock(
            number=number,
            hash=bytes(header.hash),
            parent_hash=bytes(header.parent_hash),
            timestamp=int(header.timestamp),
            txs=txs,
            receipts=receipts,
        )


class RpcSource:
    """Blocks of a JSON-RPC node (``eth_getBlockByNumber`` with transactions, then receipts)."""

    def __init__(self, backend: Any) -> None:
        self.backend = backend
        self._block_receipts_method = True  # until the node says it has no eth_getBlockReceipts

    def head(self) -> int:
        """The number of the latest block."""
        return int(self.backend.request("eth_blockNumber", []), 16)

    def block_hash(self, number: int) -> bytes | None:
        """The hash of canonical block ``number``, None if there is none (yet)."""
        raw = self.backend.request("eth_getBlockByNumber", [hex(number), False])
        return None if raw is None else _hex(raw["hash"])

    def blocks(self, numbers: range) -> list[ChainBlock]:
        """Blocks ``numbers`` in full, in order, fetched by a few concurrent requests."""
        if len(numbers) <= 1:
            return [self.block(n) for n in numbers]
        with ThreadPoolExecutor(max_workers=min(FETCH_THREADS, len(numbers))) as pool:
            return list(pool.map(self.block, numbers))

    def block(self, number: int) -> ChainBlock:
        """Block ``number`` of the canonical chain, in full."""
        raw = self.backend.request("eth_getBlockByNumber", [hex(number), True])
        if raw is None:
            raise ChainError(f"block {number} does not exist on {self.backend.location}")
        txs = tuple(_rpc_tx(t) for t in raw["transactions"])
        receipts = self._block_receipts(number, raw["hash"], txs)
        return ChainBlock(
            number=number,
            hash=_hex(raw["hash"]),
            parent_hash=_hex(raw["parentHash"]),
            timestamp=int(raw["timestamp"], 16),
            txs=txs,
            receipts=receipts,
        )

    def _block_receipts(
        self, number: int, block_hash: str, txs: tuple[ChainTx, ...]
    ) -> tuple[Receipt, ...]:
        """One ``eth_getBlockReceipts`` where the node has it, else one request per transaction."""
        if self._block_receipts_method and txs:
            try:
                raw = self.backend.request("eth_getBlockReceipts", [block_hash])
            except ChainUnavailableError:
                raise
            except ChainError:
                self._block_receipts_method = False
            else:
                if isinstance(raw, list) and len(raw) == len(txs):
                    return tuple(decode_receipt(r) for r in raw)
        receipts = []
        for tx in txs:
            receipt = self.backend.receipt(tx.hash)
            if receipt is None:
                raise ChainError(f"no receipt for {tx.hash.hex()} in block {number}")
            receipts.append(receipt)
        return tuple(receipts)


def _hex(text: str) -> bytes:
    return bytes.fromhex(text.removeprefix("0x"))


def _rpc_tx(raw: dict[str, Any]) -> ChainTx:
    to = raw.get("to")
    return ChainTx(
        hash=_hex(raw["hash"]),
        sender=to_checksum_address(raw["from"]),
        to=to_checksum_address(to) if to else None,
        value=int(raw["value"], 16),
        gas=int(raw["gas"], 16),
        data=_hex(raw.get("input") or raw.get("data") or "0x"),
        nonce=int(raw["nonce"], 16),
    )
