"""``deployments.json``: atomic writes, damage detection, and governance() remembering contracts."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from chainml.chain import Env
from chainml.errors import DataDirectoryError, NotFoundError
from chainml.governance import governance, load_deployments, save_deployment
from chainml.governance.deployments import deployments_path

A = "0x" + "11" * 20
B = "0x" + "22" * 20


def test_missing_file_means_nothing_deployed(tmp_path: Path):
    assert load_deployments(tmp_path) == {}


def test_saved_addresses_are_remembered_per_chain(tmp_path: Path):
    save_deployment(tmp_path, 1337, {"Governor": A, "ModelRegistry": B})
    save_deployment(tmp_path, 31337, {"Governor": B, "ModelRegistry": A})
    save_deployment(tmp_path, 1337, {"Governor": B, "ModelRegistry": B})
    assert load_deployments(tmp_path) == {
        "1337": {"Governor": B, "ModelRegistry": B},
        "31337": {"Governor": B, "ModelRegistry": A},
    }
    document = json.loads(deployments_path(tmp_path).read_text())
    assert document["format"] == "chainml-deployments/2"
    assert document["chains"]["31337"]["Governor"] == B
    assert sorted(p.name for p in tmp_path.iterdir()) == ["deployments.json"]  # no temp files


def test_a_failed_write_leaves_the_old_file_and_no_debris(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    save_deployment(tmp_path, 1, {"Governor": A, "ModelRegistry": B})
    before = deployments_path(tmp_path).read_bytes()

    def crash(src: str, dst: str) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="disk full"):
        save_deployment(tmp_path, 2, {"Governor": B, "ModelRegistry": A})
    assert deployments_path(tmp_path).read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["deployments.json"]


def test_the_write_is_fsynced_before_the_rename(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    calls: list[str] = []
    real_fsync, real_replace = os.fsync, os.replace
    monkeypatch.setattr(os, "fsync", lambda fd: (calls.append("fsync"), real_fsync(fd))[1])
    monkeypatch.setattr(
        os, "replace", lambda s, d: (calls.append("replace"), real_replace(s, d))[1]
    )
    save_deployment(tmp_path, 1, {"Governor": A, "ModelRegistry": B})
    assert calls == ["fsync", "replace", "fsync"]  # file, rename, directory


@pytest.mark.parametrize(
    "content",
    [
        "{not json",
        "[1, 2]",
        '{"format": "chainml-deployments/3", "chains": {}}',
        '{"format": "chainml-deployments/2", "chains": [], "x": 1}',
        '{"format": "chainml-deployments/2", "chains": []}',
        '{"format": "chainml-deployments/2", "chains": {"x1": {"Governor": "0x11"}}}',
        '{"format": "chainml-deployments/2", "chains": {"1": "0x' + "11" * 20 + '"}}',
        '{"format": "chainml-deployments/2", "chains": {"1": {"Governor": "0x1234"}}}',
        '{"format": "chainml-deployments/2", "chains": {"1": {"Governor": 5}}}',
        '{"x1": {"Governor": "0x11"}}',
        b"\xff\xfe",
    ],
)
def test_a_damaged_file_is_a_data_directory_error(tmp_path: Path, content: str | bytes):
    path = deployments_path(tmp_path)
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    with pytest.raises(DataDirectoryError, match=r"deployments\.json") as info:
        load_deployments(tmp_path)
    assert info.value.exit_code == 6
    with pytest.raises(DataDirectoryError):
        save_deployment(tmp_path, 1, {"Governor": A})  # never overwritten silently
    assert path.read_bytes() == (content if isinstance(content, bytes) else content.encode())


def test_a_first_format_file_is_refused_never_misread(env: Env, tmp_path: Path):
    """A record of the old contracts (no expiry, unchecked approvals) is never driven as new."""
    path = deployments_path(tmp_path)
    old = json.dumps({str(env.chain_id): {"Governor": A, "ModelRegistry": B, "GuardedToken": A}})
    path.write_text(old)
    for action in (
        lambda: load_deployments(tmp_path),
        lambda: governance(env, tmp_path),
        lambda: save_deployment(tmp_path, env.chain_id, {"Governor": A}),
    ):
        with pytest.raises(DataDirectoryError, match="older chainml") as info:
            action()
        assert "Move the file aside" in str(info.value) and info.value.exit_code == 6
    assert path.read_text() == old  # untouched
    path.write_text("{}")  # an empty record has nothing to misread
    assert load_deployments(tmp_path) == {}


def test_governance_deploys_once_and_remembers(env: Env, tmp_path: Path):
    with pytest.raises(NotFoundError, match="run `chainml gov deploy`"):
        governance(env, tmp_path, deploy=False)
    governor, registry = governance(env, tmp_path)
    assert governor.members() == {env.sender: 1}
    assert governor.parameters() == {
        "quorum_bps": 5000,
        "majority_bps": 5000,
        "voting_period": 10,
        "timelock_blocks": 5,
        "execution_window": 100,
    }
    assert registry.governor == governor.address
    assert load_deployments(tmp_path) == {
        str(env.chain_id): {"Governor": governor.address, "ModelRegistry": registry.address}
    }
    again_governor, again_registry = governance(env, tmp_path, members={A: 9})
    assert (again_governor.address, again_registry.address) == (
        governor.address,
        registry.address,
    )
    assert again_governor.members() == {env.sender: 1}  # deployment arguments are ignored


def test_custom_members_on_first_deployment(env: Env, tmp_path: Path):
    a, b = env.accounts[:2]
    governor, _ = governance(
        env, tmp_path, members={a: 3, b: 4}, timelock_blocks=0, execution_window_blocks=7
    )
    assert governor.members() == {a: 3, b: 4}
    assert governor.parameters()["timelock_blocks"] == 0
    assert governor.parameters()["execution_window"] == 7


def test_vanished_contracts_are_reported(env: Env, tmp_path: Path):
    with env.snapshot():  # deployed, then the chain is put back: as after a node reset
        governor, _ = governance(env, tmp_path)
    assert load_deployments(tmp_path)[str(env.chain_id)]["Governor"] == governor.address
    with pytest.raises(NotFoundError, match=r"gone from chain \d+ \(was the node reset\?\)"):
        governance(env, tmp_path)
    save_deployment(tmp_path, env.chain_id, {"Governor": A, "ModelRegistry": B})
    with pytest.raises(NotFoundError, match="Remove the entry for chain"):
        governance(env, tmp_path, deploy=False)


def test_an_incomplete_entry_is_a_data_directory_error(env: Env, tmp_path: Path):
    save_deployment(tmp_path, env.chain_id, {"Governor": A})
    with pytest.raises(DataDirectoryError, match="lacks ModelRegistry"):
        governance(env, tmp_path)
