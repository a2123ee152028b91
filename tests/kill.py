"""Run a worker script, let it work, SIGKILL it: the heart of every durability test."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def run_then_kill(script: Path, args: list[str], delay: float, stderr_log: Path) -> int:
    """Start ``script``; once it prints ``ready <n>``, wait ``delay`` s and SIGKILL it.

    Returns ``n`` (what the worker found when it started). The worker's stderr goes to
    ``stderr_log`` and is quoted if it fails to start or stops by itself.
    """
    environment = dict(os.environ, PYTHONPATH=f"{REPO / 'src'}{os.pathsep}{REPO}")
    with stderr_log.open("w") as stderr:
        proc = subprocess.Popen(
            [sys.executable, str(script), *args],
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
            env=environment,
        )
    try:
        assert proc.stdout is not None
        ready = proc.stdout.readline().split()
        assert ready[:1] == ["ready"], f"{script.name} did not start:\n{stderr_log.read_text()}"
        time.sleep(delay)
        assert proc.poll() is None, f"{script.name} stopped by itself:\n{stderr_log.read_text()}"
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()
    return int(ready[1])
