"""The model lifecycle end to end through the CLI: train, register, vote, execute, show.

Runs on the embedded chain and on anvil (the anvil run is reverted afterwards). The data is the
payments simulator, so nothing is downloaded; tests/models/test_creditcard.py covers the ULB file.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from chainml.chain import Env
from chainml.chain.devnode import ANVIL_DEV_KEY, AnvilNode
from tests.cli.test_cli import flat, isolated, run  # noqa: F401  (isolated is an autouse fixture)

USE = "fraud-screening"


def cli(capsys: pytest.CaptureFixture[str], data: Path, *args: str) -> tuple[int, str, str]:
    code, out, err = run(capsys, "--data-dir", str(data), *args)
    return code, out, flat(err)


def ok_json(capsys: pytest.CaptureFixture[str], data: Path, *args: str) -> Any:
    code, out, err = cli(capsys, data, *args, "--json")
    assert code == 0, err
    return json.loads(out)


def lifecycle(capsys: pytest.CaptureFixture[str], data: Path) -> str:
    """Train -> register -> propose approve -> vote -> wait out the timelock -> execute."""
    [model] = ok_json(
        capsys, data, "model", "train", "--data", "simulated:4000:5", "--kind", "lr",
        "--resamples", "50",
    )  # fmt: skip
    model_id = model["model_id"]
    code, out, err = cli(capsys, data, "model", "register", model_id)
    assert code == 0, err
    assert f"registered {model_id}" in flat(out)
    assert ok_json(capsys, data, "model", "show", model_id)["chain"]["status"] == "registered"
    by_prefix = ok_json(capsys, data, "model", "show", model_id[:10])  # looked up by full id
    assert (by_prefix["model_id"], by_prefix["chain"]["status"]) == (model_id, "registered")

    code, out, err = cli(capsys, data, "gov", "propose", "approve", model_id, "--use", USE)
    assert code == 0 and "proposal 1 created" in flat(out), err
    assert cli(capsys, data, "gov", "vote", "1", "for")[0] == 0
    code, _, err = cli(capsys, data, "gov", "execute", "1")
    assert code == 5 and "voting is still open" in err  # the vote has not ended: refused

    wait = ok_json(capsys, data, "gov", "status", "1")["blocks_until_executable"]
    assert wait > 0
    assert cli(capsys, data, "chain", "mine", str(wait))[0] == 0
    code, out, err = cli(capsys, data, "gov", "execute", "1")
    assert code == 0 and "executed proposal 1" in flat(out), err

    shown = ok_json(capsys, data, "model", "show", model_id)
    assert shown["chain"]["status"] == "approved"
    assert shown["chain"]["use"] == USE
    assert shown["chain"]["artifact hash"] == shown["card"]["artifact hash"]
    assert shown["chain"]["card hash"] == shown["card"]["card hash"]
    [listed] = ok_json(capsys, data, "model", "list")
    assert (listed["model_id"], listed["status"]) == (model_id, "approved")
    code, _, err = cli(capsys, data, "gov", "execute", "1")
    assert code == 5 and "executed" in err  # no second execution
    return str(model_id)


def test_lifecycle_on_the_embedded_chain(capsys, tmp_path: Path) -> None:
    data = tmp_path / "data"
    model_id = lifecycle(capsys, data)

    # a card edited after registration (better metrics, say) no longer matches the chain
    card = data / "models" / model_id / "card.json"
    document = json.loads(card.read_text())
    document["metrics"]["test"]["pr_auc"] = 0.99
    card.write_text(json.dumps(document, indent=2, sort_keys=True) + "\n")
    code, _, err = cli(capsys, data, "model", "show", model_id)
    assert code == 3
    assert "does not match the registry" in err and "card.json hashes to" in err
    code, _, err = cli(capsys, data, "model", "register", model_id)
    assert code == 3 and "registered with other hashes" in err

    # a flipped bit in the ONNX file breaks the id itself
    onnx = data / "models" / model_id / "model.onnx"
    raw = bytearray(onnx.read_bytes())
    raw[len(raw) // 2] ^= 0x01
    onnx.write_bytes(bytes(raw))
    code, _, err = cli(capsys, data, "model", "show", model_id, "--offline")
    assert code == 3 and "is not the model id" in err


def test_unknown_model_is_bad_input(capsys, tmp_path: Path) -> None:
    code, _, err = cli(capsys, tmp_path / "data", "model", "register", "0x" + "ab" * 32)
    assert code == 2 and "no model" in err
    code, _, err = cli(capsys, tmp_path / "data", "model", "show", "not-an-id")
    assert code == 2 and "not a model id" in err


@pytest.mark.integration
def test_lifecycle_on_anvil(
    capsys, monkeypatch, tmp_path: Path, anvil_env: Env, anvil_node: AnvilNode
) -> None:
    monkeypatch.setenv("CHAINML_PRIVATE_KEY", ANVIL_DEV_KEY)
    monkeypatch.setenv("CHAINML_RPC", anvil_node.url)
    with anvil_env.snapshot():
        lifecycle(capsys, tmp_path / "data")
