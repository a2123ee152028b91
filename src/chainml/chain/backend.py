"""The plug-in point between chainml and an EVM: the ``ChainBackend`` interface and its records.

Two implementations exist: :mod:`chainml.chain.embedded` (an in-process py-evm chain kept in
the data directory) and :mod:`chainml.chain.rpc` (any JSON-RPC node). Both speak in the
plain records below (bytes for hashes and data, checksummed strings for addresses) so that
everything above them, :class:`chainml.chain.Env` first, is backend-agnostic.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field

from chainml.chain.fees import FeeHistory
from chainml.errors import NotFoundError, TransactionTimeoutError


@dataclass(frozen=True)
class Log:
    """One event emitted by a contract."""

    address: str
    topics: tuple[bytes, ...]
    data: bytes
    block_number: int
    tx_hash: bytes
    log_index: int


@dataclass(frozen=True)
class Receipt:
    """The outcome of a mined transaction."""

    tx_hash: bytes
    block_number: int
    gas_used: int
    status: bool
    contract_address: str | None
    logs: tuple[Log, ...] = ()
    # Why a failed transaction failed, when the backend knows without a replay (the embedded
    # chain does): the revert data and the EVM's own message.
    revert_data: bytes | None = field(default=None, repr=False)
    failure: str | None = None
    # What the sender paid per gas (the receipt's effectiveGasPrice), when the backend says.
    effective_gas_price: int | None = None
    # On rollups, the part of the fee paid for publishing the transaction's data on L1, wei:
    # OP stack charges it on top of gas (receipt ``l1Fee``); Arbitrum charges it as extra L2
    # gas already inside ``gas_used`` (receipt ``gasUsedForL1``), so ``l1_fee_in_gas``.
    l1_fee: int | None = None
    l1_fee_in_gas: bool = False

    @property
    def cost(self) -> int | None:
        """Wei the sender paid for this transaction (execution and L1 data), if known."""
        if self.effective_gas_price is None:
            return None
        extra = 0 if self.l1_fee is None or self.l1_fee_in_gas else self.l1_fee
        return self.gas_used * self.effective_gas_price + extra


@dataclass(frozen=True)
class Block:
    """The header fields chainml uses."""

    number: int
    hash: bytes
    timestamp: int
    base_fee: int
    gas_limit: int
    gas_used: int


@dataclass(frozen=True)
class CallRequest:
    """A message call (read-only or for gas estimation)."""

    sender: str
    to: str | None
    data: bytes
    value: int = 0
    gas: int | None = None


@dataclass(frozen=True)
class LogFilter:
    """Which logs to fetch: addresses, topic positions (each None or a set of values), blocks."""

    addresses: tuple[str, ...] = ()
    topics: tuple[tuple[bytes, ...] | None, ...] = ()
    from_block: int = 0
    to_block: int | None = None

    def matches(self, log: Log) -> bool:
        """Apply the filter to one log with the JSON-RPC ``eth_getLogs`` semantics."""
        if self.addresses and log.address.lower() not in {a.lower() for a in self.addresses}:
            return False
        if len(self.topics) > len(log.topics):
            return False
        return all(
            wanted is None or have in wanted
            for wanted, have in zip(self.topics, log.topics, strict=False)
        )


class ChainBackend(ABC):
    """What chainml needs from an EVM chain."""

    #: "embedded" or "rpc"
    kind: str

    @property
    @abstractmethod
    def chain_id(self) -> int:
        """The EIP-155 chain id."""

    @property
    @abstractmethod
    def location(self) -> str:
        """Where the chain lives: a data directory or a node URL (never with credentials)."""

    @abstractmethod
    def send_raw_transaction(self, raw: bytes) -> bytes:
        """Submit a signed transaction; return its hash."""

    @abstractmethod
    def wait_for_receipt(self, tx_hash: bytes, timeout: float = 120.0) -> Receipt:
        """Return the receipt of a transaction, waiting for it to be mined."""

    @abstractmethod
    def call(self, request: CallRequest, block: int | None = None) -> bytes:
        """Execute a call without a transaction; raises ContractRevertError on revert."""

    @abstractmethod
    def estimate_gas(self, request: CallRequest) -> int:
        """A gas limit that lets ``request`` succeed; raises ContractRevertError on revert."""

    @abstractmethod
    def fees(self) -> tuple[int, int]:
        """Suggested (max fee per gas, max priority fee per gas) for the next block."""

    @abstractmethod
    def nonce(self, address: str) -> int:
        """The next nonce of ``address``, counting pending transactions."""

    @abstractmethod
    def balance(self, address: str) -> int:
        """Balance in wei."""

    @abstractmethod
    def code(self, address: str) -> bytes:
        """Deployed runtime bytecode (empty for an account without code)."""

    @abstractmethod
    def block(self, number: int | None = None) -> Block:
        """A block header by number, or the latest one."""

    @abstractmethod
    def get_logs(self, log_filter: LogFilter) -> list[Log]:
        """Logs in the filter's block range, in chain order."""

    @abstractmethod
    def mine(self, blocks: int = 1) -> None:
        """Mine empty blocks (development chains only)."""

    @abstractmethod
    def increase_time(self, seconds: int) -> None:
        """Move the clock of future blocks forward (development chains only)."""

    @abstractmethod
    def snapshot(self) -> object:
        """Remember the current state; pass the result to :meth:`revert`."""

    @abstractmethod
    def revert(self, snapshot: object) -> None:
        """Return to a state remembered by :meth:`snapshot`."""

    # -- for the transaction manager: defaults that fit a chain that mines at once ---------

    def fee_history(self, blocks: int, percentile: float) -> FeeHistory:
        """The next base fee and the ``percentile`` tip of recent blocks (``eth_feeHistory``).

        By default from :meth:`fees`, whose max fee is twice the base fee plus the tip.
        """
        max_fee, tip = self.fees()
        return FeeHistory(next_base_fee=(max_fee - tip) // 2, tips=(tip,))

    def receipt(self, tx_hash: bytes) -> Receipt | None:
        """The receipt of ``tx_hash`` if it is mined, else None (no waiting)."""
        try:
            return self.wait_for_receipt(tx_hash, 0.0)
        except (NotFoundError, TransactionTimeoutError):
            return None

    def has_transaction(self, tx_hash: bytes) -> bool:
        """Whether the node knows ``tx_hash`` (in its pool or mined); by default it does."""
        return True

    def confirmed_nonce(self, address: str) -> int:
        """The next nonce of ``address`` counting mined transactions only."""
        return self.nonce(address)

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release files, connections and processes held by the backend."""
