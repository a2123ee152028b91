"""The embedded chain: an in-process py-evm chain whose state lives in the data directory.

A transaction is executed at once on top of the open block and its receipt returned as soon
as the raw transaction is in the durable journal (see :mod:`chainml.chain.kvstore`); if the
journal write fails, the transaction is undone and never reported. The open block is sealed
(state root, tries, header) when it is full, a second old, or when a read needs a sealed
view (a block, logs, a receipt's block); reads seal in memory only and never write: the
next write commits that block, and clears the journal, in one SQLite transaction. Sealing
once for many transactions is what makes this backend fast; the journal is what makes it
safe: after ``kill -9`` the next open re-executes the journalled transactions on the same
block template (the same block, hash for hash), so every acknowledged transaction is there.
Opening never replays sealed history, so restart time does not grow with it.

One process writes a data directory (see :mod:`chainml.chain.ownership`): the backend takes
the directory's lock when it opens, and refuses to open a directory another live process
owns. A directory this process cannot write is opened read-only: reads work, writes raise
:class:`DataDirectoryError`.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections import OrderedDict
from pathlib import Path
from typing import TYPE_CHECKING

from eth import constants
from eth.abc import BlockHeaderAPI, SignedTransactionAPI, StateAPI
from eth.chains.base import MiningChain
from eth.db.atomic import AtomicDB
from eth.exceptions import HeaderNotFound, ReceiptNotFound, TransactionNotFound
from eth_utils import ValidationError, to_canonical_address, to_checksum_address
from rlp.exceptions import RLPException

from chainml.chain import pyevm_calls
from chainml.chain.accounts import Signer, load_or_create_mnemonic, signers_from_mnemonic
from chainml.chain.backend import Block, CallRequest, ChainBackend, Log, LogFilter, Receipt
from chainml.chain.kvstore import SqliteKV
from chainml.chain.ownership import (
    Owner,
    OwnerLock,
    current_owner,
    ensure_data_directory,
    take_ownership,
)
from chainml.chain.pyevm_blocks import (
    OpenBlock,
    chain_class,
    log_from,
    receipt_from,
    rewind_canonical_chain,
)
from chainml.errors import (
    ChainError,
    DataDirectoryBusyError,
    DataDirectoryError,
    InsufficientFundsError,
    InvalidInputError,
    NonceConflictError,
    NotFoundError,
    WrongChainIdError,
)

if TYPE_CHECKING:
    from chainml.chain.rpc_server import RpcServer

EMBEDDED_CHAIN_ID = 1337
GAS_LIMIT = 30_000_000
DEV_BALANCE = 10_000 * 10**18
FORMAT_VERSION = "1"
MAX_BLOCK_TRANSACTIONS = 1_000
MAX_BLOCK_AGE = 1.0  # seconds an open block may wait before the next transaction seals it
_RECENT_RECEIPTS = 20_000  # more than a full block, so one block's lookups share a decode

# Backends opened through :meth:`EmbeddedBackend.shared`, by resolved data directory: a
# second ``connect`` in the same process shares the owner instead of being refused.
_SHARED: dict[Path, EmbeddedBackend] = {}
_SHARED_LOCK = threading.Lock()


class EmbeddedBackend(ChainBackend):
    """A py-evm chain persisted under ``data_dir``; safe to share between threads."""

    kind = "embedded"

    def __init__(self, data_dir: Path, *, durability: str = "normal") -> None:
        self.data_dir = data_dir
        ensure_data_directory(data_dir)
        db_path = data_dir / "chain.sqlite"
        owned = take_ownership(data_dir)
        if isinstance(owned, Owner):
            raise DataDirectoryBusyError(str(data_dir), owned.pid, url=owned.url)
        fresh = not db_path.exists()  # asked as the owner: nobody creates it meanwhile
        writable = os.access(data_dir, os.W_OK) and (fresh or os.access(db_path, os.W_OK))
        if owned is not None and not writable:
            owned.close()  # a lock file we may write, but not the chain's files
            owned = None
        if owned is None and (live := current_owner(data_dir)) and live.url is not None:
            # read-only here, but a live owner serves it: its view is the current one
            raise DataDirectoryBusyError(str(data_dir), live.pid, url=live.url)
        self._owner: OwnerLock | None = owned
        self.read_only = owned is None
        self._server: RpcServer | None = None
        self._users = 1
        try:
            if self.read_only and fresh:
                raise DataDirectoryError(
                    str(data_dir), "is read-only for this process and holds no chain yet"
                )
            self.signers: list[Signer] = signers_from_mnemonic(
                load_or_create_mnemonic(data_dir / "mnemonic", create=fresh)
            )
            self._kv = SqliteKV(
                db_path,
                synchronous="FULL" if durability == "full" else "NORMAL",
                read_only=self.read_only,
            )
            self._lock = threading.RLock()
            self._recent: OrderedDict[bytes, Receipt] = OrderedDict()
            self._unflushed = False  # a block sealed in memory by a read, not yet committed
            if fresh or self._kv.get_meta("format") is None:
                self._require_writable()
                self._chain = self._create_genesis()
            else:
                self._chain = self._open_existing()
            self._block: OpenBlock | None = None
            self._recover_journal()
        except BaseException:
            if hasattr(self, "_kv"):
                self._kv.close()
            if owned is not None:
                owned.close()
            raise

    @classmethod
    def shared(cls, data_dir: Path, *, durability: str = "normal") -> EmbeddedBackend:
        """The backend of ``data_dir``, shared with any other user in this process.

        Each call must be paired with a :meth:`close`; the last one closes the backend.
        """
        key = data_dir.resolve()
        with _SHARED_LOCK:
            backend = _SHARED.get(key)
            if backend is not None:
                backend._users += 1
                return backend
            backend = _SHARED[key] = cls(data_dir, durability=durability)
            return backend

    # -- opening -------------------------------------------------------------------------

    def _create_genesis(self) -> MiningChain:
        genesis_params = {
            "difficulty": 0,
            "gas_limit": GAS_LIMIT,
            "timestamp": int(time.time()),
            "coinbase": constants.ZERO_ADDRESS,
            "nonce": constants.POST_MERGE_NONCE,
            "mix_hash": constants.POST_MERGE_MIX_HASH,
            "extra_data": b"chainml",
        }
        funded = {"balance": DEV_BALANCE, "nonce": 0, "code": b"", "storage": {}}
        state = {signer.canonical_address: dict(funded) for signer in self.signers}
        chain = chain_class(EMBEDDED_CHAIN_ID).from_genesis(
            AtomicDB(self._kv), genesis_params, state
        )
        self._kv.commit(
            {"format": FORMAT_VERSION, "chain_id": str(EMBEDDED_CHAIN_ID), "time_offset": "0"}
        )
        return chain

    def _open_existing(self) -> MiningChain:
        if self._kv.get_meta("format") != FORMAT_VERSION:
            raise DataDirectoryError(
                str(self.data_dir), f"unknown chain format {self._kv.get_meta('format')!r}"
            )
        chain_id = int(self._kv.get_meta("chain_id") or EMBEDDED_CHAIN_ID)
        try:
            chain = chain_class(chain_id)(AtomicDB(self._kv))
            chain.get_vm().state.get_balance(self.signers[0].canonical_address)
        except Exception as err:  # py-evm raises many kinds on damaged data; keep the cause
            raise DataDirectoryError(
                str(self.data_dir), f"the chain database is incomplete or corrupted ({err!r})"
            ) from err
        return chain

    def _recover_journal(self) -> None:
        """Re-execute acknowledged transactions that a crash left unsealed, then seal them."""
        journal = self._kv.journal()
        if not journal:
            return
        template = json.loads(self._kv.get_meta("open_block") or "{}")
        head = self._chain.get_canonical_head()
        if template.get("parent") != bytes(head.hash).hex():
            raise DataDirectoryError(
                str(self.data_dir), "the transaction journal does not continue the chain head"
            )
        block = OpenBlock(self._chain, template)
        builder = block.vm.get_transaction_builder()
        for raw in journal:
            try:
                block.apply(builder.decode(raw))
            except (ValidationError, RLPException) as err:
                raise DataDirectoryError(
                    str(self.data_dir), f"a journalled transaction no longer applies ({err})"
                ) from err
        self._block = block
        if not self.read_only:  # read-only, the recovered block stays open, in memory
            self._seal()
            self._flush()

    def _require_writable(self) -> None:
        if self.read_only:
            raise DataDirectoryError(
                str(self.data_dir),
                "is read-only for this process, so the embedded chain can be read but not "
                "written; make the directory and its chain.sqlite writable, or work on a "
                "writable copy",
            )

    # -- identity ------------------------------------------------------------------------

    @property
    def chain_id(self) -> int:
        return int(self._chain.chain_id)

    @property
    def location(self) -> str:
        return str(self.data_dir)

    def disk_usage(self) -> int:
        """Bytes used by the chain database."""
        return self._kv.size_bytes()

    # -- the open block ------------------------------------------------------------------

    def _open_block(self) -> OpenBlock:
        """The block new transactions go into; a stale or full one is sealed (in memory) first."""
        block = self._block
        if block is not None and block.transactions:
            if (
                time.monotonic() - block.opened < MAX_BLOCK_AGE
                and len(block.transactions) < MAX_BLOCK_TRANSACTIONS
            ):
                return block
            self._seal()
            block = None
        if block is None or time.monotonic() - block.opened >= MAX_BLOCK_AGE:
            parent = self._chain.get_canonical_head()
            template = {
                "parent": bytes(parent.hash).hex(),
                "timestamp": max(parent.timestamp + 1, int(time.time()) + self._time_offset()),
                "mix_hash": os.urandom(32).hex(),
            }
            block = self._block = OpenBlock(self._chain, template)
        return block

    def _seal(self) -> None:
        """Seal the open block, if it holds transactions, in memory; :meth:`_flush` commits it.

        Reads call this (a block number must name a block) and stay reads: nothing reaches
        the disk until the next write flushes. Until then the journal still holds the
        block's transactions and its template, so a crash loses nothing.
        """
        block = self._block
        if block is None or not block.transactions:
            return
        try:
            block.seal(self._chain)
        except BaseException:
            self._kv.discard()
            raise
        self._block = None
        self._unflushed = True

    def _flush(self) -> None:
        """Commit a block sealed in memory, clearing the journal in the same transaction.

        Every write calls it first: a new block must stand on a durable parent, or the
        journal (whose template names the parent) could not be replayed after a crash.
        """
        if self._unflushed:
            self._kv.commit(clear_journal=True)
            self._unflushed = False

    def _seal_durably(self) -> None:
        self._require_writable()
        self._seal()
        self._flush()

    def _sealed(self) -> MiningChain:
        self._seal()
        return self._chain

    # -- transactions --------------------------------------------------------------------

    def send_raw_transaction(self, raw: bytes) -> bytes:
        with self._lock:
            self._require_writable()
            block = self._open_block()
            self._flush()
            try:
                tx = block.vm.get_transaction_builder().decode(raw)
                tx.validate()
            except (ValidationError, ValueError, RLPException) as err:
                raise InvalidInputError(f"malformed transaction: {err}") from err
            if tx.chain_id is not None and tx.chain_id != self.chain_id:
                raise WrongChainIdError(expected=self.chain_id, actual=tx.chain_id)
            if block.header.gas_used + tx.gas > block.header.gas_limit:
                self._seal_durably()
                block = self._open_block()
            try:
                receipt, computation = block.apply(tx)
            except ValidationError as err:
                used = tx.nonce < block.state.get_nonce(tx.sender)
                if used and self._has_transaction(bytes(tx.hash)):  # sent again: harmless
                    return bytes(tx.hash)
                self._explain_rejection(block, tx)
                raise ChainError(f"the embedded chain rejected the transaction: {err}") from err
            is_first = len(block.transactions) == 1
            # Durable before acknowledged: the journal entry is what a restart re-executes.
            try:
                self._kv.journal_append(
                    raw, {"open_block": json.dumps(block.template)} if is_first else None
                )
            except BaseException:
                # Not acknowledged, so it must leave no trace: the block without it.
                self._block = block.without_last(self._chain)
                raise
            previous = block.receipts[-2].gas_used if len(block.receipts) > 1 else 0
            result = receipt_from(tx, receipt, block.number, block.log_count, previous, computation)
            block.log_count += len(receipt.logs)
            self._remember(result)
            return result.tx_hash

    def _has_transaction(self, tx_hash: bytes) -> bool:
        """Whether ``tx_hash`` is already on this chain (so sending it again changes nothing)."""
        try:
            self.wait_for_receipt(tx_hash, timeout=0)
        except NotFoundError:
            return False
        return True

    def _explain_rejection(self, block: OpenBlock, tx: SignedTransactionAPI) -> None:
        """Raise the typed error for a transaction py-evm refused (nonce, funds, fee)."""
        state = block.state
        sender = to_checksum_address(tx.sender)
        expected = state.get_nonce(tx.sender)
        if tx.nonce != expected:
            raise NonceConflictError(sender, tx.nonce, f"the account's next nonce is {expected}")
        cost = tx.gas * tx.max_fee_per_gas + tx.value
        if (balance := state.get_balance(tx.sender)) < cost:
            raise InsufficientFundsError(
                sender, f"needs {cost} wei for gas and value, has {balance}"
            )
        if tx.max_fee_per_gas < block.header.base_fee_per_gas:
            raise ChainError(
                f"max fee per gas {tx.max_fee_per_gas} is below the base fee "
                f"{block.header.base_fee_per_gas}"
            )

    def _remember(self, receipt: Receipt) -> None:
        self._recent[receipt.tx_hash] = receipt
        if len(self._recent) > _RECENT_RECEIPTS:
            self._recent.popitem(last=False)

    def wait_for_receipt(self, tx_hash: bytes, timeout: float = 120.0) -> Receipt:
        """The receipt, at once; ``timeout`` is checked but never needed.

        A transaction is executed when it is sent and only this process writes the chain,
        so a transaction that is not here now will never arrive: waiting cannot help.
        """
        if timeout < 0:
            raise InvalidInputError(f"a timeout is not negative, got {timeout}")
        with self._lock:
            cached = self._recent.get(tx_hash)
            if cached is not None:
                return cached
            chain = self._sealed()
            try:
                number, _ = chain.chaindb.get_transaction_index(tx_hash)
                # One decode for the whole block: neighbours are usually asked for next.
                for receipt in self._block_receipts(number):
                    self._remember(receipt)
            except (TransactionNotFound, ReceiptNotFound, HeaderNotFound) as err:
                raise NotFoundError(
                    f"transaction 0x{tx_hash.hex()} is not on the embedded chain"
                ) from err
            found = self._recent.get(tx_hash)
            if found is None:  # indexed once, then reverted away by a snapshot
                raise NotFoundError(f"transaction 0x{tx_hash.hex()} is not on the embedded chain")
            return found

    def _block_receipts(self, number: int) -> list[Receipt]:
        chain = self._chain
        block = chain.get_vm(chain.chaindb.get_canonical_block_header_by_number(number)).get_block()
        out: list[Receipt] = []
        previous = first_log = 0
        for tx, receipt in zip(block.transactions, block.get_receipts(chain.chaindb), strict=True):
            out.append(receipt_from(tx, receipt, number, first_log, previous, None))
            previous, first_log = receipt.gas_used, first_log + len(receipt.logs)
        return out

    # -- reading state -------------------------------------------------------------------

    def _state_after(self, block: int | None) -> StateAPI:
        """The state after sealed block ``block``, or by default the latest state.

        The latest state is the open block's while it holds transactions (their receipts name
        it); when it is empty, the head's, with the head's number and time, as a node's
        ``latest`` is: a call then sees the same ``block.number`` as on anvil.
        """
        if block is None:
            open_block = self._block
            if open_block is not None and open_block.transactions:
                return open_block.state
            return self._chain.get_vm(self._chain.get_canonical_head()).state
        chain = self._chain
        header = chain.create_header_from_parent(self._header(block))
        return chain.get_vm(header).state

    def call(self, request: CallRequest, block: int | None = None) -> bytes:
        with self._lock:
            return pyevm_calls.call(self._state_after(block), request, request.gas or GAS_LIMIT)

    def estimate_gas(self, request: CallRequest) -> int:
        with self._lock:
            # the transaction will run in the open block: estimate it there
            return pyevm_calls.estimate_gas(self._open_block().state, request, GAS_LIMIT)

    def fees(self) -> tuple[int, int]:
        return 2 * self.next_base_fee() + 1, 0

    def next_base_fee(self) -> int:
        """The base fee of the block the next transaction goes into."""
        with self._lock:
            return int(self._open_block().header.base_fee_per_gas)

    def nonce(self, address: str, block: int | None = None) -> int:
        with self._lock:
            state = self._state_after(block)
            return int(state.get_nonce(to_canonical_address(address)))

    def balance(self, address: str, block: int | None = None) -> int:
        with self._lock:
            state = self._state_after(block)
            return int(state.get_balance(to_canonical_address(address)))

    def code(self, address: str, block: int | None = None) -> bytes:
        with self._lock:
            return bytes(self._state_after(block).get_code(to_canonical_address(address)))

    def storage(self, address: str, slot: int, block: int | None = None) -> int:
        """The value of storage ``slot`` of ``address``."""
        with self._lock:
            state = self._state_after(block)
            return int(state.get_storage(to_canonical_address(address), slot))

    def header(self, number: int | None = None) -> BlockHeaderAPI:
        """The full header of a block by number, or of the latest one."""
        with self._lock:
            return self._header(number)

    def header_by_hash(self, block_hash: bytes) -> BlockHeaderAPI | None:
        """The header of a canonical block by hash; None for an unknown or orphaned one."""
        with self._lock:
            chaindb = self._sealed().chaindb
            try:
                header = chaindb.get_block_header_by_hash(block_hash)
                canonical = chaindb.get_canonical_block_hash(header.block_number)
            except HeaderNotFound:
                return None
            return header if canonical == header.hash else None

    def block_transactions(self, number: int) -> list[SignedTransactionAPI]:
        """The transactions of sealed block ``number``, in order."""
        with self._lock:
            header = self._header(number)
            return list(self._chain.get_vm(header).get_block().transactions)

    def locate(self, tx_hash: bytes) -> tuple[SignedTransactionAPI, int, int] | None:
        """(transaction, block number, index in block) of a mined transaction, or None."""
        with self._lock:
            chain = self._sealed()
            try:
                number, index = chain.chaindb.get_transaction_index(tx_hash)
            except TransactionNotFound:
                return None
            return self.block_transactions(number)[index], number, index

    def _header(self, number: int | None) -> BlockHeaderAPI:
        chaindb = self._sealed().chaindb
        if number is None:
            return chaindb.get_canonical_head()
        try:
            return chaindb.get_canonical_block_header_by_number(number)
        except HeaderNotFound as err:
            raise NotFoundError(f"block {number} does not exist yet") from err

    def block(self, number: int | None = None) -> Block:
        with self._lock:
            header = self._header(number)
        return Block(
            number=header.block_number,
            hash=bytes(header.hash),
            timestamp=header.timestamp,
            base_fee=header.base_fee_per_gas,
            gas_limit=header.gas_limit,
            gas_used=header.gas_used,
        )

    def get_logs(self, log_filter: LogFilter) -> list[Log]:
        with self._lock:
            chain = self._sealed()
            head = chain.get_canonical_head().block_number
            last = head if log_filter.to_block is None else min(log_filter.to_block, head)
            found: list[Log] = []
            for number in range(log_filter.from_block, last + 1):
                header = self._header(number)
                if header.gas_used == 0:
                    continue  # an empty block has no logs
                block = chain.get_vm(header).get_block()
                log_index = 0
                receipts = block.get_receipts(chain.chaindb)
                for tx, receipt in zip(block.transactions, receipts, strict=True):
                    for evm_log in receipt.logs:
                        log = log_from(evm_log, number, bytes(tx.hash), log_index)
                        log_index += 1
                        if log_filter.matches(log):
                            found.append(log)
            return found

    # -- development controls ------------------------------------------------------------

    def _time_offset(self) -> int:
        return int(self._kv.get_meta("time_offset") or 0)

    def mine(self, blocks: int = 1) -> None:
        if blocks < 0:
            raise InvalidInputError(f"cannot mine {blocks} blocks")
        with self._lock:
            self._seal_durably()
            for _ in range(blocks):
                self._block = None
                try:
                    self._open_block().seal(self._chain)
                    self._kv.commit()
                except BaseException:
                    self._kv.discard()
                    raise
                self._block = None

    def increase_time(self, seconds: int) -> None:
        if seconds < 0:
            raise InvalidInputError("time only moves forward; got a negative number of seconds")
        with self._lock:
            self._seal_durably()
            self._kv.commit({"time_offset": str(self._time_offset() + seconds)})
            self._block = None

    def snapshot(self) -> object:
        with self._lock:
            self._seal_durably()
            return (bytes(self._chain.get_canonical_head().hash), self._time_offset())

    def revert(self, snapshot: object) -> None:
        if not (isinstance(snapshot, tuple) and len(snapshot) == 2):
            raise InvalidInputError(f"not a snapshot of the embedded chain: {snapshot!r}")
        head_hash, offset = snapshot
        with self._lock:
            self._seal_durably()
            chaindb = self._chain.chaindb
            try:
                header = chaindb.get_block_header_by_hash(head_hash)
            except HeaderNotFound as err:
                raise InvalidInputError("unknown snapshot") from err
            rewind_canonical_chain(chaindb, header)
            self._kv.commit({"time_offset": str(offset)})
            self._chain = chain_class(self.chain_id)(AtomicDB(self._kv))
            self._block = None
            self._recent.clear()

    # -- serving other processes ---------------------------------------------------------

    def serve(self, port: int = 0) -> str:
        """Serve this chain as JSON-RPC on 127.0.0.1 and advertise it in the data directory.

        Other chainml processes that open the directory then go through this endpoint
        (see :func:`chainml.chain.connect`); :meth:`close` stops it. Returns the URL.
        """
        from chainml.chain.rpc_server import RpcServer

        with self._lock:
            if self._owner is None:
                self._require_writable()
                raise DataDirectoryError(str(self.data_dir), "is not owned by this process")
            if self._server is None:
                self._server = RpcServer(self, port=port)
                self._owner.advertise(self._server.url)
            return self._server.url

    @property
    def endpoint(self) -> str | None:
        """The URL this process serves the chain at, if it does."""
        return None if self._server is None else self._server.url

    def close(self) -> None:
        """Release this user's hold; the last one seals, commits and gives up ownership."""
        with _SHARED_LOCK:
            self._users -= 1
            if self._users > 0:
                return
            if _SHARED.get(self.data_dir.resolve()) is self:
                del _SHARED[self.data_dir.resolve()]
        if self._server is not None:
            if self._owner is not None:
                self._owner.withdraw()  # new clients stop coming before the server stops
            self._server.close()  # no request may arrive while the rest shuts down
            self._server = None
        try:
            with self._lock:
                if not self.read_only:
                    self._seal()
                    self._flush()
                self._kv.close()
        finally:
            if self._owner is not None:
                self._owner.close()
                self._owner = None

    def __repr__(self) -> str:
        return f"EmbeddedBackend({str(self.data_dir)!r}, chain_id={self.chain_id})"
