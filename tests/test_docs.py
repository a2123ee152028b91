"""The auditor's plain-Python verifier in docs/receipts.md runs as written, against anvil."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from chainml.chain import Env
from chainml.log.anchor import Anchorer, log_contract
from chainml.log.decision_log import DecisionLog
from chainml.log.receipt import build_receipt
from tests.log.test_anchor import decisions

DOC = Path(__file__).parents[1] / "docs" / "receipts.md"


def _snippet() -> str:
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.S)
    (code,) = [b for b in blocks if "urllib.request" in b]
    return code


@pytest.mark.integration
def test_the_plain_python_verifier_in_the_docs(
    anvil_env: Env, anvil_node, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    with anvil_env.anchor(), DecisionLog.open(tmp_path / "log", durability="normal") as log:
        log.append(decisions(0, 11))
        Anchorer(log, log_contract(anvil_env, log)).anchor()
        receipt = build_receipt(log, 6)
        monkeypatch.chdir(tmp_path)
        Path("receipt.json").write_text(json.dumps(receipt))
        exec(_snippet(), {"NODE_URL": anvil_node.url})  # our own documentation, run as written
        assert "valid: decision 6 is in the anchored log" in capsys.readouterr().out

        receipt["inclusion_proof"][0] = "0x" + "00" * 32  # and it does refuse a bad proof
        Path("receipt.json").write_text(json.dumps(receipt))
        with pytest.raises(AssertionError, match="not in the log"):
            exec(_snippet(), {"NODE_URL": anvil_node.url})
