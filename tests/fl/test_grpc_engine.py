"""The gRPC engine on loopback: a coordinator process and 3 participant processes.

``chainml fl run --engine grpc`` owns the data directory's chain and serves the rounds;
each ``chainml fl client`` is its own process that trains on its file and commits from its
own account through the owner's loopback endpoint. Slow (four Python processes).
"""

from __future__ import annotations

import json
import time
from contextlib import ExitStack
from pathlib import Path

import pytest

pytest.importorskip("flwr")

from chainml.chain import connect
from chainml.config import load_settings
from chainml.fl import audit_federation, init_federation
from tests.chain.processes import CLI, started
from tests.cli.test_cli import closed_port

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]


def test_separate_processes_on_loopback(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    init_federation(data_dir, task="h", data="breast_cancer", clients=3, partition_spec="iid")
    address = f"127.0.0.1:{closed_port()}"
    base = [*CLI, "--data-dir", str(data_dir), "fl"]
    with ExitStack() as stack:
        server = stack.enter_context(started(
            [*base, "run", "--task", "h", "--rounds", "2", "--engine", "grpc",
             "--address", address, "--json"], tmp_path / "server.log",
        ))  # fmt: skip
        deadline = time.monotonic() + 120
        while not (data_dir / "fl" / "h" / "runs").exists() and time.monotonic() < deadline:
            log = (tmp_path / "server.log").read_text()
            if "gRPC server running" in log or "Flower server running" in log:
                break
            assert server.poll() is None, log
            time.sleep(0.5)
        clients = [
            stack.enter_context(
                started(
                    [*base, "client", "--task", "h", "--index", str(i), "--server", address],
                    tmp_path / f"client{i}.log",
                )
            )
            for i in range(3)
        ]
        server.wait(timeout=480)
        assert server.returncode == 0, (tmp_path / "server.log").read_text()[-3000:]
        for i, proc in enumerate(clients):
            assert proc.wait(timeout=60) == 0, (tmp_path / f"client{i}.log").read_text()[-3000:]
    [record] = (data_dir / "fl" / "h" / "runs").glob("*.json")
    summary = json.loads(record.read_text())
    summary["contract"] = summary["chain"]["contract"]
    assert summary["options"]["engine"] == "grpc"
    assert [len(r["accepted"]) for r in summary["rounds"][1:]] == [3, 3]
    with connect(load_settings().with_overrides(data_dir=data_dir)) as env:
        report = audit_federation(env, data_dir, summary["model_id"], contract=summary["contract"])
    assert report.ok, report.to_dict()
