"""``Env``: the one object for "the chain I am talking to", whichever backend is behind it.

An Env owns the signing accounts and their nonces, turns calls into signed transactions,
deploys compiled contracts and hands out :class:`Contract` handles. Swap the backend (embedded
or rpc) and nothing above it changes.
"""

from __future__ import annotations

import threading
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

from eth_utils import is_address, to_checksum_address

from chainml._closing import Closing
from chainml.chain.abi import Function
from chainml.chain.accounts import Signer
from chainml.chain.backend import Block, CallRequest, ChainBackend, Log, LogFilter, Receipt
from chainml.chain.compiler import CompiledContract, compile_file
from chainml.chain.contract import Contract
from chainml.chain.fees import FeePolicy
from chainml.chain.revert import revert_error
from chainml.chain.tx_journal import Journal, journal_path
from chainml.chain.txmanager import TxManager
from chainml.errors import ChainError, ContractRevertError, InvalidInputError, NotFoundError


class Env(Closing):
    """A chain plus the accounts that act on it."""

    def __init__(
        self,
        backend: ChainBackend,
        signers: Sequence[Signer],
        data_dir: Path | None = None,
        *,
        fee_policy: FeePolicy | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.backend = backend
        self.data_dir = data_dir
        self._signers = {s.address: s for s in signers}
        # Without signers the Env is read-only: calls, logs and blocks work, transactions don't.
        self._default = signers[0].address if signers else None
        #: fee cap, budget, replacement and waiting rules of every transaction sent
        self.fee_policy = fee_policy or FeePolicy()
        self._clock = clock
        self._managers: dict[str, TxManager] = {}
        self._managers_guard = threading.Lock()

    # -- identity ------------------------------------------------------------------------

    @property
    def chain_id(self) -> int:
        """The chain's EIP-155 id."""
        return self.backend.chain_id

    @property
    def sender(self) -> str:
        """The default sending account."""
        if self._default is None:
            raise InvalidInputError(
                "this chain connection is read-only: no signing key is configured (set "
                "CHAINML_PRIVATE_KEY, or CHAINML_KEYSTORE and CHAINML_KEYSTORE_PASSWORD)"
            )
        return self._default

    @sender.setter
    def sender(self, address: str) -> None:
        self._default = self._signer(address).address

    @property
    def read_only(self) -> bool:
        """True when the Env holds no signing key."""
        return self._default is None

    @property
    def accounts(self) -> list[str]:
        """Addresses this Env can sign for; the first is the default sender."""
        return list(self._signers)

    def _signer(self, sender: str | None) -> Signer:
        address = self.sender if sender is None else _address(sender, "sender")
        try:
            return self._signers[address]
        except KeyError:
            raise InvalidInputError(f"no signing key for account {address}") from None

    def tx_manager(self, sender: str | None = None) -> TxManager:
        """The transaction manager of ``sender`` (default: the default sender)."""
        signer = self._signer(sender)
        with self._managers_guard:
            manager = self._managers.get(signer.address)
            if manager is None:
                # A node's pool can keep a transaction past a restart; the embedded chain
                # executes at once, so only the rpc backend needs the journal on disk.
                path = None
                if self.data_dir is not None and self.backend.kind == "rpc":
                    path = journal_path(self.data_dir, self.chain_id, signer.address)
                manager = TxManager(
                    self.backend, signer, self.fee_policy, Journal(path), self._clock
                )
                self._managers[signer.address] = manager
            return manager

    # -- contracts -----------------------------------------------------------------------

    def compile(self, path: Path | str) -> CompiledContract:
        """Compile a Vyper file, cached under the data directory."""
        cache = self.data_dir / "cache" / "vyper" if self.data_dir else None
        return compile_file(Path(path), cache)

    def deploy(
        self,
        compiled: CompiledContract,
        *args: Any,
        value: int = 0,
        gas: int | None = None,
        sender: str | None = None,
    ) -> Contract:
        """Deploy ``compiled`` with constructor ``args``; return its handle."""
        constructor = next((i for i in compiled.abi if i.get("type") == "constructor"), None)
        encoded = Function.from_abi(constructor).encode_arguments(args) if constructor else b""
        if args and constructor is None:
            raise InvalidInputError(f"{compiled.name} has no constructor; got {len(args)} args")
        receipt = self.transact(
            None, compiled.bytecode + encoded, value=value, gas=gas, sender=sender
        )
        if receipt.contract_address is None:
            raise ChainError(f"deploying {compiled.name} created no contract")
        return Contract(self, receipt.contract_address, compiled.abi, compiled.name, receipt)

    def at(self, address: str, compiled: CompiledContract) -> Contract:
        """A handle on an already deployed contract; there must be code at ``address``."""
        checked = _address(address, "contract address")
        if not self.backend.code(checked):
            raise NotFoundError(f"there is no contract at {checked} on chain {self.chain_id}")
        return Contract(self, checked, compiled.abi, compiled.name)

    # -- transactions and calls ----------------------------------------------------------

    def transact(
        self,
        to: str | None,
        data: bytes = b"",
        *,
        value: int = 0,
        gas: int | None = None,
        sender: str | None = None,
    ) -> Receipt:
        """Sign, send and wait for a transaction; a revert raises ContractRevertError.

        Without ``gas`` the node estimates it first, which also catches most reverts before
        any gas is spent. The account's :class:`TxManager` prices, sends, replaces and
        re-sends it (see :mod:`chainml.chain.txmanager`): over the fee cap or the budget
        nothing is sent (FeeCapExceededError, BudgetExceededError); not mined within the
        policy's ``wait_seconds``, TransactionTimeoutError, and it stays in flight.
        """
        signer = self._signer(sender)
        target = None if to is None else _address(to, "recipient")
        request = CallRequest(sender=signer.address, to=target, data=data, value=value, gas=gas)
        limit = gas if gas is not None else self.backend.estimate_gas(request)
        manager = self.tx_manager(signer.address)
        flight = manager.send(target, data, value, limit)
        receipt = manager.wait(flight.nonce, self.fee_policy.wait_seconds, flight.tx_hashes)
        if not receipt.status:
            raise self._explain_failure(request, limit, receipt)
        return receipt

    def _explain_failure(
        self, request: CallRequest, gas: int, receipt: Receipt
    ) -> ContractRevertError:
        """Say why a transaction failed: from the receipt, else by replaying it."""
        tx_hash = "0x" + receipt.tx_hash.hex()
        if receipt.revert_data is not None:
            return revert_error(receipt.revert_data, receipt.failure, tx_hash=tx_hash)
        # Replayed on the state before its block: exact when it was the block's first one.
        replay = CallRequest(request.sender, request.to, request.data, request.value, gas)
        try:
            self.backend.call(replay, block=receipt.block_number - 1)
        except ContractRevertError as err:
            return ContractRevertError(err.reason, data=err.data, tx_hash=tx_hash)
        return revert_error(b"", "failed, but succeeds when replayed", tx_hash=tx_hash)

    def call(
        self, to: str, data: bytes, *, sender: str | None = None, block: int | None = None
    ) -> bytes:
        """Execute a read-only call and return the raw output."""
        origin = self._signer(sender).address if sender or self._default else ZERO_ADDRESS
        request = CallRequest(sender=origin, to=_address(to, "contract address"), data=data)
        return self.backend.call(request, block=block)

    def balance(self, address: str | None = None) -> int:
        """Balance of ``address`` (default: the sender) in wei."""
        return self.backend.balance(_address(address or self.sender, "address"))

    def logs(self, log_filter: LogFilter) -> list[Log]:
        """Raw logs matching ``log_filter``."""
        return self.backend.get_logs(log_filter)

    # -- blocks and time -----------------------------------------------------------------

    @property
    def block_number(self) -> int:
        """Number of the latest block."""
        return self.backend.block().number

    def block(self, number: int | None = None) -> Block:
        """A block header (latest by default)."""
        return self.backend.block(number)

    def mine(self, blocks: int = 1) -> None:
        """Mine empty blocks (development chains)."""
        self.backend.mine(blocks)

    def advance_time(self, seconds: int) -> None:
        """Move the chain clock forward and mine a block that carries the new time."""
        self.backend.increase_time(seconds)
        self.backend.mine(1)

    @contextmanager
    def snapshot(self) -> Iterator[None]:
        """Run a block of code and then put the chain back as it was (tests use this)."""
        taken = self.backend.snapshot()
        try:
            yield
        finally:
            self.backend.revert(taken)
            for manager in list(self._managers.values()):
                manager.discard_in_flight()

    def anchor(self) -> AbstractContextManager[None]:
        """Deprecated alias of :meth:`snapshot` (titanoboa's name); removed in the next release.

        "Anchor" means publishing a log head on chain everywhere else in chainml.
        """
        warnings.warn(
            "Env.anchor() is deprecated; use Env.snapshot()", DeprecationWarning, stacklevel=2
        )
        return self.snapshot()

    def forget_nonces(self) -> None:
        """Kept for callers after a reorg; nonces come from the chain and journal each time."""

    # -- lifetime ------------------------------------------------------------------------

    def close(self) -> None:
        """Release the backend."""
        self.backend.close()

    def __repr__(self) -> str:
        return f"Env({self.backend!r}, sender={self._default or 'none (read-only)'})"


ZERO_ADDRESS = "0x" + "00" * 20


def _address(value: str, what: str) -> str:
    if not isinstance(value, str) or not is_address(value):
        raise InvalidInputError(f"{what} {value!r} is not an Ethereum address")
    return str(to_checksum_address(value))
