"""The anchorer on two URLs of one chain: one node goes away mid-run, anchoring carries on."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from chainml.chain import Env
from chainml.chain.devnode import AnvilNode
from chainml.chain.rpc import RpcBackend
from chainml.log.anchor import Anchorer, AnchorPolicy, log_contract
from chainml.log.decision_log import DecisionLog
from tests.log.test_anchor import _compiled, decisions
from tests.proxy import SwitchableProxy


@pytest.mark.integration
def test_the_writer_carries_on_when_one_of_two_nodes_goes_away(
    anvil_env: Env, anvil_node: AnvilNode, tmp_path: Path
) -> None:
    primary, secondary = SwitchableProxy(anvil_node.port), SwitchableProxy(anvil_node.port)
    with anvil_env.snapshot(), DecisionLog.open(tmp_path / "log", durability="normal") as log:
        backend = RpcBackend(f"{primary.url},{secondary.url}", timeout=5, health_interval=0.2)
        env = Env(backend, [anvil_env._signer(None)], data_dir=anvil_env.data_dir)
        contract = log_contract(env, log)
        anchorer = Anchorer(log, contract, AnchorPolicy(every_decisions=1, retry_seconds=0.1))
        anchorer.start(poll_seconds=0.05)
        try:
            for batch in range(6):
                if batch == 3:
                    primary.down()  # mid-run: the primary's node is gone for good
                log.append(decisions(batch * 4, 4))
                deadline = time.monotonic() + 30
                while anchorer.anchored_size < (batch + 1) * 4 and time.monotonic() < deadline:
                    time.sleep(0.05)
                assert anchorer.anchored_size == (batch + 1) * 4
        finally:
            anchorer.stop()
            primary.close()
            secondary.close()
        assert anchorer.last_error is None  # the failover hid the outage from the writer
        first, second = backend.endpoints.health()
        assert first["failures"] >= 1 and second["failures"] == 0
        handle = anvil_env.at(contract.address, _compiled(anvil_env))
        on_chain = [e["size"] for e in handle.events("Anchored")]
        assert on_chain == sorted(set(on_chain)) and on_chain[-1] == 24  # never twice
