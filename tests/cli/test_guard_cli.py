"""``chainml guard`` end to end on the embedded chain: deploy, hold, settle, simulate."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from chainml.apps.demo.screening import train_screening_model
from chainml.apps.guard import recorded_token
from chainml.chain import Env, connect
from chainml.chain.devnode import ANVIL_DEV_KEY, AnvilNode
from chainml.config import Settings
from chainml.governance import governance
from chainml.governance.passing import pass_proposal
from tests.apps.mock_models import compile_mock
from tests.cli.test_cli import flat, isolated, run  # noqa: F401  (isolated is an autouse fixture)

MODEL = b"\x42" * 32


def cli(capsys: pytest.CaptureFixture[str], data: Path, *args: str) -> tuple[int, str, str]:
    code, out, err = run(capsys, "--data-dir", str(data), "guard", *args)
    return code, flat(out), flat(err)


def hold_two(data: Path) -> list[str]:
    """Screen with a mock model (amount >= 1000 is held) through governance; hold two transfers."""
    with connect(Settings(data_dir=data)) as env:
        governor, registry = governance(env, data, deploy=False)
        token = recorded_token(env, data)
        model = env.deploy(compile_mock("SelectModel"), 0)
        registry.register(MODEL, b"\x01" * 32, b"\x02" * 32, "test://select")
        registry.attach_contract(MODEL, model.address)
        approve = registry.approve_calldata(MODEL, "fraud-screening")
        pass_proposal(governor, registry.address, approve, "approve the mock")
        set_model = token.set_model_calldata(MODEL, model.address, 1_000)
        pass_proposal(governor, token.address, set_model, "screen with the mock")
        b = env.accounts[1]
        assert token.transfer(b, 999).held is False
        return [str(token.transfer(b, amount).held_id) for amount in (5_000, 6_000)]


def test_deploy_hold_release_refund(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    data = tmp_path / "data"
    code, _, err = cli(capsys, data, "held")
    assert code == 2 and "chainml guard deploy" in err
    code, out, _ = cli(capsys, data, "deploy", "--timeout", "600", "--supply", "100000")
    assert code == 0 and "deployed GuardedToken" in out and "minted 100000" in out
    code, out, _ = cli(capsys, data, "deploy")
    assert code == 0 and "already deployed" in out
    code, out, _ = cli(capsys, data, "held")
    assert code == 0 and "no held transfers in escrow" in out
    first, second = hold_two(data)
    code, out, _ = run(capsys, "--data-dir", str(data), "guard", "held", "--json")
    rows = json.loads(out)
    assert code == 0 and [r["id"] for r in rows] == [1, 2]
    assert [r["amount"] for r in rows] == [5_000, 6_000] and rows[0]["reason"] == "score"
    assert len(rows[0]["features"]) == 11 and rows[0]["features"][0] == 5_000
    code, out, _ = cli(capsys, data, "release", first)
    assert code == 0 and f"released held transfer {first}: 5000" in out
    code, _, err = cli(capsys, data, "release", first)
    assert code == 5 and "already settled" in err
    code, _, err = cli(capsys, data, "release", "99")
    assert code == 2 and "no held transfer 99" in err
    code, _, err = cli(capsys, data, "release", second, "--expired")
    assert code == 5 and "not expired yet" in err
    code, out, _ = cli(capsys, data, "refund", second)
    assert code == 0 and "back to" in out
    code, out, _ = cli(capsys, data, "held", "--all")
    assert code == 0 and "released" in out and "refunded" in out
    code, out, _ = cli(capsys, data, "held")
    assert "no held transfers in escrow" in out


def test_simulate_and_deploy_with_a_stored_model(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    data = tmp_path / "data"
    artifact = train_screening_model(data, rows=4_000, seed=3)
    code, _, err = cli(capsys, data, "simulate", "-n", "10", "--kind", "svm")
    assert code == 2 and "--kind" in err
    code, out, _ = run(
        capsys, "--data-dir", str(data), "guard", "simulate", "-n", "80", "--seed", "2",
        "--model", artifact.model_id[:12], "--json",
    )  # fmt: skip
    facts = json.loads(out)
    assert code == 0 and facts["model_id"] == artifact.model_id
    assert facts["sent"] + facts["skipped"] == 80 and facts["gas"]["plain ERC-20"]["count"] > 0
    code, out, _ = cli(capsys, data, "simulate", "-n", "40", "--model", artifact.model_id)
    assert code == 0 and "plain ERC-20" in out and "fraud: all" in out
    code, out, _ = cli(capsys, data, "deploy", "--model", artifact.model_id)
    assert code == 0 and f"screening with model {artifact.model_id}" in out
    with connect(Settings(data_dir=data)) as env:
        assert recorded_token(env, data).model()[0] == artifact.model_id


@pytest.mark.integration
@pytest.mark.slow
def test_simulate_runs_on_the_node_rpc_names(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    anvil_env: Env,
    anvil_node: AnvilNode,
) -> None:
    """``--rpc`` is honoured: the token, the votes and the transfers land on anvil."""
    monkeypatch.setenv("CHAINML_PRIVATE_KEY", ANVIL_DEV_KEY)
    data = tmp_path / "data"
    artifact = train_screening_model(data, rows=2_000, seed=3)
    with anvil_env.snapshot():
        before = anvil_env.block_number
        code, out, err = run(
            capsys, "--rpc", anvil_node.url, "--data-dir", str(data), "guard", "simulate",
            "-n", "12", "--model", artifact.model_id, "--no-baseline", "--json",
        )  # fmt: skip
        assert code == 0, err
        assert f"simulating on the node at --rpc (chain {anvil_env.chain_id})" in flat(err)
        facts = json.loads(out)
        assert facts["sent"] + facts["skipped"] == 12 and facts["model_id"] == artifact.model_id
        # deployments, two passed votes, account funding and every sent transfer: on anvil
        assert anvil_env.block_number >= before + facts["sent"]
