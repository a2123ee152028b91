"""Finality of anchors: confirmations before a head is recorded, reorgs noticed and survived."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import cast

import pytest

from chainml.chain import Contract, Env
from chainml.chain.rpc import RpcBackend
from chainml.log.anchor import Anchorer, AnchorPolicy, log_contract
from chainml.log.decision_log import DecisionLog
from chainml.log.finality import DEFAULT_CONFIRMATIONS, FinalAnchorLostError, confirmations_for
from tests.log.test_anchor import decisions


@pytest.fixture
def log(tmp_path: Path) -> Iterator[DecisionLog]:
    with DecisionLog.open(tmp_path / "log", durability="normal") as opened:
        yield opened


@pytest.fixture
def anvil(anvil_env: Env) -> Iterator[Env]:
    """The session's anvil, put back as it was after the test."""
    with anvil_env.snapshot():
        yield anvil_env


def rpc(env: Env) -> RpcBackend:
    backend = env.backend
    assert isinstance(backend, RpcBackend)
    return backend


def reorg_to(env: Env, snapshot: object, then_mine: int) -> None:
    """Another fork wins: the chain goes back to ``snapshot`` and grows by empty blocks."""
    assert rpc(env).request("evm_revert", [snapshot]) is True
    rpc(env).request("anvil_mine", [hex(then_mine)])


def anchored_event(contract: Contract, size: int) -> dict[str, object]:
    (event,) = contract.events("Anchored", size=size)
    return event


# -- how many confirmations ----------------------------------------------------------------


def test_confirmations_default_to_zero_on_development_chains_only(
    embedded_env: Env, anvil_env: Env
) -> None:
    assert confirmations_for(embedded_env, None) == 0
    assert confirmations_for(anvil_env, None) == 0  # chain id 31337
    mainnet = cast(Env, SimpleNamespace(chain_id=1, backend=SimpleNamespace(kind="rpc")))
    assert confirmations_for(mainnet, None) == DEFAULT_CONFIRMATIONS == 12
    assert confirmations_for(mainnet, 0) == 0 and confirmations_for(anvil_env, 5) == 5


def test_development_chains_record_at_once(env: Env, log: DecisionLog) -> None:
    anchorer = Anchorer(log, log_contract(env, log))
    assert anchorer.confirmations == 0
    log.append(decisions(0, 5))
    record = anchorer.anchor()
    assert record is not None and anchorer.pending is None
    assert log.store.latest_anchor() == record  # final without waiting, as before


# -- confirmations -------------------------------------------------------------------------


@pytest.mark.integration
def test_an_anchor_is_final_only_after_its_confirmations(anvil: Env, log: DecisionLog) -> None:
    contract = log_contract(anvil, log)
    anchorer = Anchorer(log, contract, AnchorPolicy(every_decisions=1), confirmations=3)
    log.append(decisions(0, 7))
    record = anchorer.anchor()
    assert record is not None and int(contract.size()) == 7  # on chain at once
    assert log.store.latest_anchor() is None and anchorer.anchored_size == 0  # not final
    pending = anchorer.pending
    assert pending is not None and pending.size == 7 and anchorer.covered_size == 7
    assert not anchorer.due()  # the pending head covers the log: not sent twice
    assert anchorer.anchor() is None and len(contract.events("Anchored")) == 1
    for depth in (1, 2):
        anvil.mine(1)
        assert anchorer.settle() == [] and anchorer.depth(pending) == depth
        assert log.store.latest_anchor() is None
    anvil.mine(1)
    (final,) = anchorer.settle()
    assert anchorer.pending is None and log.store.latest_anchor() == final
    assert (final.size, final.root, final.tx_hash) == (7, log.head().root, record.tx_hash)
    assert final.block_number == record.block_number


@pytest.mark.integration
def test_a_pending_anchor_survives_a_crash(anvil: Env, log: DecisionLog) -> None:
    contract = log_contract(anvil, log)
    log.append(decisions(0, 4))
    sent = Anchorer(log, contract, confirmations=2).anchor()
    assert sent is not None  # and the anchorer is gone before any bookkeeping
    restarted = Anchorer(log, contract, confirmations=2)
    restarted.settle()
    pending = restarted.pending
    assert pending is not None and pending.record.tx_hash == sent.tx_hash  # found on chain
    assert restarted.anchor() is None  # not anchored twice
    anvil.mine(2)
    (final,) = restarted.settle()
    assert final.tx_hash == sent.tx_hash and log.store.latest_anchor() == final


