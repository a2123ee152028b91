"""The embedded chain: an in-process py-evm chain whose state lives in the data directory.

Every transaction is mined into its own block at once (like anvil's auto-mining) and the
block's writes are committed to SQLite in one transaction before the receipt is returned, so
what was acknowledged survives ``kill -9``. Opening the chain reads the canonical head from
the database; nothing is replayed, so restart time does not grow with history.
"""

from __future__ import annotations

import math
import os
import threading
import time
from collections import OrderedDict
from pathlib import Path
from typing import Any

from eth import constants
from eth._utils.address import generate_contract_address
from eth.abc import BlockHeaderAPI, ComputationAPI, SignedTransactionAPI
from eth.chains.base import MiningChain
from eth.db.atomic import AtomicDB
from eth.exceptions import HeaderNotFound, ReceiptNotFound, TransactionNotFound
from eth.vm.forks import PragueVM
from eth.vm.spoof import SpoofTransaction
from eth_utils import ValidationError, to_canonical_address, to_checksum_address
from rlp.exceptions import RLPException

from chainml.chain.accounts import Signer, load_or_create_mnemonic, signers_from_mnemonic
from chainml.chain.backend import Block, CallRequest, ChainBackend, Log, LogFilter, Receipt
from chainml.chain.kvstore import SqliteKV
from chainml.chain.revert import revert_error
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
_RECENT_RECEIPTS = 4096


def _chain_class(chain_id: int) -> type[MiningChain]:
    return type(
        "ChainMLEmbeddedChain",
        (MiningChain,),
        {"chain_id": chain_id, "vm_configuration": ((0, PragueVM),)},
    )


