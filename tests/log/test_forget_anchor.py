"""``log forget-anchor`` after a dev node reset, and ``log anchor`` with confirmations."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from chainml.chain import Env
from chainml.chain.devnode import ANVIL_DEV_KEY, AnvilNode
from chainml.errors import InvalidInputError, NotFoundError
from chainml.log.anchor_contract import forget_contract
from chainml.log.decision_log import DecisionLog
from chainml.log.store import AnchorRecord, checksummed
from tests.cli.test_cli import flat, isolated, run  # noqa: F401  (isolated is an autouse fixture)
from tests.cli.test_log_cli import write_jsonl
from tests.log.test_anchor import decisions


@pytest.fixture
def data(tmp_path: Path) -> str:
    return str(tmp_path / "data")


def head(capsys: pytest.CaptureFixture[str], *where: str) -> dict[str, object]:
    code, out, _ = run(capsys, *where, "log", "head", "--json")
    assert code == 0
    document: dict[str, object] = json.loads(out)
    return document


def contract_of(capsys: pytest.CaptureFixture[str], *where: str) -> str:
    anchor = head(capsys, *where)["anchor"]
    assert isinstance(anchor, dict)
    return str(anchor["contract"])


def test_forget_anchor_refuses_a_live_contract_unless_forced(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, data: str
) -> None:
    where = ("--data-dir", data)
    run(capsys, *where, "log", "append", str(write_jsonl(tmp_path / "a.jsonl", 6)))
    assert run(capsys, *where, "log", "anchor")[0] == 0
    live = contract_of(capsys, *where)
    before = DecisionLog.open(Path(data))
    root, size = before.head().root, before.head().size
    before.close()

    code, _, err = run(capsys, *where, "log", "forget-anchor")
    assert code == 2 and f"contract {live} still has code" in flat(err) and "--force" in err
    assert contract_of(capsys, *where) == live  # nothing was forgotten

    code, out, _ = run(capsys, *where, "log", "forget-anchor", "--force")
    text = flat(out)
    assert code == 0 and f"forgot contract {live}" in text and "forced" in text
    assert "1 anchor record(s) (sizes 6..6) and the remembered address" in text
    assert head(capsys, *where)["anchor"] is None
    with DecisionLog.open(Path(data)) as after:  # decisions untouched
        assert (after.head().size, after.head().root) == (size, root)
    code, _, err = run(capsys, *where, "log", "forget-anchor")
    assert code == 2 and "remembers no anchor contract" in flat(err)

    code, out, _ = run(capsys, *where, "log", "anchor")
    assert code == 0 and "anchored size 6" in flat(out)
    assert contract_of(capsys, *where) != live  # deployed anew


@pytest.mark.integration
def test_forget_anchor_after_the_dev_node_is_reset(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    data: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CHAINML_PRIVATE_KEY", ANVIL_DEV_KEY)
    run(capsys, "--data-dir", data, "log", "append", str(write_jsonl(tmp_path / "a.jsonl", 9)))
    with AnvilNode() as first:
        where = ("--data-dir", data, "--rpc", first.url)
        assert run(capsys, *where, "log", "anchor")[0] == 0
        dead = contract_of(capsys, *where)
    with AnvilNode() as fresh:  # the node was reset: same chain id, nothing deployed
        where = ("--data-dir", data, "--rpc", fresh.url)
        code, _, err = run(capsys, *where, "log", "anchor")
        assert code == 2 and "is gone" in err and "forget-anchor" in flat(err)

        code, out, _ = run(capsys, *where, "log", "forget-anchor")
        text = flat(out)
        assert code == 0 and f"forgot contract {dead} on chain 31337" in text
        assert "1 anchor record(s) (sizes 9..9) and the remembered address" in text
        assert "the log's 9 decisions are untouched" in text
        assert head(capsys, *where)["anchored_size"] == 0

        code, out, _ = run(capsys, *where, "log", "anchor")  # deploys anew
        assert code == 0 and "anchored size 9" in flat(out)
        receipt = tmp_path / "r.json"
        assert run(capsys, *where, "log", "prove", "4", "-o", str(receipt))[0] == 0
        code, out, _ = run(capsys, *where, "log", "identity", "--json")
        assert code == 0
        pinned = f"31337:{json.loads(out)['contract']}"  # (a fresh anvil reuses the address)
        code, out, err = run(capsys, *where, "log", "verify", str(receipt), "--log", pinned)
        assert code == 0, err
        assert "the contract holds that root" in flat(out)


@pytest.mark.integration
def test_log_anchor_waits_for_its_confirmations(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    data: str,
    anvil_node: AnvilNode,
    anvil_env,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CHAINML_PRIVATE_KEY", ANVIL_DEV_KEY)
    monkeypatch.setenv("CHAINML_CONFIRMATIONS", "2")
    where = ("--data-dir", data, "--rpc", anvil_node.url)
    run(capsys, *where, "log", "append", str(write_jsonl(tmp_path / "a.jsonl", 5)))
    with anvil_env.snapshot():
        code, out, _ = run(capsys, *where, "log", "anchor", "--no-wait")
        text = flat(out)
        assert code == 0 and "anchored size 5" in text
        assert "pending: size 5" in text and "has 0 of 2 confirmations" in text
        assert head(capsys, *where)["anchored_size"] == 0  # not recorded before it is final

        code, out, _ = run(capsys, *where, "log", "anchor", "--timeout", "0.5")
        assert code == 0 and "has 0 of 2 confirmations" in flat(out)  # waited, in vain
        assert "anchored size" not in out  # and did not anchor twice

        anvil_env.mine(2)
        code, out, _ = run(capsys, *where, "log", "anchor", "--no-wait")
        assert code == 0 and "final: size 5" in flat(out) and "2 confirmations" in flat(out)
        assert head(capsys, *where)["anchored_size"] == 5
        code, out, _ = run(capsys, *where, "log", "anchor", "--confirmations", "0")
        assert code == 0 and "nothing to anchor" in flat(out)


def test_forgetting_one_contract_keeps_the_others_and_every_decision(
    embedded_env: Env, tmp_path: Path
) -> None:
    dead, other = "0x" + "de" * 20, "0x" + "0b" * 20  # no code at either on the chain
    with DecisionLog.open(tmp_path / "log", durability="normal") as log:
        log.append(decisions(0, 6))
        for contract, size in ((dead, 2), (dead, 5), (other, 5)):
            log.store.record_anchor(
                AnchorRecord(
                    size,
                    log.store.root(size),
                    embedded_env.chain_id,
                    contract,
                    b"\x01" * 32,
                    1,
                    0.0,
                )
            )
        root = log.head().root
        gone = forget_contract(embedded_env, log, dead)
        assert [a.size for a in gone.anchors] == [2, 5] and not gone.was_remembered
        assert [(a.contract, a.size) for a in log.store.anchors()] == [(checksummed(other), 5)]
        assert (log.head().size, log.head().root) == (6, root)
        with pytest.raises(NotFoundError, match="nothing recorded for"):
            forget_contract(embedded_env, log, dead)  # forgotten already
        with pytest.raises(NotFoundError, match="remembers no anchor contract"):
            forget_contract(embedded_env, log)
        assert log.store.delete_meta("not-set") is False
        with pytest.raises(InvalidInputError, match="managed by the store"):
            log.store.delete_meta("size")
