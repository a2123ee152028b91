"""``--network``, several ``--rpc`` URLs and ``log anchor --dry-run`` on the command line."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli.test_cli import flat, isolated, run  # noqa: F401  (isolated is an autouse fixture)
from tests.cli.test_log_cli import write_jsonl


def test_an_unknown_network_or_a_bad_url_in_the_list_is_a_usage_error(capsys) -> None:
    code, _, err = run(capsys, "--network", "basee", "log", "head")
    assert code == 2 and "known: arbitrum" in flat(err)
    code, _, err = run(capsys, "--rpc", "http://127.0.0.1:1,ws://user:pw@h:2", "log", "head")
    assert code == 2 and "'ws://h:2'" in flat(err) and "pw" not in err


@pytest.mark.integration
def test_the_dry_run_prices_the_anchor_and_sends_nothing(
    capsys, tmp_path: Path, anvil_node, monkeypatch: pytest.MonkeyPatch
) -> None:
    from chainml.chain.devnode import ANVIL_DEV_KEY
    from chainml.chain.rpc import RpcBackend

    monkeypatch.setenv("CHAINML_PRIVATE_KEY", ANVIL_DEV_KEY)
    node = ("--data-dir", str(tmp_path / "data"), "--rpc", f"{anvil_node.url},{anvil_node.url}")
    sender = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
    nonce = RpcBackend(anvil_node.url).nonce(sender)
    run(capsys, *node, "log", "append", str(write_jsonl(tmp_path / "a.jsonl", 12)))
    code, out, _ = run(capsys, *node, "log", "anchor", "--dry-run")
    assert code == 0 and "the first anchor deploys the log contract" in flat(out)
    assert "gas x (" in flat(out) and "Nothing was sent" in flat(out)
    assert RpcBackend(anvil_node.url).nonce(sender) == nonce
    assert run(capsys, *node, "log", "anchor")[0] == 0
    run(capsys, *node, "log", "append", str(write_jsonl(tmp_path / "b.jsonl", 8, start=12)))
    code, out, _ = run(capsys, *node, "log", "anchor", "--dry-run")
    assert code == 0 and "would anchor size 12 → 20" in flat(out)
    code, out, _ = run(capsys, *node, "log", "anchor")
    assert code == 0 and "anchored size 20" in flat(out) and "paid" in out
