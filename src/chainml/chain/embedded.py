"""The embedded chain: an in-process py-evm chain whose state lives in the data directory.

A transaction is executed at once on top of the open block and its receipt returned as soon
as the raw transaction is in the durable journal (see :mod:`chainml.chain.kvstore`). The open
block is sealed (state root, tries, header, one SQLite commit that also clears the journal)
when something needs a sealed view (blocks, logs, snapshots), when it is full, or when it is
a second old. Sealing once for many transactions is what makes this backend fast; the
journal is what makes it safe: after ``kill -9`` the next open re-executes the journalled
transactions on the same block template, so every acknowledged transaction is there.
Opening never replays sealed history, so restart time does not grow with it.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections import OrderedDict
from pathlib import Path

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
from chainml.chain.pyevm_blocks import (
    OpenBlock,
    chain_class,
    log_from,
    receipt_from,
    rewind_canonical_chain,
)
from chainml.config import ensure_directory
from chainml.errors import (
    ChainError,
    DataDirectoryError,
    InsufficientFundsError,
    InvalidInputError,
    NonceConflictError,
    NotFoundError,
    WrongChainIdError,
)

EMBEDDED_CHAIN_ID = 1337
GAS_LIMIT = 30_000_000
DEV_BALANCE = 10_000 * 10**18
FORMAT_VERSION = "1"
MAX_BLOCK_TRANSACTIONS = 1_000
MAX_BLOCK_AGE = 1.0  # seconds an open block may wait before the next transaction seals it
_RECENT_RECEIPTS = 20_000  # more than a full block, so one block's lookups share a decode


class EmbeddedBackend(ChainBackend):
    """A py-evm chain persisted under ``data_dir``; safe to share between threads."""

    kind = "embedded"

    def __init__(self, data_dir: Path, *, durability: str = "normal") -> None:
        self.data_dir = data_dir
        ensure_directory(data_dir)
        db_path = data_dir / "chain.sqlite"
        fresh = not db_path.exists()
        self.signers: list[Signer] = signers_from_mnemonic(
            load_or_create_mnemonic(data_dir / "mnemonic", create=fresh)
        )
        self._kv = SqliteKV(db_path, synchronous="FULL" if durability == "full" else "NORMAL")
        self._lock = threading.RLock()
        self._recent: OrderedDict[bytes, Receipt] = OrderedDict()
        if fresh or self._kv.get_meta("format") is None:
            self._chain = self._create_genesis()
        else:
            self._chain = self._open_existing()
        self._block: OpenBlock | None = None
        self._recover_journal()

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
        self._seal()

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
        """The block new transactions go into; a stale or full one is sealed first."""
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
        """Seal the open block, if it holds transactions, in one commit that clears the journal."""
        block = self._block
        if block is None or not block.transactions:
            return
        try:
            block.seal(self._chain)
            self._kv.commit(clear_journal=True)
        except BaseException:
            self._kv.discard()
            raise
        self._block = None

    def _sealed(self) -> MiningChain:
        self._seal()
        return self._chain

    # -- transactions --------------------------------------------------------------------

    def send_raw_transaction(self, raw: bytes) -> bytes:
        with self._lock:
            block = self._open_block()
            try:
                tx = block.vm.get_transaction_builder().decode(raw)
                tx.validate()
            except (ValidationError, ValueError, RLPException) as err:
                raise InvalidInputError(f"malformed transaction: {err}") from err
            if tx.chain_id is not None and tx.chain_id != self.chain_id:
                raise WrongChainIdError(expected=self.chain_id, actual=tx.chain_id)
            if block.header.gas_used + tx.gas > block.header.gas_limit:
                self._seal()
                block = self._open_block()
            try:
                receipt, computation = block.apply(tx)
            except ValidationError as err:
                self._explain_rejection(block, tx)
                raise ChainError(f"the embedded chain rejected the transaction: {err}") from err
            is_first = len(block.transactions) == 1
            # Durable before acknowledged: the journal entry is what a restart re-executes.
            self._kv.journal_append(
                raw, {"open_block": json.dumps(block.template)} if is_first else None
            )
            previous = block.receipts[-2].gas_used if len(block.receipts) > 1 else 0
            result = receipt_from(tx, receipt, block.number, block.log_count, previous, computation)
            block.log_count += len(receipt.logs)
            self._remember(result)
            return result.tx_hash

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
            open_block = self._open_block()
            if open_block.transactions:
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
        with self._lock:
            base_fee = int(self._open_block().header.base_fee_per_gas)
        return 2 * base_fee + 1, 0

    def nonce(self, address: str) -> int:
        with self._lock:
            return int(self._open_block().state.get_nonce(to_canonical_address(address)))

    def balance(self, address: str) -> int:
        with self._lock:
            return int(self._open_block().state.get_balance(to_canonical_address(address)))

    def code(self, address: str) -> bytes:
        with self._lock:
            return bytes(self._open_block().state.get_code(to_canonical_address(address)))

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
            self._seal()
            for _ in range(blocks):
                self._block = None
                self._open_block().seal(self._chain)
                self._kv.commit()
                self._block = None

    def increase_time(self, seconds: int) -> None:
        if seconds < 0:
            raise InvalidInputError("time only moves forward; got a negative number of seconds")
        with self._lock:
            self._seal()
            self._kv.commit({"time_offset": str(self._time_offset() + seconds)})
            self._block = None

    def snapshot(self) -> object:
        with self._lock:
            return (bytes(self._sealed().get_canonical_head().hash), self._time_offset())

    def revert(self, snapshot: object) -> None:
        if not (isinstance(snapshot, tuple) and len(snapshot) == 2):
            raise InvalidInputError(f"not a snapshot of the embedded chain: {snapshot!r}")
        head_hash, offset = snapshot
        with self._lock:
            chaindb = self._sealed().chaindb
            try:
                header = chaindb.get_block_header_by_hash(head_hash)
            except HeaderNotFound as err:
                raise InvalidInputError("unknown snapshot") from err
            rewind_canonical_chain(chaindb, header)
            self._kv.commit({"time_offset": str(offset)})
            self._chain = chain_class(self.chain_id)(AtomicDB(self._kv))
            self._block = None
            self._recent.clear()

    def close(self) -> None:
        with self._lock:
            self._seal()
            self._kv.close()

    def __repr__(self) -> str:
        return f"EmbeddedBackend({str(self.data_dir)!r}, chain_id={self.chain_id})"
