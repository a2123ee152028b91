"""``chainml watch`` as a user runs it, and a watchtower killed with SIGKILL that resumes.

One real world per module: a small trained model, its generated contract attached and approved
in a registry, a bonded ChallengeableLog, an operator's log anchored head by head (all in one
data directory, the embedded chain included); and a smaller one on anvil, watched over JSON-RPC.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.parse
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from chainml.apps.demo.screening import train_screening_model
from chainml.apps.demo.watchtower import operate, set_up
from chainml.chain import Env, connect
from chainml.chain.accounts import Signer
from chainml.chain.devnode import ANVIL_DEV_KEY, AnvilNode, free_port
from chainml.chain.rpc import RpcBackend
from chainml.config import Settings
from chainml.inference.optimistic.watch_checkpoint import checkpoint_path
from chainml.inference.optimistic.watch_wire import encode_binary
from chainml.log.decision_log import DecisionLog
from chainml.models.artifacts import list_models, load_model, models_dir
from tests.conftest import ANVIL_SECOND_KEY
from tests.kill import REPO

HEADS = 10
PER_HEAD = 2_000
WRONG = HEADS * PER_HEAD - 1_234  # in the last head


@dataclass(frozen=True)
class Setup:
    data_dir: Path
    log: str
    operator_dir: Path
    chain_id: int


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Setup:
    """10 heads of 2,000 decisions; one wrong score in the last head."""
    data_dir = tmp_path_factory.mktemp("watch-cli") / "data"
    artifact = train_screening_model(data_dir, kind="lr", seed=0, rows=3_000)
    with connect(Settings(data_dir=data_dir)) as env:
        world = set_up(env, data_dir, artifact)
        for head in range(HEADS):
            first = head * PER_HEAD
            wrong = WRONG - first if first <= WRONG < first + PER_HEAD else None
            operate(world, PER_HEAD, wrong_at=wrong, seed=head)
        return Setup(data_dir, world.log.address, world.operator_dir, env.chain_id)


@pytest.fixture
def data_dir(setup: Setup, tmp_path: Path) -> Path:
    """A copy of the world (chain and models): each test slashes, or not, on its own."""
    copy = tmp_path / "data"
    shutil.copytree(setup.data_dir, copy, ignore=shutil.ignore_patterns("watch"))
    assert (models_dir(copy)).is_dir()
    return copy


def chainml(
    data_dir: Path, *args: str, environ: dict[str, str] | None = None
) -> subprocess.Popen[str]:
    environment = dict(os.environ, PYTHONPATH=f"{REPO / 'src'}{os.pathsep}{REPO}")
    environment.update(environ or {})
    command = "from chainml.cli.main import main; main()"
    return subprocess.Popen(
        [sys.executable, "-c", command, "--data-dir", str(data_dir), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=environment,
    )


def test_watch_once_reports_the_fault_it_slashed_as_json(setup: Setup, data_dir: Path) -> None:
    args = ("watch", "--log", setup.log, "--source", str(setup.operator_dir), "--once", "--json")
    proc = chainml(data_dir, *args)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 3, err
    report = json.loads(out)
    assert (report["heads"], report["records"], report["verified"]) == (HEADS, 20_000, 19_999)
    (fault,) = report["faults"]
    assert (fault["index"], fault["kind"], fault["head"]) == (WRONG, "score", 20_000)
    assert fault["challenge"]["slashed"] and fault["challenge"]["reason"] == "wrong_score"
    assert report["records_per_second"] > 0
    # a second pass: nothing new; the fault is remembered in the checkpoint, not re-reported
    proc = chainml(data_dir, *args)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    assert json.loads(out)["heads"] == 0
    state = json.loads(checkpoint_path(data_dir, setup.chain_id, setup.log).read_text())
    assert state["fault_count"] == 1 and state["size"] == 20_000


def test_withheld_records_exit_4_and_bad_input_exits_2(setup: Setup, data_dir: Path) -> None:
    partial = data_dir.parent / "partial"
    with DecisionLog.open(setup.operator_dir, read_only=True) as log:
        leaves = [(d, None) for _, d in log.store.iter_leaves(0, 7_000)]
    with DecisionLog.open(partial) as log:
        log.store.append(leaves)
    proc = chainml(data_dir, "watch", "--log", setup.log, "--source", str(partial), "--once")
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 4, err
    assert "data withheld" in out and "[6000, 8000)" in out
    proc = chainml(data_dir, "watch", "--log", "0x1234", "--once")
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 2 and "not an Ethereum address" in err


class SlowOperator:
    """The operator's ``/v1/log/entries`` on a real loopback server, ``delay`` s an answer."""

    def __init__(self, operator_dir: Path, delay: float) -> None:
        self.log = DecisionLog.open(operator_dir, read_only=True)
        self.delay = delay
        store, pause = self.log.store, self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                query = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query)
                start, end = int(query["start"][0]), int(query["end"][0])
                time.sleep(pause.delay)
                body = encode_binary([d for _, d in store.iter_leaves(start, end)])
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("X-Log-End", str(end))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> str:
        self.thread.start()
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.log.close()


