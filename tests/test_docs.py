"""The auditor's plain-Python verifier in docs/receipts.md runs as written, against anvil."""

from __future__ import annotations

import contextlib
import copy
import hashlib
import json
import os
import re
import shlex
import time
from pathlib import Path
from typing import Any

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


README = Path(__file__).parents[1] / "README.md"


def test_the_python_lifecycle_in_the_readme(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The README's notebook example, run as written on a generated CSV; then what it proves.

    The end-to-end test of the Python API: a CSV with text categories, blanks and a
    class-sorted text label -> dataset -> trained model -> registry entry on the embedded
    chain -> a raw record's decision in the log -> anchor -> receipt -> verified against the
    pinned log, and refused for a flipped bit or when no log is pinned.
    """
    import chainml
    from tests.api.loans import write_loans_csv

    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    [lifecycle] = [b for b in blocks if "chainml.Dataset.from_csv" in b]
    [embedding] = [b for b in blocks if "chainml.Service(" in b]
    monkeypatch.chdir(tmp_path)
    for name in ("CHAINML_DATA_DIR", "CHAINML_RPC", "CHAINML_TRUSTED_LOGS"):
        monkeypatch.delenv(name, raising=False)
    table = write_loans_csv(tmp_path / "loans.csv", rows=600)
    run: dict[str, Any] = {}
    exec(lifecycle, run)  # our own documentation, run as written
    assert capsys.readouterr().out.splitlines()[-1].startswith("True ")
    data, model, decided, receipt = run["data"], run["model"], run["decided"], run["receipt"]
    assert run["check"].verified and run["check"].record == decided

    assert (data.rows, data.positives) == (600, sum(row["label"] == "bad" for row in table))
    assert model.card["dataset"]["commitment"] == data.commitment()
    assert model.card["dataset"]["split"]["method"] == "stratified"  # no time column
    # logged: the model's decision on the encoded applicant, and the raw record's hash
    encoded = model.schema.encode_record(run["applicant"])
    assert decided.label == model.predict([encoded])[0]
    canonical = json.dumps({"metadata": None, "record": run["applicant"]}, sort_keys=True,
                           separators=(",", ":"), ensure_ascii=False)  # fmt: skip
    assert decided.metadata_hash == hashlib.sha256(canonical.encode()).digest()

    with chainml.connect() as env:
        assert not model.register(env).new  # registered once, by the example
        flipped = copy.deepcopy(receipt)
        leaf = bytearray.fromhex(flipped["leaf_data"][2:])
        leaf[-1] ^= 0x01  # one bit of the last feature
        flipped["leaf_data"] = "0x" + leaf.hex()
        with pytest.raises(chainml.VerificationError):
            chainml.verify_receipt(flipped, trusted_logs=[run["trusted"]], env=env)
        with pytest.raises(chainml.VerificationError, match="you trust no log"):
            chainml.verify_receipt(receipt, trusted_logs=[], env=env)

    exec(embedding, run)
    run["service"].close()
    assert "/risk/v1/score" in run["app"].openapi()["paths"]


def _walkthrough() -> list[list[str]]:
    """The README's CLI walk-through, one token list per command (comments dropped)."""
    blocks = re.findall(r"```sh\n(.*?)```", README.read_text(), flags=re.S)
    [block] = [b for b in blocks if "chainml data schema loans.csv" in b]
    return [shlex.split(line, comments=True) for line in block.splitlines() if line.strip()]


def test_the_cli_walkthrough_in_the_readme(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """From a raw CSV to a receipt verified against the pinned log and registry, command by
    command as the README prints them; ``serve &`` and ``curl`` become the same service
    in-process (a TestClient) and the same requests."""
    from fastapi.testclient import TestClient

    from chainml.config import Secret, Settings
    from chainml.service import create_app
    from chainml.service.options import ServiceOptions
    from tests.api.loans import write_loans_csv
    from tests.cli.test_cli import run

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PWD", str(tmp_path))
    for name in ("CHAINML_DATA_DIR", "CHAINML_RPC", "CHAINML_TRUSTED_LOGS", "CHAINML_API_KEYS"):
        monkeypatch.delenv(name, raising=False)
    write_loans_csv(tmp_path / "loans.csv", rows=600)
    outputs: list[str] = []
    learned = {  # what the reader copies from the output before
        "MODEL": lambda: re.findall(r"model (0x[0-9a-f]{64})", outputs[-1])[0],
        "LOG": lambda: re.findall(r"--log (\S+)", outputs[-1])[0],
        "REGISTRY": lambda: re.findall(r"--registry (\S+)", outputs[-1])[0],
    }
    with contextlib.ExitStack() as stack:
        client: TestClient | None = None
        for tokens in _walkthrough():
            tokens = [os.path.expandvars(token) for token in tokens]
            if tokens[0] == "export":
                name, value = tokens[1].split("=", 1)
                monkeypatch.setenv(name, value)
            elif "=" in tokens[0]:
                name = tokens[0].split("=", 1)[0]
                monkeypatch.setenv(name, learned[name]())
            elif tokens[:2] == ["chainml", "serve"]:
                use, seconds = tokens[tokens.index("--use") + 1], tokens[-2]
                options = ServiceOptions(
                    use=use, anchor_seconds=float(seconds), watch_seconds=0.5,
                    api_keys=(Secret(os.environ["CHAINML_API_KEYS"]),),
                )  # fmt: skip
                app = create_app(Settings(data_dir=Path(os.environ["CHAINML_DATA_DIR"])), options)
                client = stack.enter_context(TestClient(app))
            elif tokens[0] == "curl":
                assert client is not None
                path = tokens[2].removeprefix("http://127.0.0.1:8000")
                if "-d" in tokens:
                    headers = dict(h.split(": ", 1) for h in tokens[4:8:2])
                    body = json.loads(tokens[tokens.index("-d") + 1])
                    answer = client.post(path, json=body, headers=headers)
                    assert answer.status_code == 200, answer.text
                else:
                    for _ in range(120):  # anchored within --anchor-seconds, bounded
                        answer = client.get(path)
                        if answer.status_code == 200:
                            break
                        time.sleep(0.25)
                    assert answer.status_code == 200, answer.text
                    Path(tokens[-1]).write_text(answer.text)
            else:
                assert tokens[0] == "chainml", tokens
                code, out, err = run(capsys, *tokens[1:])
                assert code == 0, (tokens, out, err)
                outputs.append(out)
    verdict = " ".join(outputs[-1].split())
    assert "valid: decision 0 is in trusted log" in verdict
    assert "was the approved model for 'lending'" in verdict
    receipt = json.loads(Path("receipt.json").read_text())["receipt"]
    assert receipt["record"]["model_id"] == os.environ["MODEL"]
