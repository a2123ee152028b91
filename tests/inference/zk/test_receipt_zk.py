"""``chainml.receipt/2``: a /1 receipt plus a ``zk`` attachment, parsed strictly (no EZKL run)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from chainml.errors import InvalidInputError, VerificationError
from chainml.inference.zk.proof import parse_attachment
from chainml.inference.zk.verify import read_attachment
from chainml.log.decision_log import Decision, DecisionLog
from chainml.log.receipt import build_receipt, check_receipt

MODEL = bytes.fromhex("11" * 32)


@pytest.fixture
def receipt(tmp_path: Path) -> dict[str, Any]:
    with DecisionLog.open(tmp_path) as log:
        log.append([Decision(MODEL, 5, 1, bytes(31) + b"\x01", features=(1, 2, 3))])
        return build_receipt(log, 0)


def _attachment(**changes: Any) -> dict[str, Any]:
    document = {
        "format": "chainml.zk-proof/1", "model_id": "0x" + MODEL.hex(), "circuit": "ab",
        "vk_sha256": "0x" + "22" * 32, "inputs": "public", "input_hashes": [],
        "proof": "0x" + "33" * 64, "ezkl": "23.0.5",
        "srs": {"insecure": True, "note": "INSECURE FOR PRODUCTION"},
    }  # fmt: skip
    return document | changes


def test_a_proved_receipt_checks_like_a_plain_one(receipt) -> None:
    proved = receipt | {"format": "chainml.receipt/2", "zk": _attachment()}
    assert check_receipt(proved).record == check_receipt(receipt).record
    _, attachment = read_attachment(proved)
    assert attachment.inputs == "public" and attachment.insecure_srs
    assert parse_attachment(attachment.document()) == attachment  # round trip


def test_the_zk_key_belongs_to_format_2_only(receipt) -> None:
    with pytest.raises(InvalidInputError, match="unknown field"):
        check_receipt(receipt | {"zk": _attachment()})
    with pytest.raises(InvalidInputError, match="missing the field"):
        check_receipt(receipt | {"format": "chainml.receipt/2"})
    with pytest.raises(VerificationError, match="carries no zk proof"):
        read_attachment(receipt)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"format": "other"}, "zk.format"),
        ({"inputs": "secret"}, "zk.inputs"),
        ({"proof": "0x"}, "zk.proof"),
        ({"proof": "0xzz"}, "not hexadecimal"),
        ({"vk_sha256": "0x12"}, "zk.vk_sha256"),
        ({"srs": {"insecure": "no", "note": ""}}, "zk.srs"),
        ({"extra": 1}, "unknown field"),
    ],
)
def test_a_malformed_attachment_is_refused(receipt, changes, message) -> None:
    proved = receipt | {"format": "chainml.receipt/2", "zk": _attachment(**changes)}
    with pytest.raises(InvalidInputError, match=message):
        read_attachment(proved)


def test_a_proof_naming_another_model_is_refused(receipt) -> None:
    proved = receipt | {
        "format": "chainml.receipt/2",
        "zk": _attachment(model_id="0x" + "44" * 32),
    }
    with pytest.raises(VerificationError, match="the proof is for model 0x4444"):
        read_attachment(proved)
