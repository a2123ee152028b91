"""SecAgg+ (Flower's legacy workflow) with one participant dropping out, on chain.

3 participants, 3 shares, threshold 2: participant 2 fails in round 2 after the key
exchange, its masks are reconstructed from the others' shares, and the round still merges
the other two. The coordinator never sees an individual update, so it checks only that each
contributor committed on chain.
"""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("flwr")
pytest.importorskip("ray")

from chainml.fl import RunOptions, init_federation, run_federation

pytestmark = pytest.mark.timeout(600)


def test_secure_aggregation_survives_one_dropout(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    init_federation(data_dir, task="h", data="breast_cancer", clients=3, partition_spec="iid")
    result = run_federation(
        data_dir, "h",
        RunOptions(rounds=2, secagg=True, dropouts={2: (2,)}, resamples=20, save=False),
    )  # fmt: skip
    rounds = result.record["rounds"]
    assert len(rounds[1]["accepted"]) == 3
    assert len(rounds[2]["accepted"]) == 2  # the dropout is not in round 2
    assert result.record["chain"]["participants"][2] not in rounds[2]["accepted"]
    assert result.record["privacy"]["secure_aggregation"] is True
    assert result.test_metrics["at_threshold"]["f1"] > 0.8
