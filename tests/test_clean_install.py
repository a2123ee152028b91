"""``chainml demo`` after ``pip install 'chainml[ml,serve]'`` in a clean venv: no dev packages.

The demo is what a new user runs first, so it must not lean on anything only the dev extra
brings (httpx, FastAPI's test client, pytest). pip takes the packages from its cache after
``make install``, so this costs well under a minute.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_the_demo_runs_in_a_clean_venv_with_the_user_extras_only(tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CHAINML_", "PYTHON"))}
    installed = subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", f"{REPO}[ml,serve]"],
        capture_output=True, text=True, timeout=600, env=env, check=False,
    )  # fmt: skip
    assert installed.returncode == 0, installed.stderr[-2000:]
    for dev_only in ("httpx", "pytest", "hypothesis"):
        probe = subprocess.run([str(python), "-c", f"import {dev_only}"], env=env, check=False)
        assert probe.returncode != 0, f"{dev_only} came with the user extras"

    work = tmp_path / "work"
    work.mkdir()
    demo = subprocess.run(
        [str(venv / "bin" / "chainml"), "--data-dir", "d", "demo", "--offline",
         "--transfers", "50", "--stream", "200", "--report", "r.html"],
        capture_output=True, text=True, timeout=600, env=env, cwd=work, check=False,
    )  # fmt: skip
    assert demo.returncode == 0, (demo.stdout[-3000:], demo.stderr[-3000:])
    assert "tampered receipt" in demo.stdout and "rejected" in demo.stdout
    assert "audit" in demo.stdout and "passed" in demo.stdout
    assert (work / "r.html").stat().st_size > 10_000  # the self-contained report
