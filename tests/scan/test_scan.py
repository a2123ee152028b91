"""Scanning end to end: reentrancy flagged in the right function; the receipt verifies.

These use the tiny fixture model (tests/scan/fixtures/model.json, see make_fixture_model.py);
the real one is trained at run time (test_trained.py covers its cache).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

import chainml
from chainml.chain import Env
from chainml.errors import NotFoundError, VerificationError
from chainml.log.decision_log import DecisionLog
from chainml.scan import check_file_receipt, load_model, scan_address, scan_path, scan_source
from chainml.scan.opcodes import bytecode_unit
from tests.scan.contracts import BANK_04
from tests.scan.make_fixture_model import FIXTURE

MODEL = load_model(FIXTURE)


def test_the_fixture_model_loads_and_covers_the_main_categories() -> None:
    assert set(MODEL.categories) == {
        "reentrancy",
        "unchecked_low_level_calls",
        "access_control",
        "arithmetic",
    }
    assert MODEL.model_id == hashlib.sha256(FIXTURE.read_bytes()).digest()
    assert FIXTURE.stat().st_size < 16_000


def test_a_reentrancy_victim_is_flagged_in_withdraw() -> None:
    report = scan_source(BANK_04, "Bank.sol", model=MODEL)
    reentrancy = [f for f in report.files[0].findings if f.category == "reentrancy"]
    assert [(f.contract, f.function) for f in reentrancy] == [("Bank", "withdraw")]
    assert reentrancy[0].first_line <= 12 <= reentrancy[0].last_line  # the call's line
    assert 0.0 < reentrancy[0].score <= 1.0


def test_the_scan_receipt_verifies_and_tampering_is_caught(tmp_path: Path) -> None:
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "Bank.sol").write_text(BANK_04)
    report = scan_path(tmp_path / "src", model=MODEL)
    with DecisionLog.open(tmp_path / "data") as log:
        report.log_to(log)
        record = log.record(0)
    entry = json.loads(json.dumps(report.to_json()))["files"][0]
    check_file_receipt(entry)  # hashes agree: the logged decision is these findings
    assert record.model_id == report.model_id and record.label == 1
    assert record.score == round(max(f["score"] for f in entry["findings"]) * 1_000_000)
    tampered = json.loads(json.dumps(entry))
    tampered["metadata"]["findings"] = [
        f for f in tampered["metadata"]["findings"] if f["category"] != "reentrancy"
    ]
    with pytest.raises(VerificationError, match="not the ones logged"):
        check_file_receipt(tampered)
    flipped = json.loads(json.dumps(entry))
    leaf = bytearray.fromhex(flipped["receipt"]["leaf_data"][2:])
    leaf[-1] ^= 1
    flipped["receipt"]["leaf_data"] = "0x" + leaf.hex()
    with pytest.raises(VerificationError):
        check_file_receipt(flipped)


def test_an_address_is_scanned_from_its_deployed_bytecode(embedded_env: Env) -> None:
    contracts = Path(chainml.__file__).parent / "contracts"
    with embedded_env.snapshot():
        counter = embedded_env.deploy(embedded_env.compile(contracts / "Counter.vy"), 7)
        code = embedded_env.backend.code(counter.address)
        report = scan_address(embedded_env, counter.address, model=MODEL)
        (scan,) = report.files
        assert scan.language == "evm-bytecode" and scan.units == 1
        assert scan.code_hash == hashlib.sha256(code).hexdigest()
        unit = bytecode_unit(code, counter.address)
        assert unit.features["op_sstore"] >= 1 and unit.features["op_jumpi"] >= 1
        with pytest.raises(NotFoundError, match="no contract code"):
            scan_address(embedded_env, embedded_env.accounts[1], model=MODEL)
