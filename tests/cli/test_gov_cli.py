"""``chainml gov`` and ``chainml chain mine`` end to end on the embedded chain."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from chainml.chain import connect
from chainml.config import Settings
from chainml.governance import ModelStatus, governance
from tests.cli.test_cli import flat, isolated, run  # noqa: F401  (isolated is an autouse fixture)

MODEL = "0x" + "ab" * 32
OTHER = "0x" + "cd" * 32


@pytest.fixture
def data(tmp_path: Path) -> str:
    return str(tmp_path / "data")


def cli(capsys: pytest.CaptureFixture[str], data: str, *args: str) -> tuple[int, str, str]:
    code, out, err = run(capsys, "--data-dir", data, *args)
    return code, flat(out), flat(err)


def status(capsys: pytest.CaptureFixture[str], data: str, *args: str) -> dict[str, Any]:
    code, out, err = run(capsys, "--data-dir", data, "gov", "status", *args, "--json")
    assert code == 0, err
    result: dict[str, Any] = json.loads(out)
    return result


def accounts(capsys: pytest.CaptureFixture[str], data: str) -> list[str]:
    code, out, _ = run(capsys, "--data-dir", data, "chain", "accounts", "--json")
    assert code == 0
    return [row["address"] for row in json.loads(out)]


def register(data: str, *model_ids: str) -> None:
    """Register models with the Python API (``chainml model register`` lives elsewhere)."""
    with connect(Settings(data_dir=Path(data))) as env:
        _, registry = governance(env, Path(data), deploy=False)
        for model_id in model_ids:
            registry.register(model_id, "0x" + "01" * 32, "0x" + "02" * 32, f"file:///{model_id}")


def registry_status(data: str, model_id: str) -> ModelStatus:
    with connect(Settings(data_dir=Path(data))) as env:
        _, registry = governance(env, Path(data), deploy=False)
        return registry.model(model_id).status


@pytest.fixture
def deployed(capsys: pytest.CaptureFixture[str], data: str) -> list[str]:
    """Governance with members 0 (weight 2) and 1 (weight 1); voting 3, timelock 2 blocks."""
    a, b = accounts(capsys, data)[:2]
    code, out, err = cli(
        capsys, data, "gov", "deploy", "--member", f"{a}=2", "--member", f"{b}=1",
        "--voting-period", "3", "--timelock", "2",
    )  # fmt: skip
    assert code == 0, err
    assert f"members {a}=2, {b}=1" in out and "timelock 2" in out
    register(data, MODEL, OTHER)
    return [a, b]


def test_register_propose_vote_mine_execute(capsys, data: str, deployed: list[str]) -> None:
    a, b = deployed
    code, out, _ = cli(capsys, data, "gov", "propose", "approve", MODEL, "--use", "fraud-screening")
    assert code == 0 and "proposal 1 created" in out
    code, out, _ = cli(capsys, data, "gov", "vote", "1", "for")
    assert code == 0
    assert f"{a} voted for on proposal 1 with weight 2" in out and "quorum 2/2" in out
    code, out, _ = cli(capsys, data, "gov", "vote", "1", "against", "--from", "1")
    assert code == 0 and f"{b} voted against" in out and "for 2, against 1" in out

    proposal = status(capsys, data, "1")
    assert proposal["state"] == "active"
    assert proposal["votes"] == {"for": 2, "against": 1, "abstain": 0}
    assert proposal["quorum"] == {"cast": 3, "needed": 2, "total_weight": 3, "reached": True}
    assert proposal["description"] == (
        f"approve {MODEL} for fraud-screening (registrant {a}, contract none, replacing none)"
    )
    code, _, err = cli(capsys, data, "gov", "execute", "1")
    assert code == 5 and "voting is still open" in err

    wait = proposal["blocks_until_executable"]
    # proposed in block s, voted in s + 1 and s + 2; voting ends at s + 3, timelock at s + 5
    assert proposal["executable_after"] == proposal["start_block"] + 5 and wait == 3
    code, out, _ = cli(capsys, data, "chain", "mine", str(wait - 1))
    assert code == 0 and f"mined {wait - 1} block(s)" in out
    assert status(capsys, data, "1")["state"] == "succeeded"
    code, _, err = cli(capsys, data, "gov", "execute", "1")
    assert code == 5 and "timelock has not passed" in err
    # The failed attempt mined nothing; one more block ends the timelock.
    cli(capsys, data, "chain", "mine", "1")
    assert status(capsys, data, "1")["state"] == "ready"
    code, out, _ = cli(capsys, data, "gov", "execute", "1", "--from", b)
    assert code == 0 and "executed proposal 1" in out
    assert registry_status(data, MODEL) == ModelStatus.APPROVED
    code, _, err = cli(capsys, data, "gov", "execute", "1")
    assert code == 5 and "proposal already executed" in err

    overview = status(capsys, data)
    assert overview["members"] == {a: 2, b: 1}
    assert [p["state"] for p in overview["proposals"]] == ["executed"]
    code, out, _ = cli(capsys, data, "gov", "status")
    assert code == 0 and "executed" in out and "2/1/0" in out


def test_retire_member_and_cancel(capsys, data: str, deployed: list[str]) -> None:
    b = deployed[1]
    code, out, _ = cli(capsys, data, "gov", "propose", "retire", OTHER, "--description", "old")
    assert code == 0 and "proposal 1 created" in out
    code, out, _ = cli(capsys, data, "gov", "propose", "member", b, "0", "--from", "1")
    assert code == 0 and "proposal 2 created" in out
    code, _, err = cli(capsys, data, "gov", "cancel", "2")
    assert code == 5 and "only the proposer or the governor may cancel" in err
    code, out, _ = cli(capsys, data, "gov", "cancel", "2", "--from", "1")
    assert code == 0 and "canceled proposal 2" in out
    code, _, err = cli(capsys, data, "gov", "vote", "2", "for")
    assert code == 5 and "proposal was canceled" in err

    cli(capsys, data, "gov", "vote", "1", "for")
    wait = status(capsys, data, "1")["blocks_until_executable"]
    cli(capsys, data, "chain", "mine", str(wait))
    code, _, _ = cli(capsys, data, "gov", "execute", "1")
    assert code == 0 and registry_status(data, OTHER) == ModelStatus.RETIRED
    states = [p["state"] for p in status(capsys, data)["proposals"]]
    assert states == ["executed", "canceled"]
    code, _, err = cli(capsys, data, "gov", "propose", "retire", OTHER)
    assert code == 2 and "already retired" in err


def test_bad_input_exits_2(capsys, data: str, deployed: list[str]) -> None:
    cases = [
        (("gov", "propose", "approve", "0x12", "--use", "x"), "64 hex digits"),
        (("gov", "propose", "approve", "0x" + "99" * 32, "--use", "x"), "not registered"),
        (("gov", "propose", "approve", MODEL, "--use", ""), "use must not be empty"),
        (("gov", "propose", "member", "nobody", "1"), "not an Ethereum address"),
        (("gov", "vote", "7", "for"), "no proposal 7"),
        (("gov", "vote", "1", "maybe"), "for, against or abstain"),
        (("gov", "status", "3"), "no proposal 3"),
        (("gov", "deploy"), "already deployed"),
        (("chain", "mine", "0"), ""),
    ]
    cli(capsys, data, "gov", "propose", "approve", MODEL, "--use", "fraud")
    cases += [
        (("gov", "vote", "1", "for", "--from", "0x" + "33" * 20), "no signing key"),
        (("gov", "vote", "1", "for", "--from", "99"), "only 10 accounts"),
    ]
    for args, message in cases:
        code, _, err = cli(capsys, data, *args)
        assert code == 2, (args, err)
        assert message in err, (args, err)
    cli(capsys, data, "gov", "vote", "1", "for")
    code, _, err = cli(capsys, data, "gov", "vote", "1", "abstain")
    assert code == 5 and "already voted" in err


def test_nothing_deployed_and_bad_members(capsys, data: str) -> None:
    code, _, err = cli(capsys, data, "gov", "status")
    assert code == 2 and "run `chainml gov deploy`" in err
    for member in ("0x12=1", f"{'0x' + '11' * 20}=0", "x", f"{'0x' + '11' * 20}=-1"):
        code, _, err = cli(capsys, data, "gov", "deploy", "--member", member)
        assert code == 2 and "ADDR=WEIGHT" in err
    code, _, err = cli(capsys, data, "gov", "deploy", "--quorum-bps", "10001")
    assert code == 2 and "quorum_bps" in err
    assert not (Path(data) / "deployments.json").exists()


def test_propose_deploys_defaults_on_first_use(capsys, data: str) -> None:
    code, _, err = cli(capsys, data, "gov", "propose", "approve", MODEL, "--use", "x")
    assert code == 2 and "not registered" in err  # deployed, then the model was not found
    recorded = json.loads((Path(data) / "deployments.json").read_text())
    assert "Governor" in recorded["chains"]["1337"]
    overview = status(capsys, data)
    assert overview["parameters"]["voting_period"] == 10
    assert overview["parameters"]["execution_window"] == 100
    assert list(overview["members"].values()) == [1]


def test_stale_and_expired_proposals(capsys, data: str, deployed: list[str]) -> None:
    """Approve MODEL and approve OTHER both pass; OTHER executes; MODEL never does."""
    code, out, err = cli(capsys, data, "gov", "propose", "approve", MODEL, "--use", "fraud")
    assert code == 0, err
    cli(capsys, data, "gov", "propose", "approve", OTHER, "--use", "fraud")
    for pid in ("1", "2"):
        cli(capsys, data, "gov", "vote", pid, "for")
    first = status(capsys, data, "1")
    assert first["expires_after"] == first["executable_after"] + 100
    cli(capsys, data, "chain", "mine", str(status(capsys, data, "2")["blocks_until_executable"]))
    assert cli(capsys, data, "gov", "execute", "2")[0] == 0
    code, _, err = cli(capsys, data, "gov", "execute", "1", "--from", "1")
    assert code == 5 and "stale approval: the approved model for this use changed" in err
    code, out, _ = cli(capsys, data, "gov", "status")
    assert "execution window 100 blocks" in out and "to expiry" in out
    cli(capsys, data, "chain", "mine", str(status(capsys, data, "1")["execution_blocks_left"]))
    assert status(capsys, data, "1")["state"] == "expired"
    code, _, err = cli(capsys, data, "gov", "execute", "1", "--from", "1")
    assert code == 5 and "proposal expired" in err
    assert registry_status(data, OTHER) == ModelStatus.APPROVED
    assert registry_status(data, MODEL) == ModelStatus.REGISTERED


def test_deploy_with_an_execution_window(capsys, data: str) -> None:
    code, out, err = cli(capsys, data, "gov", "deploy", "--execution-window", "3")
    assert code == 0 and "execution window 3 blocks" in out, err
    assert status(capsys, data)["parameters"]["execution_window"] == 3
    data2 = data + "-2"
    code, _, err = cli(capsys, data2, "gov", "deploy", "--execution-window", "0")
    assert code == 2 and "execution_window_blocks" in err


def test_a_squatted_id_is_reassigned_by_vote(capsys, data: str, deployed: list[str]) -> None:
    owner, squatter = deployed
    squatted = "0x" + "5a" * 32
    with connect(Settings(data_dir=Path(data))) as env:
        _, registry = governance(env, Path(data), deploy=False)
        registry.register(squatted, "0x" + "66" * 32, "0x" + "67" * 32, "evil://", sender=squatter)
    args = ("--artifact-hash", "0x" + "01" * 32, "--card-hash", "0x" + "02" * 32, "--uri", "f://")
    code, out, err = cli(
        capsys, data, "gov", "propose", "reassign", squatted, "--registrant", owner, *args
    )
    assert code == 0 and "proposal 1 created" in out, err
    assert status(capsys, data, "1")["description"] == f"reassign {squatted} to {owner} (f://)"
    cli(capsys, data, "gov", "vote", "1", "for")
    cli(capsys, data, "chain", "mine", str(status(capsys, data, "1")["blocks_until_executable"]))
    assert cli(capsys, data, "gov", "execute", "1")[0] == 0
    with connect(Settings(data_dir=Path(data))) as env:
        _, registry = governance(env, Path(data), deploy=False)
        entry = registry.model(squatted)
    assert (entry.registrant, entry.artifact_hash, entry.uri) == (owner, "0x" + "01" * 32, "f://")
    code, _, err = cli(
        capsys, data, "gov", "propose", "reassign", squatted, "--registrant", "nobody", *args
    )
    assert code == 2 and "new registrant must be an address" in err


# -- chain mine on a node that does not mine on request ----------------------------------------


class _NoDevControls(BaseHTTPRequestHandler):
    """A JSON-RPC node that knows its chain id and refuses everything else."""

    def do_POST(self) -> None:
        request = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        if request["method"] == "eth_chainId":
            body: dict[str, Any] = {"result": "0x1"}
        else:
            body = {"error": {"code": -32601, "message": "the method does not exist"}}
        payload = json.dumps({"jsonrpc": "2.0", "id": request["id"], **body}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def production_node() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _NoDevControls)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_chain_mine_refuses_non_development_nodes(
    capsys, data: str, production_node: str, tmp_path: Path
) -> None:
    (tmp_path / "data").mkdir()
    code, _, err = cli(capsys, data, "--rpc", production_node, "chain", "mine", "2")
    assert code == 5
    assert "cannot mine on chain 1" in err and "only development chains" in err


@pytest.mark.integration
def test_end_to_end_on_anvil(capsys, monkeypatch, tmp_path: Path, anvil_env, anvil_node) -> None:
    """The same flow against anvil (CHAINML_RPC, CHAINML_PRIVATE_KEY); the chain is reverted."""
    from chainml.chain.devnode import ANVIL_DEV_KEY

    monkeypatch.setenv("CHAINML_PRIVATE_KEY", ANVIL_DEV_KEY)
    monkeypatch.setenv("CHAINML_RPC", anvil_node.url)
    data = str(tmp_path / "anvil-data")
    (tmp_path / "anvil-data").mkdir()
    with anvil_env.snapshot():
        code, out, err = cli(capsys, data, "gov", "deploy", "--timelock", "1")
        assert code == 0, err
        _, registry = governance(anvil_env, Path(data), deploy=False)
        registry.register(MODEL, "0x" + "01" * 32, "0x" + "02" * 32, "file:///m")
        code, out, _ = cli(capsys, data, "gov", "propose", "approve", MODEL, "--use", "u")
        assert code == 0 and "proposal 1 created" in out
        assert cli(capsys, data, "gov", "vote", "1", "for")[0] == 0
        wait = status(capsys, data, "1")["blocks_until_executable"]
        assert cli(capsys, data, "chain", "mine", str(wait))[0] == 0
        code, out, _ = cli(capsys, data, "gov", "execute", "1")
        assert code == 0 and "executed proposal 1" in out
        assert registry.model(MODEL).status == ModelStatus.APPROVED
        assert registry.approved("u") == MODEL
