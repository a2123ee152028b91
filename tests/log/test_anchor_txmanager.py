"""Anchoring through the transaction manager on anvil driven into the hard cases.

Automining off, base fees set by hand, transactions dropped from the pool, a restart with a
transaction pending, a rolled-back block: each test checks that every head is anchored once
(one ``Anchored`` event per size), with no nonce gap, and what the manager reports.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from chainml.chain import Contract, Env
from chainml.chain.accounts import Signer
from chainml.chain.devnode import ANVIL_DEV_KEY, AnvilNode
from chainml.chain.fees import GWEI, FeePolicy
from chainml.chain.rpc import RpcBackend
from chainml.chain.txmanager import statuses_in
from chainml.errors import ChainUnavailableError, FeeCapExceededError
from chainml.log.anchor import Anchorer, log_contract
from chainml.log.decision_log import DecisionLog
from tests.log.test_anchor import decisions

pytestmark = pytest.mark.integration
POLICY = FeePolicy(max_fee_cap=100 * GWEI, bump_after_seconds=30.0, wait_seconds=0.0)


class Clock:
    """The transaction manager's clock, moved by the test."""

    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def node() -> Iterator[AnvilNode]:
    """An anvil of this module's own: its tests switch automining off and set base fees."""
    with AnvilNode() as started:
        yield started


@pytest.fixture
def chain(node: AnvilNode) -> Iterator[RpcBackend]:
    backend = RpcBackend(node.url)
    taken = backend.snapshot()
    try:
        yield backend
    finally:
        backend.request("evm_setAutomine", [True])
        backend.revert(taken)
        backend.close()


@pytest.fixture
def clock() -> Clock:
    return Clock()


def open_env(chain: RpcBackend, data_dir: Path, clock: Clock, policy: FeePolicy = POLICY) -> Env:
    signer = Signer(bytes.fromhex(ANVIL_DEV_KEY[2:]))
    return Env(chain, [signer], data_dir=data_dir, fee_policy=policy, clock=clock)


@pytest.fixture
def log(tmp_path: Path) -> Iterator[DecisionLog]:
    with DecisionLog.open(tmp_path / "log", durability="normal") as opened:
        yield opened


def set_base_fee(chain: RpcBackend, wei: int) -> None:
    """The next block's base fee is ``wei``."""
    chain.request("anvil_setNextBlockBaseFeePerGas", [hex(wei)])


def automine(chain: RpcBackend, on: bool) -> None:
    chain.request("evm_setAutomine", [on])


def anchored_sizes(contract: Contract) -> list[int]:
    return [int(event["size"]) for event in contract.events("Anchored")]


def nonce_of(chain: RpcBackend, tx_hash: bytes) -> int:
    return int(chain.request("eth_getTransactionByHash", ["0x" + tx_hash.hex()])["nonce"], 16)


def test_over_the_cap_nothing_is_sent_until_fees_fall(
    chain: RpcBackend, tmp_path: Path, clock: Clock, log: DecisionLog
) -> None:
    env = open_env(chain, tmp_path / "data", clock, replace(POLICY, max_fee_cap=5 * GWEI))
    contract = log_contract(env, log)
    anchorer = Anchorer(log, contract)
    log.append(decisions(0, 5))
    set_base_fee(chain, 50 * GWEI)  # a spike: 10x the cap
    chain.mine()
    nonce = chain.nonce(env.sender)
    with pytest.raises(FeeCapExceededError) as refused:
        anchorer.anchor()
    assert refused.value.needed > 5 * GWEI == refused.value.cap
    assert chain.nonce(env.sender) == nonce and anchorer.in_flight() == []  # nothing sent
    clock.now += 600
    status = env.tx_manager().status()
    assert status.blocked is not None and status.blocked.reason == "fee_cap"
    assert status.stuck_for_seconds == 600  # what /readyz compares with its threshold
    ((_, seen),) = statuses_in(tmp_path / "data", POLICY)  # what `log head` shows
    assert seen.blocked == status.blocked
    log.append(decisions(5, 3))  # the log keeps accepting decisions meanwhile
    set_base_fee(chain, GWEI)  # the spike is over
    chain.mine()
    record = anchorer.anchor()
    assert record is not None and record.size == 8
    assert anchored_sizes(contract) == [8]
    after = env.tx_manager().status()
    assert after.blocked is None and after.stuck_for_seconds == 0 and after.fees_paid_wei > 0


def test_a_stuck_anchor_is_replaced_and_mined_once(
    chain: RpcBackend, tmp_path: Path, clock: Clock, log: DecisionLog
) -> None:
    env = open_env(chain, tmp_path / "data", clock)
    contract = log_contract(env, log)
    anchorer = Anchorer(log, contract)
    log.append(decisions(0, 5))
    automine(chain, False)
    assert anchorer.anchor() is None  # sent, not mined
    (flight,) = anchorer.in_flight()
    log.append(decisions(5, 3))
    anchorer.step()  # not due for a replacement yet
    assert len(anchorer.in_flight()[0].hashes) == 1
    clock.now += 31  # past bump_after_seconds, nothing mined
    assert anchorer.step() is None  # replaced: same call, same nonce, higher fees
    (bumped,) = anchorer.in_flight()
    assert bumped.nonce == flight.nonce and bumped.data == flight.data and len(bumped.hashes) == 2
    assert bumped.max_fee >= flight.max_fee * 110 // 100 and bumped.tip >= flight.tip * 110 // 100
    set_base_fee(chain, flight.max_fee + 1)  # only the replacement can pay for this block
    chain.mine()
    anchorer.step()  # follows the mined replacement
    assert anchored_sizes(contract) == [5]
    final = log.store.latest_anchor()
    assert final is not None and final.size == 5 and final.tx_hash == bumped.tx_hashes[0]
    assert env.tx_manager().status().replacements == 1
    assert anchorer.anchor() is None  # the next head goes out ...
    chain.mine()
    anchorer.step()  # ... and is followed until mined
    assert anchored_sizes(contract) == [5, 8]  # each head once, in order
    (latest,) = [a for a in log.store.anchors() if a.size == 8]
    assert nonce_of(chain, latest.tx_hash) == flight.nonce + 1  # no gap


