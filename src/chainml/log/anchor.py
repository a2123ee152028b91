"""Anchoring: putting the log's tree head on chain, by policy, idempotently, through outages.

The ``DecisionLog`` contract accepts a new head only with a consistency proof from the head
it holds, so the chain itself refuses a rewritten history. The :class:`Anchorer` adds the
client half: it checks that the local log still extends the anchored head before it sends,
never anchors two roots for one size, and — run in the background — keeps trying while the
node is unreachable while the log keeps accepting decisions.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from chainml import contracts
from chainml.chain import Contract, Env
from chainml.errors import (
    ChainUnavailableError,
    ContractRevertError,
    NotFoundError,
    VerificationError,
)
from chainml.log.decision_log import DecisionLog
from chainml.log.store import AnchorRecord

CONTRACT_NAME = "DecisionLog"
_log = logging.getLogger(__name__)


def contract_key(chain_id: int) -> str:
    """The store setting that remembers the log contract's address on one chain."""
    return f"contract:{chain_id}"


def log_contract(env: Env, log: DecisionLog, *, deploy: bool = True) -> Contract:
    """The log's anchor contract on ``env``'s chain; deployed (and remembered) on first use."""
    compiled = env.compile(contracts.source_path(CONTRACT_NAME))
    address = log.store.get_meta(contract_key(env.chain_id))
    if address is not None:
        try:
            return env.at(address, compiled)
        except NotFoundError as err:
            raise NotFoundError(
                f"the log's anchor contract {address} is gone from chain {env.chain_id} "
                "(was the node reset?); anchored heads there are lost"
            ) from err
    if not deploy:
        raise NotFoundError(
            f"this log has no anchor contract on chain {env.chain_id}; run `chainml log anchor`"
        )
    contract = env.deploy(compiled)
    log.store.set_meta(contract_key(env.chain_id), contract.address)
    return contract


@dataclass(frozen=True)
class AnchorPolicy:
    """Anchor when this many decisions wait, or when the oldest waited this long."""

    every_decisions: int = 10_000
    every_seconds: float = 60.0
    retry_seconds: float = 2.0  # first back-off after a failure; doubles up to a minute


class Anchorer:
    """Anchors one log through one contract."""

    def __init__(
        self,
        log: DecisionLog,
        contract: Contract,
        policy: AnchorPolicy | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.log = log
        self.contract = contract
        self.policy = policy or AnchorPolicy()
        self._clock = clock
        self._last_attempt = clock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.last_error: Exception | None = None

    def _latest(self) -> AnchorRecord | None:
        return self.log.store.latest_anchor(self.contract.env.chain_id, self.contract.address)

    @property
    def anchored_size(self) -> int:
        """Size of the latest head this log knows it anchored through this contract."""
        latest = self._latest()
        return latest.size if latest else 0

    def reconcile(self, from_block: int | None = None) -> list[AnchorRecord]:
        """Record the heads the contract holds that the log has not recorded yet.

        That happens after a crash between the anchor transaction and its bookkeeping, or
        when another anchorer of the same log anchored. Every such head must be a head of
        this log (VerificationError otherwise). ``from_block=0`` re-checks every head.
        """
        store, env = self.log.store, self.contract.env
        latest = self._latest()
        if from_block is None:
            from_block = latest.block_number if latest else 0
        added: list[AnchorRecord] = []
        for event in self.contract.events("Anchored", from_block=from_block):
            size, root = int(event["size"]), bytes(event["root"])
            if size > store.size:
                raise VerificationError(
                    f"contract {self.contract.address} holds a head of size {size}, beyond this "
                    f"log's {store.size} records: is this the log it anchors?"
                )
            if store.root(size) != root:
                raise VerificationError(
                    f"the anchored head of size {size} (block {event['_block']}) has root "
                    f"0x{root.hex()}, but this log's root at that size is "
                    f"0x{store.root(size).hex()}: the log was changed after anchoring"
                )
            if latest is not None and size <= latest.size:
                continue
            record = AnchorRecord(
                size=size,
                root=root,
                chain_id=env.chain_id,
                contract=self.contract.address,
                tx_hash=bytes(event["_tx"]),
                block_number=int(event["_block"]),
                anchored_at=time.time(),
            )
            store.record_anchor(record)
            added.append(record)
        return added

    def due(self) -> bool:
        """Whether the policy asks for an anchor now."""
        waiting = self.log.store.size - self.anchored_size
        if waiting <= 0:
            return False
        waited = self._clock() - self._last_attempt
        return waiting >= self.policy.every_decisions or waited >= self.policy.every_seconds

    def anchor(self) -> AnchorRecord | None:
        """Anchor the current head now; None when the chain already holds it."""
        self._last_attempt = self._clock()
        store, env = self.log.store, self.contract.env
        self.reconcile()
        head = self.log.head()
        chain_size = int(self.contract.size())
        chain_root = bytes(self.contract.root())
        if chain_size > head.size:
            raise VerificationError(
                f"the chain holds a head of size {chain_size} but this log has only "
                f"{head.size} records: is this the log that contract {self.contract.address} "
                "anchors?"
            )
        if chain_size and store.root(chain_size) != chain_root:
            raise VerificationError(
                f"the local log no longer matches its anchored head at size {chain_size}: "
                f"chain root {chain_root.hex()}, local root {store.root(chain_size).hex()}; "
                "run `chainml log audit`"
            )
        if chain_size == head.size:
            return None  # reconcile() recorded it if it was not recorded yet
        proof = store.consistency_proof(chain_size, head.size) if chain_size else []
        try:
            receipt = self.contract.anchor(head.size, head.root, proof)
        except ContractRevertError:
            if int(self.contract.size()) >= head.size:  # another anchorer got there first
                self.reconcile()
                return None
            raise
        record = AnchorRecord(
            size=head.size,
            root=head.root,
            chain_id=env.chain_id,
            contract=self.contract.address,
            tx_hash=receipt.tx_hash,
            block_number=receipt.block_number,
            anchored_at=time.time(),
        )
        store.record_anchor(record)
        _log.info(
            "anchored size %d root %s in block %d", head.size, head.root.hex(), record.block_number
        )
        return record

    # -- in the background ---------------------------------------------------------------

    def start(self, poll_seconds: float = 0.5) -> None:
        """Anchor by policy in a background thread until :meth:`stop`."""
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(
            target=self._run, args=(poll_seconds,), name="chainml-anchorer", daemon=True
        )
        self._thread.start()

    def stop(self, final_anchor: bool = False, timeout: float = 30.0) -> None:
        """Stop the background thread (optionally anchoring what is left, once)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        if final_anchor:
            self.anchor()

    def _run(self, poll_seconds: float) -> None:
        backoff = self.policy.retry_seconds
        while not self._stop.wait(poll_seconds):
            if not self.due():
                continue
            try:
                self.anchor()
                self.last_error = None
                backoff = self.policy.retry_seconds
            except ChainUnavailableError as err:  # the node is down: wait and try again
                self.last_error = err
                _log.warning("anchoring postponed: %s", err)
                if self._stop.wait(backoff):
                    return
                backoff = min(backoff * 2, 60.0)
            except Exception as err:  # keep the thread alive; the error is reported, not lost
                self.last_error = err
                _log.error("anchoring failed: %s", err)
                if self._stop.wait(backoff):
                    return
                backoff = min(backoff * 2, 60.0)
