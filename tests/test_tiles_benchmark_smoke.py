"""Smoke test of benchmarks/tiles.py at a tiny size, so the benchmark cannot silently rot."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

BENCHMARK = Path(__file__).parents[1] / "benchmarks" / "tiles.py"


def test_tiles_benchmark_exports_and_mirrors(tmp_path: Path) -> None:
    spec = importlib.util.spec_from_file_location("tiles_benchmark", BENCHMARK)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    out = tmp_path / "tiles.json"
    argv = ["--entries", "700", "--tile-gets", "5", "--work-dir", str(tmp_path)]
    returned = module.main([*argv, "--json", str(out)])
    assert json.loads(out.read_text()) == json.loads(json.dumps(returned))
    assert set(returned["rows"]) == {"export", "export_rerun", "mirror_dir", "mirror_http"}
    assert all(row["entries_per_s"] > 0 for row in returned["rows"].values())
    (mirrored,) = tmp_path.glob("tiles-bench-*/m2/tile/0/002.p/188")  # 700 = 2 * 256 + 188
    assert mirrored.stat().st_size == 188 * 32
