"""Smoke test of benchmarks/log.py at tiny sizes, so the benchmark cannot silently rot."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import ModuleType

import pytest

BENCHMARK = Path(__file__).parents[1] / "benchmarks" / "log.py"


def _load_benchmark() -> ModuleType:
    spec = importlib.util.spec_from_file_location("log_benchmark", BENCHMARK)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.timeout(120)
def test_log_benchmark_runs_both_implementations_and_verifies(tmp_path: Path) -> None:
    out = tmp_path / "log.json"
    argv = ["--records", "2000", "--proofs", "20", "--baseline-proofs", "2"]
    argv += ["--anchor-batches", "100,1000", "--big", "--big-records", "3000"]
    returned = _load_benchmark().main([*argv, "--work-dir", str(tmp_path), "--json", str(out)])

    document = json.loads(out.read_text())
    assert document == json.loads(json.dumps(returned))
    assert document["record_bytes"] == 480  # a DecisionRecord with 3 features
    append = document["append"]
    assert set(append) == {"chainml", "chainml_no_ids", "pymerkle", "chainml_facade"}
    for name, row in append.items():
        assert row["records"] == 2000, name
        assert row["records_per_s"] > 0 and row["disk_bytes"] > 0, name
    assert append["chainml"]["request_ids"] and not append["pymerkle"]["request_ids"]

    proofs = document["proofs"]
    assert set(proofs) == {"chainml", "chainml (reopened)", "pymerkle"}
    for name, expected in [("chainml", 20), ("chainml (reopened)", 20), ("pymerkle", 2)]:
        row = proofs[name]
        assert row["size"] == 2000, name
        assert row["proofs"] == 2 * expected and row["verified"] == row["proofs"], name
        for kind in ("inclusion", "consistency"):
            assert row[kind]["samples"] == expected, name
            assert 0 < row[kind]["median_ms"] <= row[kind]["p99_ms"], name
    # pymerkle 7 hashes as RFC 9162 does: the same entries give the same roots and paths
    assert document["cross_check"]["roots_agree"] is True
    assert document["cross_check"]["inclusion_paths_agree"] is True
    head = document["tree_head"]
    assert head["size"] == 2000 + 50 and head["root"]["samples"] == 50
    assert head["pm_root"]["samples"] == 50 and head["reader_agrees"] is True

    big = document["big"]
    assert big["skipped"] is False and big["records"] == 3000
    assert big["proofs"]["chainml"]["verified"] == 40
    assert "pymerkle" not in big["proofs"]  # only with --big-pymerkle

    anchoring = document["anchoring"]
    assert [row["batch"] for row in anchoring["batches"]] == [100, 1000]
    for row in anchoring["batches"]:
        assert row["from_size"] == 1000 and row["to_size"] == 1000 + row["batch"]
        assert row["gas_used"] > 21_000 and row["proof_length"] > 0
        assert row["gas_per_decision"] == row["gas_used"] / row["batch"]
        assert row["inclusion_verified_on_chain"] is True
    by_size = anchoring["consistency_check_by_size"]
    assert [row["size"] for row in by_size] == [1024]  # the sizes up to twice --records
    for key, heads in [("to_next", (1024, 1025)), ("from_previous", (1023, 1024))]:
        row = by_size[0][key]
        assert (row["from_size"], row["to_size"]) == heads
        assert row["gas_used"] > 21_000 and row["inclusion_verified_on_chain"] is True
    # from a power of two the proof is one hash; from 1023 it climbs the whole tree
    assert by_size[0]["to_next"]["proof_length"] < by_size[0]["from_previous"]["proof_length"]
    per_tx = anchoring["per_decision_tx"]
    assert per_tx["plain_transfer_gas"] == 21_000
    assert per_tx["store_leaf_hash_gas"] > 21_000

    targets = {t["target"] for t in document["targets"]}
    assert "append chainml / pymerkle" in targets
    assert "tree head after append p99 ms @ 3,000" in targets
    # the verdicts are computed, not asserted: timings are not tested here
    assert all(isinstance(t["pass"], bool) for t in document["targets"])
