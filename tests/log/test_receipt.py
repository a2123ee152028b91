"""Receipts: built from the log, checked offline, verified on chain only against a pinned log."""

from __future__ import annotations

import copy
import hashlib
import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from eth_utils import keccak

from chainml import contracts
from chainml.chain import Env, compile_source
from chainml.errors import InvalidInputError, VerificationError
from chainml.governance.registry import ModelRegistry
from chainml.log.anchor import Anchorer, log_contract
from chainml.log.approval import check_approved
from chainml.log.decision_log import DecisionLog
from chainml.log.receipt import build_receipt, check_receipt, verify_receipt
from chainml.log.trust import TrustRoot, parse_trust_root
from tests.log.test_anchor import decisions


def pinned(env: Env, contract) -> tuple[TrustRoot, ...]:
    """The verifier's trust root: the operator's log contract on this chain."""
    return (TrustRoot(env.chain_id, contract.address),)


@pytest.fixture
def anchored(env: Env, tmp_path: Path):
    """A log of 21 decisions: 13 anchored first, then all 21."""
    with DecisionLog.open(tmp_path / "log", durability="normal") as log:
        contract = log_contract(env, log)
        log.append(decisions(0, 13))
        Anchorer(log, contract).anchor()
        log.append(decisions(13, 8))
        yield log, contract


def test_anchored_receipt_verifies_against_the_pinned_log(env: Env, anchored) -> None:
    log, contract = anchored
    receipt = build_receipt(log, 5)
    assert receipt["tree_size"] == 13 and receipt["anchor"]["tree_size"] == 13
    offline = check_receipt(receipt)
    assert offline.anchored_size == 13 and not offline.verified  # hashes alone prove no log
    check = verify_receipt(receipt, env, trusted=pinned(env, contract))
    assert check.verified and check.anchored_size == 13
    assert check.trusted_log == pinned(env, contract)[0]
    assert check.record == log.record(5)


@pytest.mark.parametrize("proof", [{}, {"proof": None}, {"proof": "done"}])
def test_the_service_answer_around_a_receipt_verifies_as_saved(
    env: Env, anchored, proof: dict[str, Any]
) -> None:
    log, contract = anchored
    receipt = build_receipt(log, 5)
    answer = {"status": "anchored", "leaf_index": 5, "receipt": receipt} | proof  # curl > r.json
    assert verify_receipt(answer, env, trusted=pinned(env, contract)).verified
    with pytest.raises(InvalidInputError):  # any other wrapper is not a receipt
        check_receipt(answer | {"extra": 1})


def test_the_same_receipt_is_refused_without_a_trust_root(env: Env, anchored) -> None:
    log, contract = anchored
    receipt = build_receipt(log, 5)
    with pytest.raises(VerificationError, match="anchor is unpinned"):
        verify_receipt(receipt, env, trusted=())
    elsewhere = (TrustRoot(env.chain_id, "0x" + "12" * 20),)
    with pytest.raises(VerificationError, match="not a log you trust"):
        verify_receipt(receipt, env, trusted=elsewhere)
    other_chain = (TrustRoot(env.chain_id + 1, contract.address),)
    with pytest.raises(VerificationError, match="not a log you trust"):
        verify_receipt(receipt, env, trusted=other_chain)


def test_pending_receipt_is_never_valid_then_anchored(env: Env, anchored) -> None:
    log, contract = anchored
    pending = build_receipt(log, 17)
    assert pending["anchor"] is None and pending["tree_size"] == 21
    assert check_receipt(pending).anchored_size is None  # the hashes hold...
    with pytest.raises(VerificationError, match="pending"):  # ...but nothing vouches for them
        verify_receipt(pending, env, trusted=pinned(env, contract))
    Anchorer(log, contract).anchor()
    older_head = build_receipt(log, 2, tree_size=13)  # proven at 13, anchored at 21
    assert older_head["anchor"]["tree_size"] == 21 and older_head["anchor"]["consistency_proof"]
    check = verify_receipt(older_head, env, trusted=pinned(env, contract))
    assert (check.tree_size, check.anchored_size, check.verified) == (13, 21, True)


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
    "record features, leaf data intact": lambda r: r["record"].update(
        features=[str(int(f) + 1) for f in r["record"]["features"]]
    ),
    "record request id": lambda r: r["record"].update(request_id=_flip(r["record"]["request_id"])),
    "anchor transaction": lambda r: r["anchor"].update(tx_hash=_flip(r["anchor"]["tx_hash"])),
    "anchor block": lambda r: r["anchor"].update(block_number=r["anchor"]["block_number"] + 1),
}


@pytest.mark.parametrize("tamper", TAMPERS, ids=list(TAMPERS))
def test_tampered_receipts_are_refused(env: Env, anchored, tamper: str) -> None:
    log, contract = anchored
    Anchorer(log, contract).anchor()
    receipt = build_receipt(log, 6, tree_size=13)
    trusted = pinned(env, contract)
    verify_receipt(receipt, env, trusted=trusted)
    bad = copy.deepcopy(receipt)
    TAMPERS[tamper](bad)
    with pytest.raises(VerificationError):
        verify_receipt(bad, env, trusted=trusted)