@pytest.mark.integration
def test_wait_final_returns_once_the_blocks_are_there(anvil: Env, log: DecisionLog) -> None:
    anchorer = Anchorer(log, log_contract(anvil, log), confirmations=2)
    log.append(decisions(0, 3))
    stop = threading.Event()

    def miner() -> None:
        while not stop.wait(0.05):
            rpc(anvil).request("evm_mine", [])

    thread = threading.Thread(target=miner, daemon=True)
    thread.start()
    try:
        final = anchorer.wait_final(timeout=20, poll_seconds=0.05)
    finally:
        stop.set()
        thread.join()
    assert final is not None and final.size == 3 and anchorer.pending is None


# -- reorgs --------------------------------------------------------------------------------


@pytest.mark.integration
def test_a_reorg_that_drops_the_anchor_is_noticed_and_anchored_again(
    anvil: Env, log: DecisionLog
) -> None:
    contract = log_contract(anvil, log)
    anchorer = Anchorer(log, contract, confirmations=3)
    log.append(decisions(0, 6))
    before = rpc(anvil).request("evm_snapshot", [])
    dropped = anchorer.anchor()
    assert dropped is not None
    reorg_to(anvil, before, then_mine=2)  # the anchor transaction is in no block any more
    assert rpc(anvil).request("eth_getTransactionReceipt", ["0x" + dropped.tx_hash.hex()]) is None
    log.append(decisions(6, 3))  # the log keeps accepting decisions meanwhile

    again = anchorer.anchor()  # notices the reorg, and anchors the current head
    assert anchorer.reorgs == 1
    assert again is not None and again.size == 9 and again.tx_hash != dropped.tx_hash
    assert log.store.latest_anchor() is None  # nothing was recorded as final on the way
    anvil.mine(3)
    (final,) = anchorer.settle()
    # the final record is what the chain holds
    assert bytes(contract.roots(9)) == final.root == log.head().root
    assert int(contract.roots(6).hex(), 16) == 0  # the dropped head is not anchored
    event = anchored_event(contract, 9)
    assert (final.tx_hash, final.block_number) == (event["_tx"], event["_block"])
    assert [a.size for a in log.store.anchors()] == [9]


@pytest.mark.integration
def test_an_anchor_moved_to_another_block_is_followed(anvil: Env, log: DecisionLog) -> None:
    contract = log_contract(anvil, log)
    anchorer = Anchorer(log, contract, confirmations=2)
    log.append(decisions(0, 5))
    before = rpc(anvil).request("evm_snapshot", [])
    first = anchorer.anchor()
    assert first is not None
    reorg_to(anvil, before, then_mine=1)  # another block at that height ...
    anvil.forget_nonces()
    other = Anchorer(log, contract, confirmations=2).anchor()  # ... and the head one later
    assert other is not None and other.block_number == first.block_number + 1
    anchorer.settle()
    pending = anchorer.pending
    assert anchorer.reorgs == 0  # the head is still held: nothing to send again
    assert pending is not None and pending.record.tx_hash == other.tx_hash
    assert pending.record.block_number == other.block_number
    anvil.mine(2)
    (final,) = anchorer.settle()
    assert (final.tx_hash, final.block_number) == (other.tx_hash, other.block_number)


@pytest.mark.integration
def test_a_lost_final_anchor_is_reported_not_recorded_again(anvil: Env, log: DecisionLog) -> None:
    contract = log_contract(anvil, log)
    anchorer = Anchorer(log, contract, confirmations=1)
    log.append(decisions(0, 4))
    before = rpc(anvil).request("evm_snapshot", [])
    anchorer.anchor()
    anvil.mine(1)
    (final,) = anchorer.settle()
    reorg_to(anvil, before, then_mine=3)  # deeper than the one confirmation waited for
    anvil.forget_nonces()
    with pytest.raises(FinalAnchorLostError, match="reorg deeper than the 1 confirmations") as err:
        anchorer.settle()
    assert err.value.anchor == final and not err.value.contract_gone
    with pytest.raises(FinalAnchorLostError):
        anchorer.anchor()  # no silent re-anchoring over a broken promise
    assert int(contract.size()) == 0 and log.store.anchors() == [final]