def test_a_dropped_anchor_is_sent_again(
    chain: RpcBackend, tmp_path: Path, clock: Clock, log: DecisionLog
) -> None:
    env = open_env(chain, tmp_path / "data", clock)
    contract = log_contract(env, log)
    anchorer = Anchorer(log, contract)
    log.append(decisions(0, 4))
    automine(chain, False)
    anchorer.anchor()
    (flight,) = anchorer.in_flight()
    chain.request("anvil_dropTransaction", ["0x" + flight.hashes[0]])
    assert not chain.has_transaction(flight.tx_hashes[0])
    anchorer.step()  # the manager notices and sends the same bytes again
    assert chain.has_transaction(flight.tx_hashes[0])
    chain.mine()
    anchorer.step()
    assert anchored_sizes(contract) == [4]
    assert env.tx_manager().status().resubmissions == 1
    assert anchorer.in_flight() == []


def test_a_restart_with_an_anchor_pending_sends_no_second_one(
    chain: RpcBackend, tmp_path: Path, clock: Clock, log: DecisionLog
) -> None:
    first = open_env(chain, tmp_path / "data", clock)
    contract = log_contract(first, log)
    log.append(decisions(0, 5))
    automine(chain, False)
    Anchorer(log, contract).anchor()
    (flight,) = Anchorer(log, contract).in_flight()
    pending_nonce = chain.nonce(first.sender)
    # a new process on the same data directory: the journal is all it shares with the first
    second = open_env(chain, tmp_path / "data", clock)
    anchorer = Anchorer(log, log_contract(second, log, deploy=False))
    log.append(decisions(5, 2))
    assert anchorer.anchor() is None  # follows the pending anchor, sends nothing new
    assert chain.nonce(second.sender) == pending_nonce
    chain.mine()
    anchorer.anchor()  # the pending one is mined and recorded
    assert anchored_sizes(contract) == [5] and anchorer.anchored_size == 5
    anchorer.anchor()  # the head of 7 goes out
    chain.mine()
    anchorer.anchor()
    assert anchored_sizes(contract) == [5, 7]
    nonces = [nonce_of(chain, a.tx_hash) for a in log.store.anchors()]
    assert nonces == [flight.nonce, flight.nonce + 1]  # no gap, no reuse


def test_a_rolled_back_anchor_is_anchored_again(
    chain: RpcBackend, tmp_path: Path, clock: Clock, log: DecisionLog
) -> None:
    env = open_env(chain, tmp_path / "data", clock)
    contract = log_contract(env, log)
    anchorer = Anchorer(log, contract, confirmations=2)
    log.append(decisions(0, 6))
    dropped = anchorer.anchor()
    assert dropped is not None and anchorer.pending is not None
    chain.request("anvil_rollback", [1])  # the block that held it is gone
    chain.request("evm_setAutomine", [True])
    again = anchorer.anchor()
    assert anchorer.reorgs == 1
    chain.mine(2)
    anchorer.settle()
    final = log.store.latest_anchor()
    assert final is not None and final.size == 6
    assert anchored_sizes(contract) == [6]  # once on the chain that counts
    if again is not None:  # anvil may have put the rolled-back one back in its pool
        assert again.tx_hash == final.tx_hash


def test_a_transaction_journaled_but_never_delivered_is_sent_after_a_restart(
    chain: RpcBackend, tmp_path: Path, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "data").mkdir()
    crashed = open_env(chain, tmp_path / "data", clock)
    other = "0x" + "22" * 20
    nonce = chain.nonce(crashed.sender)

    def lost(raw: bytes) -> bytes:  # the process died as it sent: the node never got it
        raise ChainUnavailableError(chain.location, "connection reset")

    monkeypatch.setattr(chain, "send_raw_transaction", lost)
    with pytest.raises(ChainUnavailableError):
        crashed.transact(other, value=1, gas=21_000)
    monkeypatch.undo()
    (journaled,) = crashed.tx_manager().in_flight()
    assert journaled.nonce == nonce and chain.nonce(crashed.sender) == nonce
    restarted = open_env(chain, tmp_path / "data", clock)
    receipt = restarted.transact(other, value=2, gas=21_000)  # the journaled one goes first
    assert nonce_of(chain, receipt.tx_hash) == nonce + 1
    assert chain.receipt(journaled.tx_hashes[0]) is not None  # the same bytes, mined once
    assert chain.nonce(restarted.sender) == nonce + 2
    restarted.tx_manager().tend()  # its receipt is found and counted
    assert restarted.tx_manager().in_flight() == []
    assert restarted.tx_manager().status().resubmissions == 1