MALFORMED = {
    "leaf_index as a string": (lambda r: r.update(leaf_index="6"), "leaf_index"),
    "leaf_index as a float": (lambda r: r.update(leaf_index=6.5), "leaf_index"),
    "leaf_index as a boolean": (lambda r: r.update(leaf_index=True), "leaf_index"),
    "negative tree size": (lambda r: r.update(tree_size=-1), "tree_size"),
    "tree size past the bound": (lambda r: r.update(tree_size=2**63), "tree_size"),
    "request_id null": (lambda r: r["record"].update(request_id=None), "record.request_id"),
    "features a string": (lambda r: r["record"].update(features="123"), "record.features"),
    "feature an integer": (lambda r: r["record"].update(features=[1]), r"record.features\[0\]"),
    "score with a leading zero": (
        lambda r: r["record"].update(score="0" + r["record"]["score"].lstrip("-")),
        "record.score",
    ),
    "label a string": (lambda r: r["record"].update(label="1"), "record.label"),
    "record field missing": (lambda r: r["record"].pop("metadata_hash"), "metadata_hash"),
    "unknown field": (lambda r: r.update(signature="0x00"), "signature"),
    "uppercase hex": (
        lambda r: r.update(tree_root=r["tree_root"].upper().replace("0X", "0x")),
        "tree_root",
    ),
    "short hash": (
        lambda r: r["inclusion_proof"].__setitem__(0, "0x1234"),
        r"inclusion_proof\[0\]",
    ),
    "odd hex": (lambda r: r.update(leaf_data=r["leaf_data"] + "0"), "leaf_data"),
    "contract not checksummed": (
        lambda r: r["anchor"].update(contract=r["anchor"]["contract"].lower()),
        "anchor.contract",
    ),
    "anchor not an object": (lambda r: r.update(anchor=[]), "anchor"),
    "proof too long": (
        lambda r: r.update(inclusion_proof=["0x" + "00" * 32] * 65),
        "inclusion_proof",
    ),
    "not an object": (lambda r: r.clear(), "missing"),
}


@pytest.mark.parametrize("malformed", MALFORMED, ids=list(MALFORMED))
def test_malformed_receipts_are_input_errors_naming_the_field(
    embedded_env: Env, tmp_path: Path, malformed: str
) -> None:
    with embedded_env.snapshot(), DecisionLog.open(tmp_path / "log", durability="normal") as log:
        log.append(decisions(0, 9))
        Anchorer(log, log_contract(embedded_env, log)).anchor()
        receipt = build_receipt(log, 6)
    check_receipt(receipt)
    change, field = MALFORMED[malformed]
    change(receipt)
    with pytest.raises(InvalidInputError, match=field):
        check_receipt(receipt)


def test_a_consistent_but_never_anchored_head_is_caught_on_chain(env: Env, anchored) -> None:
    """Offline checks pass for a head the operator made up; only the chain can say no."""
    log, contract = anchored
    receipt = build_receipt(log, 3)  # anchored at 13
    forged = copy.deepcopy(receipt)
    forged["anchor"]["tree_size"] = 21  # the log is 21 long, but 21 was never anchored
    forged["anchor"]["tree_root"] = "0x" + log.store.root(21).hex()
    forged["anchor"]["consistency_proof"] = [
        "0x" + h.hex() for h in log.store.consistency_proof(13, 21)
    ]
    check_receipt(forged)  # offline: consistent
    with pytest.raises(VerificationError, match="never anchored"):
        verify_receipt(forged, env, trusted=pinned(env, contract))


def test_wrong_chain_and_non_receipts(env: Env, anchored) -> None:
    log, contract = anchored
    receipt = build_receipt(log, 0)
    receipt["anchor"]["chain_id"] = env.chain_id + 1
    trusted = (TrustRoot(env.chain_id + 1, contract.address),)  # pinned on the other chain
    with pytest.raises(VerificationError, match=r"node serves chain .*pass --rpc"):
        verify_receipt(receipt, env, trusted=trusted)
    with pytest.raises(InvalidInputError, match="not a chainml receipt"):
        check_receipt({**receipt, "format": "something else"})
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


# -- trust roots: a receipt proves something only relative to a log the verifier chose --------


def _deploy_as(env: Env, compiled, sender: str):
    return env.deploy(compiled, sender=sender)


def _anchor_as(env: Env, log: DecisionLog, contract, sender: str) -> None:
    previous = env.sender
    env.sender = sender
    try:
        Anchorer(log, contract).anchor()
    finally:
        env.sender = previous


