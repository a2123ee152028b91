"""The demo's decision-log steps: anchor, prove, verify, show tampering fail, audit."""

from __future__ import annotations

import copy
import random
import time
from dataclasses import dataclass

from chainml.chain import Env
from chainml.errors import VerificationError
from chainml.log.anchor import Anchorer, log_contract
from chainml.log.decision_log import DecisionLog
from chainml.log.receipt import build_receipt, verify_receipt
from chainml.log.store import AnchorRecord
from chainml.log.trust import TrustRoot, operated_log


def pinned_log(env: Env, log: DecisionLog) -> tuple[TrustRoot, ...]:
    """The trust root of the log this demo anchored itself: its own contract, nothing else."""
    return (operated_log(env, log),)


@dataclass(frozen=True)
class Anchoring:
    """The anchoring step: the anchorer, and the new anchor with its gas (None: already held)."""

    anchorer: Anchorer
    record: AnchorRecord | None
    gas: int = 0
    covered: int = 0  # decisions this anchor newly covers


def anchor_head(env: Env, log: DecisionLog) -> Anchoring:
    """Anchor the log's head; measure the gas and what it costs per decision."""
    anchorer = Anchorer(log, log_contract(env, log))
    before = anchorer.anchored_size
    record = anchorer.anchor()
    if record is None:
        return Anchoring(anchorer, None)
    gas = env.backend.wait_for_receipt(record.tx_hash).gas_used
    return Anchoring(anchorer, record, gas, record.size - before)


@dataclass(frozen=True)
class ReceiptCheck:
    """How many receipts were proven and verified on chain, and how long each took."""

    count: int
    seconds: float


def verify_receipts(env: Env, log: DecisionLog, sample: int) -> ReceiptCheck:
    """Prove a random sample of decisions and verify each receipt against the chain."""
    rng = random.Random(log.head().size)
    indexes = rng.sample(range(log.head().size), min(sample, log.head().size))
    trusted = pinned_log(env, log)
    started = time.perf_counter()
    for index in indexes:
        check = verify_receipt(build_receipt(log, index), env, trusted=trusted)
        if not check.verified:
            raise VerificationError(f"the receipt of decision {index} is not anchored")
    return ReceiptCheck(len(indexes), time.perf_counter() - started)


def show_tampering(env: Env, log: DecisionLog) -> str:
    """A rewritten decision, or no pinned log, must fail; the forgery's rejection message.

    Raises VerificationError when either check unexpectedly passes.
    """
    receipt = build_receipt(log, 0)
    forged = copy.deepcopy(receipt)
    forged["record"]["label"] = 1 - forged["record"]["label"]
    try:
        verify_receipt(forged, env, trusted=pinned_log(env, log))
    except VerificationError as err:
        rejection = str(err)
    else:
        raise VerificationError("a tampered receipt verified: the log is not tamper-evident")
    try:
        verify_receipt(receipt, env, trusted=())
    except VerificationError:
        return rejection
    raise VerificationError("a receipt verified against no trusted log: the anchor is unpinned")


def audit_log(anchorer: Anchorer, log: DecisionLog) -> int:
    """Recompute the whole log and check every anchored head on chain; the records audited."""
    report = log.audit()
    if not report.ok:
        raise VerificationError(f"audit failed: {report.message}")
    anchorer.reconcile(from_block=0)
    return log.head().size
