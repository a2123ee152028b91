"""benchmarks/service.py --quick runs end to end (open loop too) and reports every figure."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_service_benchmark_quick(tmp_path: Path) -> None:
    output = tmp_path / "service.json"
    done = subprocess.run(
        [
            sys.executable,
            str(REPO / "benchmarks" / "service.py"),
            "--quick",
            "--output",
            str(output),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=REPO,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    for line in (
        "single: requests/s",
        "batch: decisions/s",
        "max rate with p99 <= 20 ms",
        "cost of verifiability",
    ):
        assert line in done.stdout
    result = json.loads(output.read_text())
    assert result["durability"] == "full"
    for server in ("verifiable", "plain"):
        assert result[server]["single"]["requests"] > 0
        assert result[server]["batch"]["decisions_per_s"] > 0
        assert result[server]["single"]["p99_ms"] >= result[server]["single"]["p50_ms"]
        # the open-loop search ran at the quick plan's tiny fixed rates, every slot answered
        search = result[server]["open"]
        assert [s["rate"] for s in search["steps"]][:1] == [50.0]
        for step in search["steps"]:
            assert step["requests"] == step["rate"] * result["load"]["open"]["step_seconds"]
            assert step["unfinished"] == 0
            assert step["p99_ms"] >= step["p50_ms"] > 0
    assert result["verifiable"]["log"]["size"] > 0
    assert set(result["checks"]) == {
        "single_rps",
        "single_p99_ms",
        "open_rate_p99",
        "batch_dps",
        "ratio",
    }
    assert result["ratio"]["single"] > 0
    assert "open_max_rate" in result["ratio"]
