"""The follower: a reorg on anvil re-scores replaced blocks; kill -9 resumes, no loss, no double."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from chainml.chain import Env
from chainml.chain.accounts import signers_from_mnemonic
from chainml.chain.compiler import compile_file
from chainml.chain.devnode import AnvilNode
from chainml.chain.embedded import EmbeddedBackend
from chainml.chain.rpc import RpcBackend
from chainml.contracts import load
from chainml.log.decision_log import DecisionLog
from chainml.monitor.scenarios import DRAINER_SOURCE, UNLIMITED, generate
from tests.monitor.helpers import ANVIL_MNEMONIC, follower


@pytest.mark.integration
def test_a_reorg_on_anvil_rescores_the_replaced_blocks(
    anvil_node: AnvilNode, tmp_path: Path
) -> None:
    env = Env(RpcBackend(anvil_node.url), signers_from_mnemonic(ANVIL_MNEMONIC))
    a, b, c = env.accounts[3:6]
    with env.snapshot():
        start = env.backend.block().number + 1
        token = env.deploy(load("PlainToken"), "T", "T", sender=a)
        drainer = env.deploy(compile_file(DRAINER_SOURCE), sender=c)
        f, seen = follower(env, tmp_path / "log", start)  # sees the drainer created
        fork = env.backend.snapshot()
        # branch 1: b approves the fresh drainer without limit
        first = token.transact("approve", drainer.address, UNLIMITED, sender=b).tx_hash
        assert f.step().alerts == 1
        replaced_block = f.recent[-1]
        env.backend.revert(fork)
        for manager in env._managers.values():
            manager.discard_in_flight()
        # branch 2, same height and one more: a benign approval, then a mined empty block
        second = token.transact("approve", drainer.address, 5, sender=b).tx_hash
        env.backend.mine(1)
        stats = f.step()
        assert stats.replaced == 1 and stats.alerts == 0
        (reorg,) = [m for m in seen.messages if m["type"] == "reorg"]
        assert reorg["replaced"] == [replaced_block[0]]
        # the replaced block's number was scored again, with the new transaction in it
        assert seen.features[second].block == replaced_block[0] != 0
        assert first != second and f.recent[-2][1] != replaced_block[1]
        # branch 3 re-creates the attack at a new height: alerted again, as a new record
        token.transact("approve", drainer.address, UNLIMITED, sender=a)
        assert f.step().alerts == 1
        assert f.sink is not None and f.sink.log.head().size == 2


def test_kill_9_resumes_without_missing_or_doubling_an_alert(tmp_path: Path) -> None:
    chain_dir = tmp_path / "chain"
    backend = EmbeddedBackend(chain_dir)
    with Env(backend, backend.signers, data_dir=chain_dir) as env:
        generate(env, seed=11, benign=10)
        head = env.backend.block().number
    # the same run uninterrupted: how many alerts there should be
    backend = EmbeddedBackend(chain_dir)
    with Env(backend, backend.signers, data_dir=chain_dir) as env:
        f, _ = follower(env, tmp_path / "reference-log", 1)
        expected = f.step().alerts
    assert expected == 6
    # a monitor killed with SIGKILL right after logging its 2nd alert, before the checkpoint
    checkpoint = tmp_path / "checkpoint.json"
    script = textwrap.dedent(
        f"""
        import os, signal
        from pathlib import Path
        from chainml.chain import Env
        from chainml.chain.embedded import EmbeddedBackend
        from chainml.monitor.alerts import AlertSink
        from tests.monitor.helpers import follower
        backend = EmbeddedBackend(Path({str(chain_dir)!r}))
        env = Env(backend, backend.signers)
        f, seen = follower(env, Path({str(tmp_path / "log")!r}), 1, Path({str(checkpoint)!r}))
        deliver = f.sink.deliver
        def dying(*args):
            message = deliver(*args)
            if f.sink.logged == 2:
                os.kill(os.getpid(), signal.SIGKILL)
            return message
        f.sink.deliver = dying
        f.step()
        """
    )
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path.cwd()), *sys.path])}
    done = subprocess.run([sys.executable, "-c", script], env=environment, timeout=120)
    assert done.returncode == -9
    with DecisionLog.open(tmp_path / "log") as log:
        assert log.head().size == 2
    backend = EmbeddedBackend(chain_dir)
    with Env(backend, backend.signers, data_dir=chain_dir) as env:
        f, seen = follower(env, tmp_path / "log", 1, checkpoint)
        stats = f.step()
        assert f.next_block == head + 1
        assert f.sink is not None
        assert (
            f.sink.logged == expected - 2
        )  # the two logged before the kill are found, not re-added
        assert f.sink.log.head().size == expected
        assert len({m["request_id"] for m in seen.messages if m["type"] == "alert"}) == stats.alerts
    assert json.loads(checkpoint.read_text())["next_block"] == head + 1
