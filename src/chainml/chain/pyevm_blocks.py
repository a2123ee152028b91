"""Blocks on py-evm, built the way the embedded chain needs them.

:class:`OpenBlock` executes transactions one at a time on top of the head and seals them into
one block later; :func:`rewind_canonical_chain` undoes blocks for snapshots; the converters
turn py-evm receipts and logs into chainml's records.
"""

from __future__ import annotations

import time
from typing import Any

from eth import constants
from eth._utils.address import generate_contract_address
from eth.abc import BlockHeaderAPI, ComputationAPI, SignedTransactionAPI, StateAPI
from eth.chains.base import MiningChain
from eth.db.schema import SchemaV1
from eth.vm.forks import PragueVM
from eth_utils import to_checksum_address

from chainml.chain.backend import Log, Receipt
from chainml.chain.ordered_trie import ordered_trie


def chain_class(chain_id: int) -> type[MiningChain]:
    """A py-evm chain class with Prague rules from genesis and the given chain id."""
    return type(
        "ChainMLEmbeddedChain",
        (MiningChain,),
        {"chain_id": chain_id, "vm_configuration": ((0, PragueVM),)},
    )


class OpenBlock:
    """Transactions executed on top of the head, not yet sealed into a block."""

    def __init__(self, chain: MiningChain, template: dict[str, Any]) -> None:
        parent = chain.chaindb.get_block_header_by_hash(bytes.fromhex(template["parent"]))
        self.template = template
        self.header = chain.create_header_from_parent(
            parent,
            gas_limit=parent.gas_limit,  # constant, as on anvil; py-evm would let it drift
            timestamp=template["timestamp"],
            mix_hash=bytes.fromhex(template["mix_hash"]),
            coinbase=constants.ZERO_ADDRESS,
        )
        self.vm = chain.get_vm(self.header)
        self.transactions: list[SignedTransactionAPI] = []
        self.receipts: list[Any] = []
        self.log_count = 0
        self.opened = time.monotonic()

    @property
    def number(self) -> int:
        """The block number this block will have."""
        return int(self.header.block_number)

    @property
    def state(self) -> StateAPI:
        """The live state, with every transaction applied so far."""
        return self.vm.state

    def apply(self, tx: SignedTransactionAPI) -> tuple[Any, ComputationAPI]:
        """Execute ``tx`` on top of the block so far; return py-evm's receipt and computation."""
        # py-evm validates (nonce, balance, fee, gas) before it changes any state, so a
        # rejected transaction leaves the open block as it was.
        receipt, computation = self.vm.apply_transaction(self.header, tx)
        self.header = self.vm.increment_blob_gas_used(
            self.vm.add_receipt_to_header(self.header, receipt), tx
        )
        self.transactions.append(tx)
        self.receipts.append(receipt)
        return receipt, computation

    def without_last(self, chain: MiningChain) -> OpenBlock:
        """The block as it was before its last transaction: the others re-executed afresh."""
        fresh = OpenBlock(chain, self.template)
        for tx in self.transactions[:-1]:
            fresh.apply(tx)
        fresh.opened, fresh.log_count = self.opened, self.log_count
        return fresh

    def seal(self, chain: MiningChain) -> None:
        """Commit the state, build the block around the executed transactions, store it.

        This is py-evm's ``mine_block`` without re-validating a block we just built
        ourselves, and with the one-pass tries of :mod:`chainml.chain.ordered_trie`.
        """
        vm, chaindb = self.vm, chain.chaindb
        tx_root, tx_nodes = ordered_trie([tx.encode() for tx in self.transactions])
        receipt_root, receipt_nodes = ordered_trie([r.encode() for r in self.receipts])
        chaindb.persist_trie_data_dict(tx_nodes)
        chaindb.persist_trie_data_dict(receipt_nodes)
        header = self.header.copy(transaction_root=tx_root, receipt_root=receipt_root)
        filled = vm.get_block().copy(transactions=tuple(self.transactions), header=header)
        sealed = vm.finalize_block(filled).block  # block rewards (none) and the state root
        vm.validate_header(sealed.header, chaindb.get_block_header_by_hash(header.parent_hash))
        chaindb.persist_block(sealed)


def rewind_canonical_chain(chaindb: Any, header: BlockHeaderAPI) -> None:
    """Make ``header`` the head again and forget every later block and its transactions.

    py-evm's own head switch keeps descendants of the new head canonical (they are not
    orphans), so their numbers and transaction lookups would survive the revert.
    """
    db = chaindb.db
    later = range(header.block_number + 1, chaindb.get_canonical_head().block_number + 1)
    chaindb._decanonicalize_old_headers(db, later)  # drops their transaction lookups
    gaps = chaindb._get_header_chain_gaps(db)
    for number in reversed(later):  # numbers and the header-gap bookkeeping
        gaps = chaindb._decanonicalize_single(db, number, gaps)
    db.set(SchemaV1.make_canonical_head_hash_lookup_key(), header.hash)


def revert_data(computation: ComputationAPI) -> bytes:
    """The REVERT payload of a failed computation (empty for other failures)."""
    # py-evm keeps the REVERT payload in the computation's output.
    return bytes(computation.output) if computation.is_error else b""


def log_from(evm_log: Any, block_number: int, tx_hash: bytes, log_index: int) -> Log:
    """A py-evm log as a chainml :class:`Log`."""
    return Log(
        address=to_checksum_address(evm_log.address),
        topics=tuple(topic.to_bytes(32, "big") for topic in evm_log.topics),
        data=bytes(evm_log.data),
        block_number=block_number,
        tx_hash=tx_hash,
        log_index=log_index,
    )


def receipt_from(
    tx: SignedTransactionAPI,
    receipt: Any,
    block_number: int,
    first_log_index: int,
    previous_cumulative: int,
    computation: ComputationAPI | None,
) -> Receipt:
    """A py-evm receipt as a chainml :class:`Receipt` (gas and log indexes per transaction)."""
    tx_hash = bytes(tx.hash)
    status = receipt.state_root == b"\x01"
    created = None
    if not tx.to and status:
        created = to_checksum_address(generate_contract_address(tx.sender, tx.nonce))
    failed = computation is not None and computation.is_error
    return Receipt(
        tx_hash=tx_hash,
        block_number=block_number,
        gas_used=receipt.gas_used - previous_cumulative,
        status=status,
        contract_address=created,
        logs=tuple(
            log_from(evm_log, block_number, tx_hash, first_log_index + i)
            for i, evm_log in enumerate(receipt.logs)
        ),
        revert_data=revert_data(computation) if failed and computation else None,
        failure=str(computation.error) if failed and computation else None,
    )
