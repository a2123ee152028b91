"""Test helpers: start chainml processes on loopback with this worktree's code; stop them by PID."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from chainml.chain.ownership import Owner, current_owner

REPO = Path(__file__).resolve().parents[2]
ENVIRONMENT = dict(os.environ, PYTHONPATH=f"{REPO / 'src'}{os.pathsep}{REPO}")
CLI = [sys.executable, "-c", "from chainml.cli.main import main; main()"]


@contextmanager
def started(args: list[str], log: Path) -> Iterator[subprocess.Popen[str]]:
    """Run ``args`` (stdout piped, stderr to ``log``); on the way out SIGKILL it if it lives."""
    with log.open("w") as stderr:
        proc = subprocess.Popen(
            args, stdout=subprocess.PIPE, stderr=stderr, text=True, env=ENVIRONMENT
        )
    try:
        yield proc
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()


def wait_for_owner(data_dir: Path, proc: subprocess.Popen[str], log: Path) -> Owner:
    """The owner of ``data_dir`` once ``proc`` owns it and serves its endpoint."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"the owner exited:\n{log.read_text()}"
        owner = current_owner(data_dir)
        if owner is not None and owner.pid == proc.pid and owner.url is not None:
            return owner
        time.sleep(0.1)
    raise AssertionError(f"the owner did not start serving:\n{log.read_text()}")


def stop(proc: subprocess.Popen[str], timeout: float = 30) -> int:
    """SIGTERM ``proc`` by PID and wait for it; return its exit status."""
    os.kill(proc.pid, signal.SIGTERM)
    return proc.wait(timeout)
