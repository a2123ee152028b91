"""SIGKILL the service under load, restart it: every acknowledged decision has a valid receipt."""

from __future__ import annotations

import http.client
import json
import os
import random
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from chainml.chain import connect
from chainml.chain.devnode import free_port
from chainml.chain.ownership import current_owner
from chainml.config import Settings
from chainml.log.decision_log import DecisionLog
from chainml.log.receipt import check_receipt, verify_receipt
from chainml.log.record import request_id_from
from chainml.log.trust import operated_log
from chainml.models.artifacts import ModelArtifact
from tests.kill import REPO, run_then_kill
from tests.service.conftest import KEY, row

WORKER = Path(__file__).with_name("server_worker.py")


class Load:
    """Client threads scoring without pause; they remember every 2xx answer."""

    def __init__(self, port: int, features: list[float], threads: int = 6) -> None:
        self.port = port
        self.body = features
        self.acked: dict[str, int] = {}
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads = [
            threading.Thread(target=self._run, args=(n,), daemon=True) for n in range(threads)
        ]

    def __enter__(self) -> Load:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(10)

    def _run(self, worker: int) -> None:
        count = 0
        connection: http.client.HTTPConnection | None = None
        while not self._stop.is_set():
            request_id = f"k{os.getpid()}-{worker}-{count}-{time.monotonic_ns()}"
            count += 1
            body = json.dumps({"request_id": request_id, "features": self.body})
            try:
                if connection is None:
                    connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
                connection.request(
                    "POST",
                    "/v1/score",
                    body,
                    {"X-API-Key": KEY, "Content-Type": "application/json"},
                )
                answer = connection.getresponse()
                data = answer.read()
            except (OSError, http.client.HTTPException):  # the server is down or was killed
                connection = None
                time.sleep(0.01)
                continue
            if 200 <= answer.status < 300:
                with self._lock:
                    self.acked[request_id] = json.loads(data)["log_index"]


def _start(data_dir: Path, model_id: str, port: int, log: Path) -> subprocess.Popen[str]:
    env = dict(os.environ, PYTHONPATH=f"{REPO / 'src'}{os.pathsep}{REPO}")
    with log.open("w") as stderr:
        proc = subprocess.Popen(
            [sys.executable, str(WORKER), str(data_dir), model_id, str(port)],
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
            env=env,
        )
    assert proc.stdout is not None
    assert proc.stdout.readline().startswith("ready"), log.read_text()
    return proc


@pytest.mark.slow
def test_sigkill_under_load_loses_no_acknowledged_decision(
    tmp_path: Path, data_dir: Path, model: ModelArtifact
) -> None:
    rng = random.Random(20261127)
    port = free_port()
    acked: dict[str, int] = {}
    for round_ in range(2):
        with Load(port, row(model)) as load:
            run_then_kill(
                WORKER,
                [str(data_dir), model.model_id, str(port)],
                rng.uniform(1.5, 3.0),
                tmp_path / f"{round_}.err",
            )
        assert load.acked, "no request was answered before the kill"
        deadline = time.monotonic() + 10  # the chain process died with it: the chain is free
        while current_owner(data_dir) is not None:
            assert time.monotonic() < deadline, (
                f"the chain is still held: {current_owner(data_dir)}"
            )
            time.sleep(0.05)
        assert not acked.keys() & load.acked.keys()
        acked |= load.acked

    with DecisionLog.open(data_dir) as log:  # every acknowledged decision is there, in place
        for request_id, index in acked.items():
            assert log.index_of(request_id_from(request_id)) == index
        assert log.audit().ok

    proc = _start(data_dir, model.model_id, port, tmp_path / "restart.err")
    try:
        sample = rng.sample(sorted(acked), min(60, len(acked)))
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        deadline = time.monotonic() + 120
        while True:  # after the restart, anchoring catches up with everything logged
            connection.request("GET", "/healthz")
            health = json.loads(connection.getresponse().read())
            if health["anchored_size"] > max(acked.values()):
                break
            assert time.monotonic() < deadline, health
            time.sleep(0.2)
        receipts = []
        for request_id in sample:
            connection.request("GET", f"/v1/decisions/{request_id}")
            answer = connection.getresponse()
            document = json.loads(answer.read())
            assert answer.status == 200 and document["status"] == "anchored"
            check = check_receipt(document["receipt"])
            assert check.leaf_index == acked[request_id]
            receipts.append(document["receipt"])
    finally:
        proc.terminate()  # SIGTERM: a clean stop
        assert proc.wait(30) in (0, -15)  # uvicorn re-raises SIGTERM after a clean shutdown
    with connect(Settings(data_dir=data_dir)) as env, DecisionLog.open(data_dir) as log:
        trusted = (operated_log(env, log),)
        for receipt in receipts:
            assert verify_receipt(receipt, env, trusted=trusted).verified
