"""Smoke test of benchmarks/fraud_quality.py on its --quick synthetic data, so it cannot rot."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import ModuleType

BENCHMARK = Path(__file__).parents[1] / "benchmarks" / "fraud_quality.py"


def _load_benchmark() -> ModuleType:
    spec = importlib.util.spec_from_file_location("fraud_quality_benchmark", BENCHMARK)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_fraud_quality_benchmark_quick(tmp_path: Path) -> None:
    out = tmp_path / "fraud_quality.json"
    returned = _load_benchmark().main(["--quick", "--resamples", "100", "--json", str(out)])

    document = json.loads(out.read_text())
    assert document == json.loads(json.dumps(returned))
    assert document["quick"] is True
    assert document["split"]["test"]["rows"] == 1200
    models = document["models"]
    assert len(models) == 5 and models[-1]["model"].startswith("baseline")
    for row in models:
        interval = row["pr_auc_interval"]
        assert interval["low"] <= row["pr_auc"] <= interval["high"], row["model"]
        assert 0.5 < row["roc_auc"] <= 1.0, row["model"]
        assert row["train_seconds"] > 0 and row["peak_rss_bytes"] > 0
        assert row["onnx_max_abs_diff"] < 1e-4
        assert row["model_id"].startswith("0x")
    assert all(ref["source"] and ref["split"] for ref in document["references"])
    targets = {t["target"].split(" (")[0]: t for t in document["targets"]}
    assert set(targets) == {"best PR-AUC on the time split", "peak memory, GiB"}
    # the verdicts are computed, not asserted: quality on synthetic data is not the target
    assert all(isinstance(t["pass"], bool) for t in targets.values())
