"""Smoke test of benchmarks/watchtower.py at a tiny size, so the benchmark cannot silently rot."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

BENCHMARK = Path(__file__).parents[1] / "benchmarks" / "watchtower.py"


def test_watchtower_benchmark_verifies_every_shape(tmp_path: Path) -> None:
    spec = importlib.util.spec_from_file_location("watchtower_benchmark", BENCHMARK)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    out = tmp_path / "watchtower.json"
    returned = module.main(["--records", "600", "--baseline-records", "100", "--json", str(out)])
    assert json.loads(out.read_text()) == json.loads(json.dumps(returned))
    assert set(returned["rows"]) == {
        "LR-30", "MLP 30-16-1", "50 trees, depth 4", "LR-30 from a log directory",
    }  # fmt: skip
    assert all(row["ours_records_per_cpu_s"] > 0 for row in returned["rows"].values())
    assert returned["rows"]["LR-30"]["bytes_per_record"] == 32 * (12 + 30)