class EmbeddedBackend(ChainBackend):
    """A py-evm chain persisted under ``data_dir``; safe to share between threads."""

    kind = "embedded"

    def __init__(self, data_dir: Path, *, durability: str = "normal") -> None:
        self.data_dir = data_dir
        _ensure_directory(data_dir)
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

    # -- opening -------------------------------------------------------------------------

    def _create_genesis(self) -> MiningChain:
        chain_class = _chain_class(EMBEDDED_CHAIN_ID)
        genesis_params = {
            "difficulty": 0,
            "gas_limit": GAS_LIMIT,
            "timestamp": int(time.time()),
            "coinbase": constants.ZERO_ADDRESS,
            "nonce": constants.POST_MERGE_NONCE,
            "mix_hash": constants.POST_MERGE_MIX_HASH,
            "extra_data": b"chainml",
        }
        state = {
            signer.canonical_address: {
                "balance": DEV_BALANCE,
                "nonce": 0,
                "code": b"",
                "storage": {},
            }
            for signer in self.signers
        }
        chain = chain_class.from_genesis(AtomicDB(self._kv), genesis_params, state)
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
            chain = _chain_class(chain_id)(AtomicDB(self._kv))
            chain.get_vm()  # touches the head header and its state root
        except Exception as err:  # py-evm raises many kinds on damaged data; keep the cause
            raise DataDirectoryError(
                str(self.data_dir), f"the chain database is incomplete or corrupted ({err!r})"
            ) from err
        return chain

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

    # -- transactions --------------------------------------------------------------------

    def send_raw_transaction(self, raw: bytes) -> bytes:
        with self._lock:
            vm = self._chain.get_vm()
            try:
                tx = vm.get_transaction_builder().decode(raw)
                tx.validate()
            except (ValidationError, ValueError, RLPException) as err:
                raise InvalidInputError(f"malformed transaction: {err}") from err
            if tx.chain_id is not None and tx.chain_id != self.chain_id:
                raise WrongChainIdError(expected=self.chain_id, actual=tx.chain_id)
            self._check_against_state(vm, tx)
            receipt = self._mine([tx])[0]
            self._remember(receipt)
            return receipt.tx_hash

    def _check_against_state(self, vm: Any, tx: SignedTransactionAPI) -> None:
        state = vm.state
        sender = to_checksum_address(tx.sender)
        expected = state.get_nonce(tx.sender)
        if tx.nonce != expected:
            raise NonceConflictError(sender, tx.nonce, f"the account's next nonce is {expected}")
        cost = tx.gas * tx.max_fee_per_gas + tx.value
        if state.get_balance(tx.sender) < cost:
            raise InsufficientFundsError(
                sender,
                f"needs {cost} wei for gas and value, has {state.get_balance(tx.sender)}",
            )

    def _mine(self, transactions: list[SignedTransactionAPI]) -> list[Receipt]:
        chain = self._chain
        parent = chain.get_canonical_head()
        timestamp = max(parent.timestamp + 1, int(time.time()) + self._time_offset())
        chain.header = chain.create_header_from_parent(parent, timestamp=timestamp)
        try:
            result, receipts, _ = chain.mine_all(
                transactions, coinbase=constants.ZERO_ADDRESS, mix_hash=os.urandom(32)
            )
            self._kv.commit()
        except ValidationError as err:
            self._abandon_block()
            raise ChainError(f"the embedded chain rejected the block: {err}") from err
        except BaseException:
            self._abandon_block()
            raise
        block = result.imported_block
        out: list[Receipt] = []
        previous_cumulative = first_log_index = 0
        for tx, receipt in zip(transactions, receipts, strict=True):
            out.append(_receipt(tx, receipt, block.number, first_log_index, previous_cumulative))
            previous_cumulative = receipt.gas_used
            first_log_index += len(receipt.logs)
        return out

    def _abandon_block(self) -> None:
        self._kv.discard()
        self._chain = _chain_class(self.chain_id)(AtomicDB(self._kv))

    def _remember(self, receipt: Receipt) -> None:
        self._recent[receipt.tx_hash] = receipt
        if len(self._recent) > _RECENT_RECEIPTS:
            self._recent.popitem(last=False)

    def wait_for_receipt(self, tx_hash: bytes, timeout: float = 120.0) -> Receipt:
        with self._lock:
            cached = self._recent.get(tx_hash)
            if cached is not None:
                return cached
            chaindb = self._chain.chaindb
            try:
                number, index = chaindb.get_transaction_index(tx_hash)
                vm = self._chain.get_vm(chaindb.get_canonical_block_header_by_number(number))
                tx = chaindb.get_transaction_by_index(number, index, vm.get_transaction_builder())
                if tx.hash != tx_hash:  # indexed once, then reverted away by a snapshot
                    raise TransactionNotFound(tx_hash)
                receipts = vm.get_block().get_receipts(chaindb)
            except (TransactionNotFound, ReceiptNotFound, HeaderNotFound) as err:
                raise NotFoundError(
                    f"transaction 0x{tx_hash.hex()} is not on the embedded chain"
                ) from err
            previous = receipts[index - 1].gas_used if index else 0
            first_log_index = sum(len(r.logs) for r in receipts[:index])
            return _receipt(tx, receipts[index], number, first_log_index, previous)

    # -- reading state -------------------------------------------------------------------

    def _vm_after(self, block: int | None) -> Any:
        chain = self._chain
        if block is None:
            return chain.get_vm()
        parent = self._header(block)
        return chain.get_vm(chain.create_header_from_parent(parent))

    def _spoof(self, vm: Any, request: CallRequest, gas: int) -> SpoofTransaction:
        sender = to_canonical_address(request.sender)
        unsigned = vm.get_transaction_builder().create_unsigned_transaction(
            nonce=vm.state.get_nonce(sender),
            gas_price=0,
            gas=gas,
            to=to_canonical_address(request.to) if request.to else b"",
            value=request.value,
            data=request.data,
        )
        return SpoofTransaction(unsigned, from_=sender)

    def _execute(self, vm: Any, request: CallRequest, gas: int) -> ComputationAPI:
        tx = self._spoof(vm, request, gas)
        with vm.in_costless_state() as state:
            snapshot = state.snapshot()
            try:
                return state.costless_execute_transaction(tx)
            except ValidationError as err:
                raise InvalidInputError(f"cannot execute call: {err}") from err
            finally:
                state.revert(snapshot)

    def call(self, request: CallRequest, block: int | None = None) -> bytes:
        with self._lock:
            vm = self._vm_after(block)
            computation = self._execute(vm, request, request.gas or GAS_LIMIT)
            if computation.is_error:
                raise revert_error(_revert_data(computation), str(computation.error))
            return bytes(computation.output)

    def estimate_gas(self, request: CallRequest) -> int:
        with self._lock:
            vm = self._vm_after(None)
            computation = self._execute(vm, request, GAS_LIMIT)
            if computation.is_error:
                raise revert_error(_revert_data(computation), str(computation.error))
            intrinsic = self._spoof(vm, request, GAS_LIMIT).intrinsic_gas
            used = intrinsic + computation.get_gas_used()
            # 63/64 of the remaining gas is all a CALL may forward: leave room for it.
            candidate = min(GAS_LIMIT, math.ceil(used * 64 / 63) + 2_300)
            if not self._execute(vm, request, candidate).is_error:
                return int(candidate)
            return int(self._chain.estimate_gas(self._spoof(vm, request, GAS_LIMIT)))

    def fees(self) -> tuple[int, int]:
        with self._lock:
            base_fee = int(self._chain.header.base_fee_per_gas)
        return 2 * base_fee + 1, 0

    def nonce(self, address: str) -> int:
        with self._lock:
            return int(self._chain.get_vm().state.get_nonce(to_canonical_address(address)))

    def balance(self, address: str) -> int:
        with self._lock:
            return int(self._chain.get_vm().state.get_balance(to_canonical_address(address)))

    def code(self, address: str) -> bytes:
        with self._lock:
            return bytes(self._chain.get_vm().state.get_code(to_canonical_address(address)))

    def _header(self, number: int | None) -> BlockHeaderAPI:
        chaindb = self._chain.chaindb
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
            head = self._chain.get_canonical_head().block_number
            last = head if log_filter.to_block is None else min(log_filter.to_block, head)
            found: list[Log] = []
            for number in range(log_filter.from_block, last + 1):
                header = self._header(number)
                if header.gas_used == 0:
                    continue  # an empty block has no logs
                vm = self._chain.get_vm(header)
                block = vm.get_block()
                receipts = block.get_receipts(self._chain.chaindb)
                log_index = 0
                for tx, receipt in zip(block.transactions, receipts, strict=True):
                    for evm_log in receipt.logs:
                        log = _log(evm_log, number, bytes(tx.hash), log_index)
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
            for _ in range(blocks):
                self._mine([])

    def increase_time(self, seconds: int) -> None:
        if seconds < 0:
            raise InvalidInputError("time only moves forward; got a negative number of seconds")
        with self._lock:
            self._kv.commit({"time_offset": str(self._time_offset() + seconds)})

    def snapshot(self) -> object:
        with self._lock:
            return (bytes(self._chain.get_canonical_head().hash), self._time_offset())

    def revert(self, snapshot: object) -> None:
        if not (isinstance(snapshot, tuple) and len(snapshot) == 2):
            raise InvalidInputError(f"not a snapshot of the embedded chain: {snapshot!r}")
        head_hash, offset = snapshot
        with self._lock:
            chaindb = self._chain.chaindb
            try:
                header = chaindb.get_block_header_by_hash(head_hash)
            except HeaderNotFound as err:
                raise InvalidInputError("unknown snapshot") from err
            chaindb._set_as_canonical_chain_head(chaindb.db, header, constants.GENESIS_PARENT_HASH)
            self._kv.commit({"time_offset": str(offset)})
            self._chain = _chain_class(self.chain_id)(AtomicDB(self._kv))
            self._recent.clear()

    def close(self) -> None:
        with self._lock:
            self._kv.close()

    def __repr__(self) -> str:
        return f"EmbeddedBackend({str(self.data_dir)!r}, chain_id={self.chain_id})"


