"""Smoke test of benchmarks/onchain_inference.py with --quick, so the gas benchmark cannot rot."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

import pytest

BENCHMARK = Path(__file__).parents[1] / "benchmarks" / "onchain_inference.py"


def _load_benchmark() -> ModuleType:
    spec = importlib.util.spec_from_file_location("onchain_inference_benchmark", BENCHMARK)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


@pytest.mark.integration
@pytest.mark.timeout(120)
def test_onchain_benchmark_quick_matches_the_reference_on_both_backends(tmp_path: Path) -> None:
    out = tmp_path / "onchain_inference.json"
    returned = _load_benchmark().main(["--quick", "--anvil", "--json", str(out)])

    document = json.loads(out.read_text())
    assert document == json.loads(json.dumps(returned))
    assert document["quick"] is True and document["rows_per_model"] == 2
    models = {row["model"]: row for row in document["models"]}
    assert set(models) == {"LR 30", "MLP 30-8-1", "trees 10x3"}
    for name, row in models.items():
        gen, naive = row["generated"], row["naive"]
        assert not gen["exceeds_eip170"], name
        assert gen["outputs_match"] and naive["outputs_match"], name
        for side in (gen, naive):
            assert side["rows"] == 2 and len(side["per_row"]) == 2, name
            # every receipt is 21,000 + calldata + metered execution, or the EIP-7623 floor
            assert side["receipt_minus_expected_max"] == 0, name
            for r in side["per_row"]:
                assert r["gas_used"] >= max(r["floor"], 21_000 + r["calldata"]), name
        # the naive contracts execute far above the floor, so their receipts show execution gas
        assert naive["floor_binds"] == 0 and naive["receipt_minus_metered_max"] == 0, name
        assert row["naive_over_generated"] > 1, name

    anvil = document["anvil"]
    assert anvil["identical"] is True and anvil["outputs_match"] is True
    assert anvil["compared"] > 3 * 2 * 3  # deployments, setups, decides and metered rows

    quality = document["quality"]
    assert quality["dataset"] == "synthetic (quick)"
    assert [row["kind"] for row in quality["models"]] == ["logistic_regression", "mlp", "lightgbm"]
    for row in quality["models"]:
        assert 0.0 <= row["decision_agreement"] <= 1.0
        assert row["contract"]["outputs_match"] is True, row["model"]
        assert row["validation_agreement"] == 1.0, row["model"]  # issue 22: no threshold row flips
        assert row["policy"]["proven"] is True, row["model"]

    sweep = document["sweep"]  # issue 22's sweep, one seed: integer vs float decisions
    assert len(sweep["models"]) == 3 * 2  # three kinds, two rules
    assert sweep["all_validation_agree"] and sweep["all_threshold_rows_agree"]
    assert sweep["all_outside_error_agree"] and sweep["all_proven"]
    assert len({m["model_id"] for m in sweep["models"]}) == 6  # the rule is part of the identity

    targets = {t["target"]: t for t in document["targets"]}
    assert (
        targets["LR 30: execution gas"]["value"]
        == models["LR 30"]["generated"]["execution_metered"]
    )
    assert targets["MLP 30-16-1: execution gas"]["pass"] is None  # not in the quick run
    # the verdicts are computed, not asserted: gas and quality targets are the benchmark's job
    assert all(t["pass"] in (True, False, None) for t in targets.values())
    assert document["ezkl_reference"]["gas_per_proof"] == 550_000
