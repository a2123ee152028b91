"""Smoke test of benchmarks/optimistic.py with --quick, so the fraud-proof gas table cannot rot."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

import pytest

BENCHMARK = Path(__file__).parents[1] / "benchmarks" / "optimistic.py"


def _load_benchmark() -> ModuleType:
    spec = importlib.util.spec_from_file_location("optimistic_benchmark", BENCHMARK)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


@pytest.mark.timeout(240)
def test_optimistic_benchmark_quick(tmp_path: Path) -> None:
    out = tmp_path / "optimistic.json"
    returned = _load_benchmark().main(["--quick", "--json", str(out)])
    document = json.loads(out.read_text())
    assert document == json.loads(json.dumps(returned))
    [row] = document["embedded"]["models"]
    assert row["model"] == "LR 30" and row["meets_target"]
    # a fraud proof costs more than executing one decision, far less than a zk verification
    assert row["onchain_decide_gas"] < row["challenge_gas"] < document["zk_verify_gas"]["value"]
    anchor = document["embedded"]["anchor"]
    assert anchor["ChallengeableLog"] <= anchor["DecisionLog"] * 1.01  # the bond costs ~nothing
