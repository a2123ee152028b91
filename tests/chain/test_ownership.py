"""One writer per embedded data directory: the owner holds its lock; other processes go
through the owner's endpoint or are refused with exit 6, and a killed owner blocks nobody."""

from __future__ import annotations

import json
import os
import signal
import sys
from pathlib import Path

import pytest

from chainml.chain import connect
from chainml.chain.embedded import DEV_BALANCE, EmbeddedBackend
from chainml.chain.ownership import ENDPOINT_FILE, current_owner
from chainml.config import Settings
from chainml.errors import DataDirectoryBusyError
from tests.chain.processes import CLI, started
from tests.cli.test_cli import flat, isolated, run  # noqa: F401  (isolated is an autouse fixture)

HOLDER = Path(__file__).with_name("holder.py")


def test_a_second_writer_is_refused_naming_the_owner_and_a_killed_owner_loses_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data_dir, log = tmp_path / "chain", tmp_path / "holder.log"
    with started([sys.executable, str(HOLDER), str(data_dir), "3"], log) as holder:
        assert holder.stdout is not None
        ready = holder.stdout.readline().split()
        assert ready[:1] == ["ready"], log.read_text()
        hashes = [bytes.fromhex(h) for h in ready[1:]]
        owner = current_owner(data_dir)
        assert owner is not None and owner.pid == holder.pid and owner.url is None

        with pytest.raises(DataDirectoryBusyError) as caught:
            connect(Settings(data_dir=data_dir))
        assert caught.value.pid == holder.pid and caught.value.exit_code == 6
        code, _, err = run(capsys, "--data-dir", str(data_dir), "chain", "mine", "1")
        assert code == 6, err
        assert f"owned by process {holder.pid}" in flat(err) and "chain serve" in flat(err)

        # kill -9: the kernel drops the lock; the next owner replays the holder's journal
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait()
    assert current_owner(data_dir) is None
    with connect(Settings(data_dir=data_dir)) as env:
        receipts = [env.backend.wait_for_receipt(h) for h in hashes]
        assert all(r.status for r in receipts)
        assert env.balance(env.accounts[1]) == DEV_BALANCE + 1 + 2 + 3
        owner = current_owner(data_dir)
        assert owner is not None and owner.pid == os.getpid()


def test_one_process_shares_one_backend_and_a_second_direct_open_is_refused(
    fresh_dir: Path,
) -> None:
    first = connect(Settings(data_dir=fresh_dir))
    second = connect(Settings(data_dir=fresh_dir))
    assert first.backend is second.backend  # one writer, even within a process
    first.transact(first.accounts[1], value=5)
    first.close()
    assert second.balance(second.accounts[1]) == DEV_BALANCE + 5  # still open for the other
    with pytest.raises(DataDirectoryBusyError) as caught:
        EmbeddedBackend(fresh_dir)  # not shared: a second writer, as from another process
    assert caught.value.pid == os.getpid()
    second.close()
    assert current_owner(fresh_dir) is None
    with connect(Settings(data_dir=fresh_dir)) as env:
        assert env.balance(env.accounts[1]) == DEV_BALANCE + 5


def test_an_endpoint_left_by_a_dead_owner_is_ignored(fresh_dir: Path) -> None:
    fresh_dir.mkdir()
    stale = {"pid": 2**22 + 7, "url": "http://127.0.0.1:9"}
    (fresh_dir / ENDPOINT_FILE).write_text(json.dumps(stale))
    with connect(Settings(data_dir=fresh_dir)) as env:
        assert env.backend.kind == "embedded" and env.backend.location == str(fresh_dir)
        owner = current_owner(fresh_dir)
        assert owner is not None and owner.pid == os.getpid() and owner.url is None


def test_an_owner_that_serves_is_used_by_other_processes(tmp_path: Path) -> None:
    """What ``chainml serve`` does on the embedded chain (``connect(serve=True)``)."""
    data_dir = tmp_path / "chain"
    with connect(Settings(data_dir=data_dir), serve=True) as env:
        owner = current_owner(data_dir)
        assert owner is not None and owner.pid == os.getpid()
        assert owner.url is not None and owner.url.startswith("http://127.0.0.1:")
        start = env.block_number
        with started(
            [*CLI, "--data-dir", str(data_dir), "chain", "mine", "2"], tmp_path / "mine.log"
        ) as miner:
            assert miner.wait(120) == 0, (tmp_path / "mine.log").read_text()
            assert miner.stdout is not None and "mined 2 block(s)" in miner.stdout.read()
        assert env.block_number == start + 2  # the miner went through this process
    assert current_owner(data_dir) is None and not (data_dir / ENDPOINT_FILE).exists()
