"""The decision-log steps of ``chainml demo``: anchor, prove, verify, tamper, audit."""

from __future__ import annotations

import copy
import random
import time

from rich.console import Console

from chainml.chain import Env
from chainml.cli.summary import Summary
from chainml.errors import VerificationError
from chainml.log.anchor import Anchorer, log_contract
from chainml.log.decision_log import DecisionLog
from chainml.log.receipt import build_receipt, verify_receipt
from chainml.log.trust import TrustRoot, operated_log


def pinned_log(env: Env, log: DecisionLog) -> tuple[TrustRoot, ...]:
    """The trust root of the log this demo anchored itself: its own contract, nothing else."""
    return (operated_log(env, log),)


def anchor_head(env: Env, log: DecisionLog, out: Console, summary: Summary) -> Anchorer:
    """Anchor the log's head; report the gas and what it costs per decision."""
    anchorer = Anchorer(log, log_contract(env, log))
    before = anchorer.anchored_size
    record = anchorer.anchor()
    if record is None:
        out.print("[green]✓[/] the chain already holds the log's head")
        return anchorer
    gas = env.backend.wait_for_receipt(record.tx_hash).gas_used
    covered = record.size - before
    out.print(
        f"[green]✓[/] anchored size {record.size:,} at {record.contract} "
        f"(block {record.block_number}): {gas:,} gas, {gas / covered:.2f} gas per decision"
    )
    summary.add("anchor contract", record.contract)
    summary.add("anchoring gas", f"{gas:,} ({gas / covered:.2f} per decision)")
    return anchorer


def verify_receipts(
    env: Env, log: DecisionLog, sample: int, out: Console, summary: Summary
) -> None:
    """Prove a random sample of decisions and verify each receipt against the chain."""
    rng = random.Random(log.head().size)
    indexes = rng.sample(range(log.head().size), min(sample, log.head().size))
    trusted = pinned_log(env, log)
    started = time.perf_counter()
    for index in indexes:
        check = verify_receipt(build_receipt(log, index), env, trusted=trusted)
        if not check.verified:
            raise VerificationError(f"the receipt of decision {index} is not anchored")
    seconds = time.perf_counter() - started
    out.print(
        f"[green]✓[/] {len(indexes)} receipts proven and verified on chain "
        f"({1000 * seconds / len(indexes):.1f} ms each)"
    )
    summary.add("receipts verified on chain", len(indexes))


def show_tampering(env: Env, log: DecisionLog, out: Console, summary: Summary) -> None:
    """A receipt whose decision was rewritten, or checked against no pinned log, must fail."""
    receipt = build_receipt(log, 0)
    forged = copy.deepcopy(receipt)
    forged["record"]["label"] = 1 - forged["record"]["label"]
    try:
        verify_receipt(forged, env, trusted=pinned_log(env, log))
    except VerificationError as err:
        out.print(f"[green]✓[/] a receipt with a flipped decision is rejected: {err}")
        summary.add("tampered receipt", "rejected")
    else:
        raise VerificationError("a tampered receipt verified: the log is not tamper-evident")
    try:
        verify_receipt(receipt, env, trusted=())
    except VerificationError:
        out.print("[green]✓[/] a genuine receipt is not valid for a verifier who pinned no log")
        return
    raise VerificationError("a receipt verified against no trusted log: the anchor is unpinned")


def audit_log(anchorer: Anchorer, log: DecisionLog, out: Console, summary: Summary) -> None:
    """Recompute the whole log and check every anchored head on chain."""
    report = log.audit()
    if not report.ok:
        raise VerificationError(f"audit failed: {report.message}")
    anchorer.reconcile(from_block=0)
    out.print(f"[green]✓[/] audit: {log.head().size:,} records recomputed, anchored heads agree")
    summary.add("audit", "passed")
