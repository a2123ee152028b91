"""Smoke test of benchmarks/anchor_soak.py on one simulated day, so the soak cannot rot."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

import pytest

BENCHMARK = Path(__file__).parents[1] / "benchmarks" / "anchor_soak.py"


def _load_benchmark() -> ModuleType:
    spec = importlib.util.spec_from_file_location("anchor_soak", BENCHMARK)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


@pytest.mark.integration
@pytest.mark.timeout(600)
def test_one_simulated_day_anchors_every_head_once_within_its_bounds(tmp_path: Path) -> None:
    out = tmp_path / "soak.json"
    argv = ["--days", "1", "--step", "600", "--work-dir", str(tmp_path), "--json", str(out)]
    returned = _load_benchmark().main(argv)

    document = json.loads(out.read_text())
    assert document == json.loads(json.dumps(returned))
    assert document["series"]["over_cap_share"] > 0  # the series does spike over the cap
    for name, run in document["results"].items():
        assert run["anchors"] > 0, name
        assert run["duplicate_anchors"] == 0 and run["nonce_gaps"] == 0, name
        assert run["fees_wei"] > 0, name
    ours = document["results"]["chainml"]
    assert ours["worst_delay_s"] <= document["delay_bound_s"]
    budget_wei = document["budget_gwei_per_day"] * 10**9
    assert ours["max_day_wei"] <= budget_wei and ours["days_over_budget"] == 0