def _ensure_directory(path: Path) -> None:
    if path.is_dir():
        return
    if path.exists():
        raise DataDirectoryError(str(path), "exists but is not a directory")
    if not path.parent.is_dir():
        raise DataDirectoryError(
            str(path), f"its parent directory {path.parent} does not exist (typo in the path?)"
        )
    path.mkdir(mode=0o700)


def _revert_data(computation: ComputationAPI) -> bytes:
    # py-evm keeps the REVERT payload in the computation's output.
    return bytes(computation.output) if computation.is_error else b""


def _log(evm_log: Any, block_number: int, tx_hash: bytes, log_index: int) -> Log:
    return Log(
        address=to_checksum_address(evm_log.address),
        topics=tuple(topic.to_bytes(32, "big") for topic in evm_log.topics),
        data=bytes(evm_log.data),
        block_number=block_number,
        tx_hash=tx_hash,
        log_index=log_index,
    )


def _receipt(
    tx: SignedTransactionAPI,
    receipt: Any,
    block_number: int,
    first_log_index: int,
    previous_cumulative: int,
) -> Receipt:
    tx_hash = bytes(tx.hash)
    status = receipt.state_root == b"\x01"
    created = None
    if not tx.to and status:
        created = to_checksum_address(generate_contract_address(tx.sender, tx.nonce))
    logs = tuple(
        _log(evm_log, block_number, tx_hash, first_log_index + i)
        for i, evm_log in enumerate(receipt.logs)
    )
    return Receipt(
        tx_hash=tx_hash,
        block_number=block_number,
        gas_used=receipt.gas_used - previous_cumulative,
        status=status,
        contract_address=created,
        logs=logs,
    )
