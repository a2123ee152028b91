"""Smoke test of benchmarks/scale.py's store part at a tiny size, so it cannot silently rot."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from tests.pg import require

BENCHMARKS = Path(__file__).parents[1] / "benchmarks"


def test_scale_benchmark_compares_the_stores(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    require()
    monkeypatch.syspath_prepend(str(BENCHMARKS))  # it imports its neighbours, as a script does
    spec = importlib.util.spec_from_file_location("scale_benchmark", BENCHMARKS / "scale.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    out = tmp_path / "scale.json"
    argv = ["--leaves", "3000", "--batch", "1000", "--samples", "100", "--no-replicas"]
    returned = module.main([*argv, "--json", str(out)])
    assert json.loads(out.read_text()) == json.loads(json.dumps(returned))
    for name in ("sqlite", "postgres"):
        store = returned["stores"][name]
        assert store["appends"]["leaves"] == 3000 and store["appends"]["per_s"] > 0
        assert store["proofs"]["size"] == 3000 and store["proofs"]["inclusion_p99_ms"] > 0
    assert set(returned["checks"]) == {"pg_appends_per_s", "proof_p99_ms"}
