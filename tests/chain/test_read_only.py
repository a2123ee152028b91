"""A data directory this process cannot write: reads work on it, writes exit 6, nothing changes.

The reader runs as a separate process; as root (who may write anything) it runs as nobody.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from chainml.chain import connect
from chainml.chain.embedded import DEV_BALANCE
from chainml.config import Settings
from tests.chain.processes import CLI, ENVIRONMENT

AS_NOBODY = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]


def _freeze(path: Path, mode_dirs: int, mode_files: int) -> None:
    for item in [path, *path.rglob("*")]:
        item.chmod(mode_dirs if item.is_dir() else mode_files)


def _digest(path: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(path.iterdir())}


@pytest.fixture(params=["closed", "killed"])
def read_only_copy(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Path]:
    """A copy of a data directory after a clean close or a kill -9, made read-only."""
    if os.geteuid() == 0 and shutil.which("setpriv") is None:
        pytest.skip("running as root without setpriv: cannot read as another user")
    original = tmp_path / "chain"
    env = connect(Settings(data_dir=original))
    env.transact(env.accounts[1], value=3)
    if request.param == "closed":
        env.close()
    else:  # the transfer stays in the journal, the WAL files stay behind
        env.backend._owner.close()  # type: ignore[attr-defined]
    base = Path(tempfile.mkdtemp(prefix="chainml-read-only-"))  # outside pytest's 0700 tree
    base.chmod(0o755)
    copy = base / "chain"
    shutil.copytree(original, copy)
    _freeze(copy, 0o555, 0o444)
    try:
        yield copy
    finally:
        _freeze(copy, 0o755, 0o644)
        shutil.rmtree(base)
        if request.param == "killed":
            env.close()


def _reader(copy: Path, *args: str) -> subprocess.CompletedProcess[str]:
    prefix = AS_NOBODY if os.geteuid() == 0 else []
    command = [*prefix, *CLI, "--data-dir", str(copy), *args]
    return subprocess.run(
        command, capture_output=True, text=True, env=ENVIRONMENT, cwd=copy.parent, timeout=120
    )


def test_reads_work_and_writes_exit_6_on_a_read_only_copy(
    read_only_copy: Path, request: pytest.FixtureRequest
) -> None:
    before = _digest(read_only_copy)
    if "killed" in request.node.name:
        accounts = _reader(read_only_copy, "chain", "accounts", "--json")
        assert accounts.returncode == 0, accounts.stderr
        balances = [int(row["balance_wei"]) for row in json.loads(accounts.stdout)]
        assert balances[1] == DEV_BALANCE + 3  # the journalled transfer, replayed in memory
    else:
        info = _reader(read_only_copy, "chain", "info", "--json")
        assert info.returncode == 0, info.stderr
        assert json.loads(info.stdout)["block_number"] >= 1
        mine = _reader(read_only_copy, "chain", "mine", "1")
        assert mine.returncode == 6, mine.stderr
        assert "read-only" in mine.stderr and "internal error" not in mine.stderr
        inside = _reader(read_only_copy / "new", "chain", "info")  # cannot be created
        assert inside.returncode == 6 and "cannot be created" in inside.stderr, inside.stderr
    assert _digest(read_only_copy) == before