def test_a_forged_receipt_from_an_outsiders_log_is_refused(env: Env, tmp_path: Path) -> None:
    """Finding 1: an outsider logs a flipped decision under the operator's request id."""
    with (
        DecisionLog.open(tmp_path / "operator", durability="normal") as operator,
        DecisionLog.open(tmp_path / "outsider", durability="normal") as outsider,
    ):
        operators_log = log_contract(env, operator)
        operator.append(decisions(0, 5))
        Anchorer(operator, operators_log).anchor()
        genuine = build_receipt(operator, 3)

        outsider.append([replace(d, label=1 - d.label) for d in decisions(0, 5)])
        outsider_key = env.accounts[1]
        compiled = env.compile(contracts.source_path("DecisionLog"))
        _anchor_as(env, outsider, _deploy_as(env, compiled, outsider_key), outsider_key)
        forged = build_receipt(outsider, 3)

    assert forged["record"]["request_id"] == genuine["record"]["request_id"]
    assert forged["record"]["label"] != genuine["record"]["label"]
    check_receipt(forged)  # its hashes are perfectly consistent: only the trust root says no
    trusted = pinned(env, operators_log)
    assert verify_receipt(genuine, env, trusted=trusted).verified
    with pytest.raises(VerificationError, match="not a log you trust"):
        verify_receipt(forged, env, trusted=trusted)
    with pytest.raises(VerificationError, match="unpinned"):
        verify_receipt(forged, env, trusted=())
    forged["anchor"]["contract"] = operators_log.address  # claiming the operator's log instead
    with pytest.raises(VerificationError, match=r"anchored root|never anchored"):
        verify_receipt(forged, env, trusted=trusted)


def test_a_different_contract_at_the_pinned_address_is_refused(env: Env, tmp_path: Path) -> None:
    """The code hash, not the address alone: a look-alike log answers whatever its owner likes."""
    source = contracts.source_path("DecisionLog").read_text()
    lookalike = compile_source(source.replace('"log cannot shrink"', '"no shrinking"'), "Lookalike")
    with DecisionLog.open(tmp_path / "log", durability="normal") as log:
        contract = env.deploy(lookalike)
        log.append(decisions(0, 4))
        Anchorer(log, contract).anchor()
        receipt = build_receipt(log, 1)
    with pytest.raises(VerificationError, match=r"hashes to .* not the DecisionLog you trust"):
        verify_receipt(receipt, env, trusted=pinned(env, contract))
    # A verifier who pins that code hash explicitly has chosen to trust it.
    code_hash = keccak(lookalike.runtime_bytecode)
    explicit = (TrustRoot(env.chain_id, contract.address, code_hash),)
    assert verify_receipt(receipt, env, trusted=explicit).verified


def test_trust_roots_parse_and_refuse_nonsense() -> None:
    address = "0x" + "ab" * 20
    root = parse_trust_root(f"31337:{address}")
    assert (root.chain_id, root.address.lower(), root.code_hash) == (31337, address, None)
    assert parse_trust_root(address).chain_id is None
    pinned_hash = parse_trust_root(f"1:{address}:0x{'cd' * 32}")
    assert pinned_hash.code_hash == bytes.fromhex("cd" * 32)
    assert parse_trust_root(str(pinned_hash)) == pinned_hash
    for bad in ("", "1:2:3:4", f"x:{address}", f"0:{address}", "1:0x1234", f"1:{address}:0x12"):
        with pytest.raises(InvalidInputError):
            parse_trust_root(bad)


def test_require_approved_reads_the_registry_at_the_anchor_block(env: Env, tmp_path: Path) -> None:
    model = decisions(0, 1)[0].model_id
    registry = ModelRegistry.deploy(env, governor=env.sender)
    registry.register(model, b"\x22" * 32, b"\x33" * 32, "file://model.onnx")
    with DecisionLog.open(tmp_path / "log", durability="normal") as log:
        contract = log_contract(env, log)
        log.append(decisions(0, 3))
        Anchorer(log, contract).anchor()
        before = verify_receipt(build_receipt(log, 1), env, trusted=pinned(env, contract))
        terms = (bytes(32), env.sender, "0x" + "00" * 20)  # nothing replaced, ours, no contract
        registry.contract.transact("approve", model, "fraud-screening", *terms)
        log.append(decisions(3, 3))
        Anchorer(log, contract).anchor()
        after = verify_receipt(build_receipt(log, 4), env, trusted=pinned(env, contract))
    root = TrustRoot(env.chain_id, registry.address)
    assert check_approved(env, after, root, "fraud-screening") == after.anchor.block_number
    with pytest.raises(VerificationError, match="not the approved model for 'other'"):
        check_approved(env, after, root, "other")
    # Approved now, but not yet at the first anchor's block: the historical call tells.
    with pytest.raises(VerificationError, match=f"at block {before.anchor.block_number}"):
        check_approved(env, before, root, "fraud-screening")
    with pytest.raises(VerificationError, match="not the ModelRegistry you trust"):
        check_approved(env, after, TrustRoot(env.chain_id, contract.address), "fraud-screening")
    with pytest.raises(VerificationError, match="verified against a trusted log first"):
        check_approved(env, replace(after, checked_on_chain=False), root, "fraud-screening")
