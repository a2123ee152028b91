"""Smoke test of benchmarks/monitor.py at a tiny size, so the benchmark cannot silently rot."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

BENCHMARK = Path(__file__).parents[2] / "benchmarks" / "monitor.py"


def test_monitor_benchmark_runs_and_scores_the_attacks(tmp_path: Path) -> None:
    out = tmp_path / "monitor.json"
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    args = ["--benign", "8", "--repeat", "2", "--json", str(out)]
    subprocess.run(
        [sys.executable, str(BENCHMARK), *args], check=True, env=environment, timeout=120
    )
    document = json.loads(out.read_text())
    assert document["rules_quality"]["recall"] == 1.0
    assert document["rules_quality"]["benign_alerts"] == 0
    assert all(rate > 0 for rate in document["tx_per_s"].values())
