"""``chainml demo`` runs after ``pip install chainml[ml,serve]`` in a clean venv, no dev extra."""

from __future__ import annotations

import os
import shutil
import subprocess
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_the_demo_runs_from_a_clean_install_of_ml_and_serve(tmp_path: Path) -> None:
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    python, chainml = env_dir / "bin" / "python", env_dir / "bin" / "chainml"
    clean = {k: v for k, v in os.environ.items() if k not in {"PYTHONPATH", "VIRTUAL_ENV"}}
    install = [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    # a copy of what the sdist holds: setuptools builds in the source tree, and a stale build/
    # there would install modules that no longer exist
    source = tmp_path / "source"
    shutil.copytree(ROOT / "src", source / "src", ignore=shutil.ignore_patterns("*.egg-info"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    subprocess.run([*install, f"{source}[ml,serve]"], env=clean, check=True, timeout=800)
    # the dev extra's packages are absent, so nothing the demo imports can come from them
    probe = "import importlib.util as u; print(u.find_spec('httpx'), u.find_spec('pytest'))"
    absent = subprocess.run(
        [str(python), "-c", probe], env=clean, capture_output=True, text=True, check=True
    )
    assert absent.stdout.split() == ["None", "None"], absent.stdout
    report = tmp_path / "r.html"
    args = ["--data-dir", str(tmp_path / "data"), "demo", "--offline", "--transfers", "10"]
    args += ["--stream", "500", "--receipts", "2", "--report", str(report)]
    done = subprocess.run(
        [str(chainml), *args],
        env={**clean, "COLUMNS": "200"},
        cwd=tmp_path,  # not the repository: the installed package, never ./src
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    text = " ".join(done.stdout.split())
    assert "data: simulated-60000-seed0, 60,000 rows" in text
    assert "approved for 'fraud-screening'" in text and "payments screened on chain" in text
    assert "500 held-out records scored and logged durably" in text
    assert "2 receipts proven and verified on chain" in text
    assert "a receipt with a flipped decision is rejected" in text
    assert "audit: 500 records recomputed" in text
    assert "Example receipts" in report.read_text()
