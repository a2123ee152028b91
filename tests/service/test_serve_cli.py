"""``chainml serve``: refuses to run without an API key; serves on loopback; stops cleanly."""

from __future__ import annotations

import gc
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from chainml.chain.devnode import free_port
from chainml.log.decision_log import DecisionLog
from chainml.models.artifacts import ModelArtifact
from tests.cli.test_cli import flat, isolated, run  # noqa: F401  (isolated is an autouse fixture)
from tests.kill import REPO
from tests.service.conftest import KEY, make_app, row


def test_serve_needs_an_api_key(capsys: pytest.CaptureFixture[str], data_dir: Path) -> None:
    code, _, err = run(capsys, "--data-dir", str(data_dir), "serve", "--model", "0xabcdef")
    assert code == 2 and "needs at least one API key" in flat(err)
    code, _, err = run(capsys, "--data-dir", str(data_dir), "serve", "--api-key", "short")
    assert code == 2 and "shorter than 16 characters" in flat(err)


def test_serve_on_a_busy_port_is_exit_4_before_the_banner(
    capsys: pytest.CaptureFixture[str], data_dir: Path, model: ModelArtifact
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code, out, err = run(
            capsys, "--data-dir", str(data_dir), "serve", "--model", model.model_id,
            "--port", str(port), "--api-key", KEY, "--no-anchor",
        )  # fmt: skip
    assert code == 4, (out, err)
    assert f"cannot listen on 127.0.0.1:{port}" in flat(err) and "--port" in flat(err)
    assert "chainml serve on" not in out + err  # no banner for a server that never listened
    assert not (data_dir / "decisions.sqlite").exists()  # nothing was opened


def test_only_the_serve_entry_point_tunes_the_interpreter(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    data_dir: Path,
    model: ModelArtifact,
) -> None:
    """The library's run_server leaves the switch interval and the collector alone."""
    import uvicorn

    from chainml.service import server

    calls: list[str] = []
    monkeypatch.setattr(uvicorn.Server, "run", lambda self, sockets=None: calls.append("run"))
    settings = (sys.getswitchinterval(), gc.get_threshold(), gc.get_freeze_count())
    server.run_server(make_app(data_dir, model.model_id), sock=server.bind("127.0.0.1", 0))
    assert calls == ["run"]
    assert (sys.getswitchinterval(), gc.get_threshold(), gc.get_freeze_count()) == settings

    monkeypatch.setattr(server, "tune_interpreter", lambda: calls.append("tune"))
    code, out, err = run(
        capsys, "--data-dir", str(data_dir), "serve", "--model", model.model_id,
        "--port", str(free_port()), "--api-key", KEY, "--no-anchor",
    )  # fmt: skip
    assert code == 0, (out, err)
    assert calls == ["run", "tune", "run"]  # chainml serve tunes, then serves


def _call(port: int, path: str, body: dict | None = None) -> tuple[int, dict]:
    data = None if body is None else json.dumps(body).encode()
    headers = {"X-API-Key": KEY, "Content-Type": "application/json"}
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data, headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def test_serve_on_loopback_then_sigterm(data_dir: Path, model: ModelArtifact) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHAINML_")}
    env |= {"PYTHONPATH": f"{REPO / 'src'}{os.pathsep}{REPO}", "CHAINML_API_KEYS": KEY}
    command = [
        sys.executable,
        "-m",
        "chainml.cli.main",
        "--data-dir",
        str(data_dir),
        "serve",
        "--model",
        model.model_id,
        "--port",
        str(port),
        "--no-anchor",
    ]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                status, health = _call(port, "/healthz")
                break
            except OSError:
                assert proc.poll() is None and time.monotonic() < deadline
                time.sleep(0.1)
        assert status == 200 and health["model_id"] == model.model_id
        status, result = _call(port, "/v1/score", {"request_id": "cli", "features": row(model)})
        assert status == 200 and result["log_index"] == 0
        status, document = _call(port, "/v1/decisions/cli")
        assert status == 202 and document["status"] == "pending"
    finally:
        os.kill(proc.pid, signal.SIGTERM)
        out, _ = proc.communicate(timeout=30)
    banner = out.decode()
    assert f"chainml serve on http://127.0.0.1:{port}" in banner and model.model_id in banner
    with DecisionLog.open(data_dir) as log:
        assert log.head().size == 1
