"""The auditor's plain-Python verifier in docs/receipts.md runs as written, against anvil."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path

import pytest

from chainml.chain import Env
from chainml.log.anchor import Anchorer, log_contract
from chainml.log.decision_log import DecisionLog
from chainml.log.receipt import build_receipt
from chainml.log.trust import log_identity
from tests.log.test_anchor import decisions

DOC = Path(__file__).parents[1] / "docs" / "receipts.md"


def _snippet() -> str:
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.S)
    (code,) = [b for b in blocks if "urllib.request" in b]
    return code


def _run(receipt: dict, trust: dict) -> None:
    Path("receipt.json").write_text(json.dumps(receipt))
    exec(_snippet(), dict(trust))  # our own documentation, run as written


@pytest.mark.integration
def test_the_plain_python_verifier_in_the_docs(
    anvil_env: Env, anvil_node, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    monkeypatch.chdir(tmp_path)
    with (
        anvil_env.snapshot(),
        DecisionLog.open(tmp_path / "log", durability="normal") as log,
        DecisionLog.open(tmp_path / "outsider", durability="normal") as outsider,
    ):
        log.append(decisions(0, 11))
        Anchorer(log, log_contract(anvil_env, log)).anchor()
        identity = log_identity(anvil_env, log)  # what the operator publishes
        trust = {
            "NODE_URL": anvil_node.url,
            "CHAIN_ID": identity.chain_id,
            "LOG_CONTRACT": identity.contract,
            "LOG_CODE_SHA256": "0x" + identity.code_sha256.hex(),
        }
        receipt = build_receipt(log, 6)
        _run(receipt, trust)
        assert "valid: decision 6 is in the log you trust" in capsys.readouterr().out

        bad_proof = copy.deepcopy(receipt)  # it does refuse a bad proof
        bad_proof["inclusion_proof"][0] = "0x" + "00" * 32
        with pytest.raises(AssertionError, match="not in the log"):
            _run(bad_proof, trust)

        # An outsider's log holding the same request ids: a receipt it anchored itself.
        outsider.append(decisions(0, 11))
        Anchorer(outsider, log_contract(anvil_env, outsider)).anchor()
        forged = build_receipt(outsider, 6)
        with pytest.raises(AssertionError, match="not the log you trust"):
            _run(forged, trust)

        # Pinned to an address whose code is not the DecisionLog the verifier expects.
        other_code = {**trust, "LOG_CODE_SHA256": "0x" + "00" * 32}
        with pytest.raises(AssertionError, match="not the DecisionLog you trust"):
            _run(receipt, other_code)

        pending = build_receipt(log, 6)
        pending["anchor"] = None
        with pytest.raises(AssertionError, match="pending"):
            _run(pending, trust)
