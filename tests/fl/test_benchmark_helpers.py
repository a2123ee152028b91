"""benchmarks/federated.py's arithmetic and tables, on a run record shaped like the real one.

The benchmark itself runs a dozen federations (minutes); this keeps its parts from rotting.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

BENCHMARK = Path(__file__).parents[2] / "benchmarks" / "federated.py"


def _benchmark() -> ModuleType:
    spec = importlib.util.spec_from_file_location("federated_benchmark", BENCHMARK)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


RECORD = {
    "rounds": [
        {"round": 0, "global_gas": 71_850, "update_gas": [], "seconds": 0.2},
        {"round": 1, "global_gas": 54_762, "update_gas": [56_088, 38_988], "seconds": 40.0},
        {"round": 2, "global_gas": 54_762, "update_gas": [56_088, 38_988], "seconds": 1.0},
        {
            "round": 3,
            "global_gas": 54_762,
            "update_gas": [56_088, 38_988],
            "seconds": 3.0,
            "cpu_seconds": 0.5,
        },
    ]
}


def test_round_times_and_gas() -> None:
    bench = _benchmark()
    assert bench.round_times(RECORD) == (40.0, 2.0)  # round 1 apart; median of the rest
    assert bench.round_cpu(RECORD) == 0.25  # rounds 2..R (a missing one counts 0)
    largest, per = bench.gas_per_participant(RECORD)
    assert largest == 56_088
    assert per == pytest.approx((56_088 + 38_988 + 54_762) / 2)


def test_accuracy_from_the_confusion_counts() -> None:
    metrics = {"at_threshold": {"confusion": {"tp": 3, "tn": 5, "fp": 1, "fn": 1}}}
    assert _benchmark().accuracy(metrics) == 0.8


def test_render_prints_every_result_beside_its_baseline(
    capsys: pytest.CaptureFixture[str],
) -> None:
    q = {"accuracy": 0.95, "pr_auc": 0.97}
    run = q | {"seconds": 50.0, "round_1_seconds": 40.0, "round_seconds": 1.0,
               "round_cpu_seconds": 0.08, "max_tx_gas": 56_088,
               "gas_per_round_per_participant": 53_360.0}  # fmt: skip
    out = {
        "participants": 5, "rounds": 5, "centralized": q, "alone": [q], "fedavg": run,
        "plain_flower": run | {"round_seconds": 0.5, "round_cpu_seconds": 0.02},
        "poisoned": {"krum": q},
        "dp": {"3.0": q}, "secagg": q,
        "ulb": {"centralized": q, "dirichlet:0.5": q, "column:Time": q},
    }  # fmt: skip
    _benchmark().render(out)
    printed = capsys.readouterr().out
    assert "2.00x" in printed  # chainml's round over plain Flower's
    assert "4.00x" in printed  # and its coordinator CPU
    assert "krum, 1 poisoner" in printed and "ULB, 5 banks (column:Time)" in printed
