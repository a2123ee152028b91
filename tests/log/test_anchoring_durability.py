"""SIGKILL while logging and anchoring: nothing acknowledged is lost, chain and log agree."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from chainml.chain import connect
from chainml.config import Settings
from chainml.log.anchor import Anchorer, log_contract
from chainml.log.decision_log import DecisionLog
from tests.kill import run_then_kill
from tests.log.anchoring_writer import decision

WRITER = Path(__file__).with_name("anchoring_writer.py")
ROUNDS = 5


def _acknowledged(ack_file: Path, kind: str) -> int:
    if not ack_file.exists():
        return 0
    lines = ack_file.read_text().split("\n")[:-1]  # a torn last line is ignored
    sizes = [int(line.split()[1]) for line in lines if line.startswith(kind)]
    return max(sizes, default=0)


@pytest.mark.slow
def test_sigkill_while_logging_and_anchoring(tmp_path: Path) -> None:
    data_dir, ack = tmp_path / "data", tmp_path / "ack"
    rng = random.Random(20261126)
    for round_ in range(ROUNDS):
        run_then_kill(
            WRITER, [str(data_dir), str(ack)], rng.uniform(0.3, 1.5), tmp_path / f"{round_}.err"
        )

    logged, anchored = _acknowledged(ack, "logged"), _acknowledged(ack, "anchored")
    assert logged > 0 and anchored > 0, "the writer never got going"
    with connect(Settings(data_dir=data_dir)) as env, DecisionLog.open(data_dir) as log:
        assert log.head().size >= logged
        for index in rng.sample(range(logged), 50):
            assert log.record(index).request_id == decision(index).request_id
        assert log.store.audit().ok
        contract = log_contract(env, log, deploy=False)
        anchorer = Anchorer(log, contract)
        anchorer.reconcile(from_block=0)  # every head on chain is a head of this log
        chain_size = int(contract.size())
        assert chain_size >= anchored
        assert bytes(contract.root()) == log.store.root(chain_size)
        for record in log.store.anchors(env.chain_id, contract.address):
            assert bytes(contract.roots(record.size)) == record.root
        assert anchorer.anchored_size == chain_size  # bookkeeping caught up with the chain
        log.append([decision(log.head().size)])
        assert anchorer.anchor() is not None  # and anchoring goes on
