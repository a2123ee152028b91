"""``chainml monitor --once`` end to end: alerts as JSON lines, each a receipt that verifies."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from chainml.chain import Env, connect
from chainml.chain.accounts import signers_from_mnemonic
from chainml.chain.rpc import RpcBackend
from chainml.config import Settings
from chainml.monitor.scenarios import generate
from tests.cli.test_cli import isolated, run  # noqa: F401  (isolated is an autouse fixture)
from tests.monitor.helpers import ANVIL_MNEMONIC


def test_monitor_alert_receipt_verifies_with_a_pinned_log(capsys, tmp_path: Path, receiver) -> None:
    url, posted, statuses = receiver
    statuses.append(503)  # the first POST fails and is retried
    data = tmp_path / "data"
    with connect(Settings(data_dir=data)) as env:
        generate(env, seed=5, benign=6, attacks=["approval_phishing"])
    code, out, err = run(
        capsys, "--data-dir", str(data), "monitor", "--from", "1", "--once", "--webhook", url
    )
    assert code == 0, err
    lines = [json.loads(line) for line in out.splitlines()]
    alerts = [m for m in lines if m["type"] == "alert"]
    assert {a["metadata"]["rule"] for a in alerts} == {
        "approval_to_fresh_contract",
        "third_party_sweep",
    }
    assert lines[-1]["type"] == "summary" and lines[-1]["alerts"] == len(alerts) == 4
    assert posted == alerts and statuses == []  # the webhook got each alert once
    # resuming from the checkpoint: nothing new to score, nothing alerted twice
    code, out, _ = run(capsys, "--data-dir", str(data), "monitor", "--from", "1", "--once")
    assert code == 0 and json.loads(out.splitlines()[-1])["blocks"] == 0
    # the sweep's alert becomes a receipt, verified against the pinned log contract
    sweep = next(a for a in alerts if a["metadata"]["rule"] == "third_party_sweep")
    assert run(capsys, "--data-dir", str(data), "log", "anchor")[0] == 0
    receipt = tmp_path / "alert.json"
    code, _, err = run(
        capsys,
        "--data-dir",
        str(data),
        "log",
        "prove",
        "--request-id",
        sweep["request_id"],
        "-o",
        str(receipt),
    )
    assert code == 0, err
    document = json.loads(receipt.read_text())
    assert int(document["record"]["score"]) == sweep["score"] == 95
    contract = document["anchor"]["contract"]
    code, out, err = run(
        capsys, "--data-dir", str(data), "log", "verify", str(receipt), "--log", contract
    )
    assert code == 0 and "valid" in out + err
    # a flipped bit in the alert's leaf no longer verifies
    leaf = bytearray.fromhex(document["leaf_data"][2:])
    leaf[-1] ^= 1
    document["leaf_data"] = "0x" + leaf.hex()
    receipt.write_text(json.dumps(document))
    code, _, _ = run(
        capsys, "--data-dir", str(data), "log", "verify", str(receipt), "--log", contract
    )
    assert code != 0


@pytest.mark.integration
def test_monitor_follows_a_node_over_json_rpc(capsys, tmp_path: Path, anvil_node) -> None:
    env = Env(RpcBackend(anvil_node.url), signers_from_mnemonic(ANVIL_MNEMONIC))
    with env.snapshot():
        start = env.backend.block().number + 1
        scenario = generate(env, seed=2, benign=4, attacks=["rug_pull"])
        (dump,) = [label for label in scenario.labels if label.malicious]
        code, out, err = run(
            capsys,
            "--data-dir",
            str(tmp_path / "data"),
            "monitor",
            "--rpc",
            anvil_node.url,
            "--from",
            str(start),
            "--once",
        )
    assert code == 0, err
    lines = [json.loads(line) for line in out.splitlines()]
    (alert,) = [m for m in lines if m["type"] == "alert"]
    assert alert["metadata"]["rule"] == "mint_and_dump"
    assert alert["metadata"]["tx_hash"] == "0x" + dump.tx_hash.hex()
    assert lines[-1]["transactions"] == len(scenario.labels)
