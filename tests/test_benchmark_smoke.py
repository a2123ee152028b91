"""Smoke test of benchmarks/chain_tx.py at tiny sizes, so the benchmark cannot silently rot."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import ModuleType

import pytest

BENCHMARK = Path(__file__).parents[1] / "benchmarks" / "chain_tx.py"


def _load_benchmark() -> ModuleType:
    spec = importlib.util.spec_from_file_location("chain_tx_benchmark", BENCHMARK)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.integration
@pytest.mark.timeout(180)
def test_chain_tx_benchmark_runs_and_verifies_every_backend(tmp_path: Path) -> None:
    out = tmp_path / "chain_tx.json"
    returned = _load_benchmark().main(
        ["--transactions", "20", "--history", "50", "--json", str(out)]
    )

    document = json.loads(out.read_text())
    assert document == json.loads(json.dumps(returned))
    assert document["gas_estimation"] is False
    backends = document["backends"]
    assert set(backends) == {"embedded", "anvil", "baseline"}
    for name, row in backends.items():
        assert row["transactions"] == 20, name
        assert row["tx_per_s"] > 0, name
        assert row["counter"] == 20, name
        assert row["verified"] is True, name

    restart = backends["embedded"]["restart"]
    assert restart["history"] == 50
    assert restart["verified"] is True
    assert len(restart["samples"]) == 3
    assert all(seconds > 0 for seconds in restart["samples"])
    assert backends["embedded"]["disk"]["bytes"] > 0

    targets = {t["target"]: t for t in document["targets"]}
    assert set(targets) == {
        "embedded tx/s",
        "embedded / anvil",
        "embedded / baseline",
        "embedded restart (s)",
    }
    # the verdicts are computed, not asserted: timings are not tested here
    assert all(isinstance(t["pass"], bool) for t in targets.values())