def _heads_done(path: Path) -> int:
    try:
        return int(json.loads(path.read_text())["heads"])
    except (OSError, ValueError, KeyError):
        return 0


def test_kill_9_then_restart_misses_no_batch(setup: Setup, data_dir: Path) -> None:
    checkpoint = checkpoint_path(data_dir, setup.chain_id, setup.log)
    with SlowOperator(setup.operator_dir, delay=0.4) as url:
        args = ("watch", "--log", setup.log, "--source", url, "--once", "--json")
        proc = chainml(data_dir, *args)
        try:
            deadline = time.monotonic() + 240
            while _heads_done(checkpoint) < 3 and time.monotonic() < deadline:
                assert proc.poll() is None, proc.communicate()[1]
                time.sleep(0.02)
            os.kill(proc.pid, signal.SIGKILL)
        finally:
            proc.kill()
            proc.communicate()
        killed_at = _heads_done(checkpoint)
        assert 3 <= killed_at < HEADS, "the watcher was not killed in the middle of its work"
        proc = chainml(data_dir, *args)
        out, err = proc.communicate(timeout=300)
    assert proc.returncode == 3, err
    report = json.loads(out)
    assert report["heads"] == HEADS - killed_at
    assert report["records"] == (HEADS - killed_at) * PER_HEAD
    state = json.loads(checkpoint.read_text())
    assert (state["heads"], state["records"], state["size"]) == (HEADS, 20_000, 20_000)
    assert state["verified"] == 19_999 and state["fault_count"] == 1
    assert [f["index"] for f in state["faults"]] == [WRONG]


@pytest.mark.integration
def test_watch_on_anvil_slashes_a_wrong_score(
    anvil_node: AnvilNode, data_dir: Path, tmp_path: Path
) -> None:
    """The same CLI over a JSON-RPC node: a second account's watcher convicts the operator.

    The module's data directory lends its model and compiled contracts (a warm cache).
    """
    (model,) = list_models(data_dir)
    artifact = load_model(data_dir, model.model_id)
    signers = [Signer(bytes.fromhex(key[2:])) for key in (ANVIL_DEV_KEY, ANVIL_SECOND_KEY)]
    with Env(RpcBackend(anvil_node.url), signers, data_dir=data_dir) as env, env.snapshot():
        world = set_up(env, tmp_path / "anvil", artifact)
        operate(world, 1_000, wrong_at=None, seed=0)
        operate(world, 1_000, wrong_at=321, seed=1)
        bond = int(world.log.bond())
        args = ("watch", "--log", world.log.address, "--source", str(world.operator_dir))
        proc = chainml(
            data_dir,
            *("--rpc", anvil_node.url, *args, "--once", "--json"),
            environ={"CHAINML_PRIVATE_KEY": ANVIL_SECOND_KEY},
        )
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 3, err
        report = json.loads(out)
        assert (report["heads"], report["records"], report["verified"]) == (2, 2_000, 1_999)
        (fault,) = report["faults"]
        assert (fault["index"], fault["kind"], fault["head"]) == (1_321, "score", 2_000)
        challenge = fault["challenge"]
        assert challenge["slashed"] and challenge["reason"] == "wrong_score"
        assert challenge["challenger"] == env.accounts[1]
        assert challenge["reward_wei"] == bond and int(world.log.bond()) == 0
        assert world.log.halted()
