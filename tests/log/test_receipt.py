"""Receipts: built from the log, verified offline and on chain, and refused when tampered."""

from __future__ import annotations

import copy
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from chainml.chain import Env
from chainml.errors import InvalidInputError, VerificationError
from chainml.log.anchor import Anchorer, log_contract
from chainml.log.decision_log import DecisionLog
from chainml.log.receipt import build_receipt, verify_receipt
from tests.log.test_anchor import decisions


@pytest.fixture
def anchored(env: Env, tmp_path: Path):
    """A log of 21 decisions: 13 anchored first, then all 21."""
    with DecisionLog.open(tmp_path / "log", durability="normal") as log:
        contract = log_contract(env, log)
        log.append(decisions(0, 13))
        Anchorer(log, contract).anchor()
        log.append(decisions(13, 8))
        yield log, contract


def test_anchored_receipt_verifies_offline_and_on_chain(env: Env, anchored) -> None:
    log, _contract = anchored
    receipt = build_receipt(log, 5)
    assert receipt["tree_size"] == 13 and receipt["anchor"]["tree_size"] == 13
    check = verify_receipt(receipt, env)
    assert check.checked_on_chain and check.anchored_size == 13
    assert check.record == log.record(5)


def test_pending_receipt_then_anchored_with_a_consistency_proof(env: Env, anchored) -> None:
    log, contract = anchored
    pending = build_receipt(log, 17)
    assert pending["anchor"] is None and pending["tree_size"] == 21
    assert verify_receipt(pending, env).anchored_size is None
    Anchorer(log, contract).anchor()
    older_head = build_receipt(log, 2, tree_size=13)  # proven at 13, anchored at 21
    assert older_head["anchor"]["tree_size"] == 21 and older_head["anchor"]["consistency_proof"]
    check = verify_receipt(older_head, env)
    assert (check.tree_size, check.anchored_size, check.checked_on_chain) == (13, 21, True)


def _flip(value: str) -> str:
    digits = list(value)
    digits[-1] = "0" if digits[-1] != "0" else "1"
    return "".join(digits)


TAMPERS = {
    "leaf data": lambda r: r.update(leaf_data=_flip(r["leaf_data"])),
    "record score": lambda r: r["record"].update(score=str(int(r["record"]["score"]) + 1)),
    "leaf index": lambda r: r.update(leaf_index=r["leaf_index"] + 1),
    "tree root": lambda r: r.update(tree_root=_flip(r["tree_root"])),
    "inclusion proof": lambda r: r["inclusion_proof"].__setitem__(
        0, _flip(r["inclusion_proof"][0])
    ),
    "truncated proof": lambda r: r["inclusion_proof"].pop(),
    "anchored root": lambda r: r["anchor"].update(tree_root=_flip(r["anchor"]["tree_root"])),
}


@pytest.mark.parametrize("tamper", TAMPERS, ids=list(TAMPERS))
def test_tampered_receipts_are_refused(env: Env, anchored, tamper: str) -> None:
    log, contract = anchored
    Anchorer(log, contract).anchor()
    receipt = build_receipt(log, 6, tree_size=13)
    verify_receipt(receipt, env)
    bad = copy.deepcopy(receipt)
    TAMPERS[tamper](bad)
    with pytest.raises(VerificationError):
        verify_receipt(bad, env)


def test_a_consistent_but_never_anchored_head_is_caught_on_chain(env: Env, anchored) -> None:
    """Offline checks pass for a head the operator made up; only the chain can say no."""
    log, _contract = anchored
    receipt = build_receipt(log, 3)  # anchored at 13
    forged = copy.deepcopy(receipt)
    forged["anchor"]["tree_size"] = 21  # the log is 21 long, but 21 was never anchored
    forged["anchor"]["tree_root"] = "0x" + log.store.root(21).hex()
    forged["anchor"]["consistency_proof"] = [
        "0x" + h.hex() for h in log.store.consistency_proof(13, 21)
    ]
    verify_receipt(forged)  # offline: consistent
    with pytest.raises(VerificationError, match="never anchored"):
        verify_receipt(forged, env)


def test_wrong_chain_and_non_receipts(env: Env, anchored) -> None:
    log, _ = anchored
    receipt = build_receipt(log, 0)
    receipt["anchor"]["chain_id"] = env.chain_id + 1
    with pytest.raises(InvalidInputError, match="pass --rpc"):
        verify_receipt(receipt, env)
    with pytest.raises(InvalidInputError, match="not a chainml receipt"):
        verify_receipt({"format": "something else"})
    with pytest.raises(InvalidInputError):
        build_receipt(log, 99)


def auditor_check(receipt: dict[str, Any]) -> bool:
    """What the README's auditor walkthrough does with hashlib alone (RFC 9162 2.1.3.2)."""
    node = hashlib.sha256(b"\x00" + bytes.fromhex(receipt["leaf_data"][2:])).digest()
    fn, sn = receipt["leaf_index"], receipt["tree_size"] - 1
    for sibling in (bytes.fromhex(h[2:]) for h in receipt["inclusion_proof"]):
        if fn & 1 or fn == sn:
            node = hashlib.sha256(b"\x01" + sibling + node).digest()
            while fn and not fn & 1:
                fn, sn = fn >> 1, sn >> 1
        else:
            node = hashlib.sha256(b"\x01" + node + sibling).digest()
        fn, sn = fn >> 1, sn >> 1
    return sn == 0 and "0x" + node.hex() == receipt["tree_root"]


def test_plain_hashlib_verification_agrees(env: Env, anchored) -> None:
    log, _ = anchored
    for index in range(13):
        receipt = json.loads(json.dumps(build_receipt(log, index)))
        assert auditor_check(receipt)
        receipt["leaf_data"] = _flip(receipt["leaf_data"])
        assert not auditor_check(receipt)
