"""Anchoring the log: growth, idempotence, divergence, policy, and a node that goes away."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from chainml.chain import Env
from chainml.chain.rpc import RpcBackend
from chainml.errors import ChainUnavailableError, VerificationError
from chainml.log.anchor import Anchorer, AnchorPolicy, log_contract
from chainml.log.decision_log import Decision, DecisionLog
from tests.proxy import SwitchableProxy


def decisions(start: int, count: int, tag: str = "") -> list[Decision]:
    return [
        Decision(
            model_id=b"\x11" * 32,
            score=i * 1000 - 7,
            label=i % 2,
            request_id=f"{tag}req-{i}".encode().ljust(32, b"\0"),
            features=(i, -i, 42),
        )
        for i in range(start, start + count)
    ]


@pytest.fixture
def log(tmp_path: Path):
    with DecisionLog.open(tmp_path / "log", durability="normal") as opened:
        yield opened


def test_heads_grow_with_consistency_proofs(env: Env, log: DecisionLog) -> None:
    contract = log_contract(env, log)
    anchorer = Anchorer(log, contract)
    for count in (1, 9, 6, 16, 1):
        log.append(decisions(log.head().size, count))
        record = anchorer.anchor()
        assert record is not None and record.size == log.head().size
        assert bytes(contract.root()) == log.head().root
        assert contract.size() == record.size
    sizes = [event["size"] for event in contract.events("Anchored")]
    assert sizes == [1, 10, 16, 32, 33]
    assert [a.size for a in log.store.anchors()] == sizes


def test_anchoring_twice_is_a_no_op(env: Env, log: DecisionLog) -> None:
    contract = log_contract(env, log)
    anchorer = Anchorer(log, contract)
    log.append(decisions(0, 5))
    assert anchorer.anchor() is not None
    block = env.block_number
    assert anchorer.anchor() is None
    assert len(contract.events("Anchored")) == 1 and env.block_number == block
    assert log_contract(env, log).address == contract.address  # remembered, not redeployed


def test_a_diverged_log_is_refused(env: Env, tmp_path: Path, log: DecisionLog) -> None:
    contract = log_contract(env, log)
    log.append(decisions(0, 8))
    Anchorer(log, contract).anchor()
    with DecisionLog.open(tmp_path / "forked", durability="normal") as forked:
        forked.append(decisions(0, 7) + decisions(7, 3, tag="evil-"))  # differs at index 7
        with pytest.raises(VerificationError, match="changed after anchoring"):
            Anchorer(forked, contract).anchor()
        with DecisionLog.open(tmp_path / "short", durability="normal") as short:
            short.append(decisions(0, 4))
            with pytest.raises(VerificationError, match="head of size 8, beyond"):
                Anchorer(short, contract).anchor()
    assert contract.size() == 8


def test_policy(env: Env, log: DecisionLog) -> None:
    now = [0.0]
    anchorer = Anchorer(
        log,
        log_contract(env, log),
        AnchorPolicy(every_decisions=5, every_seconds=30),
        lambda: now[0],
    )
    assert not anchorer.due()  # nothing waits
    log.append(decisions(0, 3))
    assert not anchorer.due()
    now[0] = 31.0
    assert anchorer.due()  # waited long enough
    anchorer.anchor()
    assert not anchorer.due()
    log.append(decisions(3, 5))
    assert anchorer.due()  # enough decisions


@pytest.mark.integration
def test_node_down_decisions_continue_and_anchoring_catches_up(
    anvil_env: Env, anvil_node, tmp_path: Path
) -> None:
    with anvil_env.snapshot():
        proxy = SwitchableProxy(anvil_node.port)
        env = Env(RpcBackend(proxy.url, timeout=2), [anvil_env._signer(None)])
        with DecisionLog.open(tmp_path / "log", durability="normal") as log:
            contract = log_contract(env, log)
            anchorer = Anchorer(log, contract, AnchorPolicy(every_decisions=1, retry_seconds=0.1))
            anchorer.start(poll_seconds=0.05)
            try:
                proxy.down()
                for batch in range(5):
                    log.append(decisions(batch * 4, 4))  # the log keeps accepting
                    time.sleep(0.1)
                assert isinstance(anchorer.last_error, ChainUnavailableError)
                proxy.up()
                deadline = time.monotonic() + 30
                while anchorer.anchored_size < 20 and time.monotonic() < deadline:
                    time.sleep(0.05)
            finally:
                anchorer.stop()
                proxy.close()
            assert anchorer.anchored_size == 20
            handle = anvil_env.at(contract.address, _compiled(anvil_env))
            on_chain = [e["size"] for e in handle.events("Anchored")]
            assert on_chain == sorted(set(on_chain)) and on_chain[-1] == 20  # never twice
            assert bytes(handle.roots(20)) == log.head().root


def _compiled(env: Env):
    from chainml import contracts

    return env.compile(contracts.source_path("DecisionLog"))
