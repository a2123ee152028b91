"""The embedded chain's own promises: it keeps its data, recovers its journal, seals blocks."""

from __future__ import annotations

from pathlib import Path

import pytest

from chainml import contracts
from chainml.chain import CompiledContract, Env, connect, embedded
from chainml.chain.backend import CallRequest
from chainml.chain.embedded import EmbeddedBackend
from chainml.config import Settings
from chainml.errors import (
    DataDirectoryError,
    InvalidInputError,
    NotFoundError,
    WrongChainIdError,
)


@pytest.fixture(scope="module")
def counter_code(tmp_path_factory: pytest.TempPathFactory) -> CompiledContract:
    return contracts.load("Counter", tmp_path_factory.mktemp("vyper-cache"))


def open_env(data_dir: Path) -> Env:
    backend = EmbeddedBackend(data_dir)
    return Env(backend, backend.signers, data_dir=data_dir)


def test_state_and_accounts_survive_a_restart(fresh_dir: Path, counter_code) -> None:
    with open_env(fresh_dir) as env:
        accounts = env.accounts
        counter = env.deploy(counter_code, 0)
        for _ in range(5):
            counter.increment()
        address, head = counter.address, env.block_number
    with open_env(fresh_dir) as env:
        assert env.accounts == accounts  # same mnemonic, same keys
        assert env.at(address, counter_code).count() == 5
        assert env.block_number == head
        assert len(env.at(address, counter_code).events("Incremented")) == 5


def test_acknowledged_but_unsealed_transactions_are_recovered(fresh_dir: Path, counter_code):
    crashed = open_env(fresh_dir)
    counter = crashed.deploy(counter_code, 0)
    hashes = [counter.increment().tx_hash for _ in range(7)]
    # The first process never sealed its open block (as after kill -9); a second one opens
    # the same directory and must re-execute the journal. Death releases the lock: do that.
    assert crashed.backend._block is not None and crashed.backend._block.transactions
    crashed.backend._owner.close()
    with open_env(fresh_dir) as env:
        assert env.at(counter.address, counter_code).count() == 7
        receipts = [env.backend.wait_for_receipt(h) for h in hashes]
        assert all(r.status for r in receipts)
        assert [r.gas_used for r in receipts] == [27_822 + 17_100] + [27_822] * 6


def test_receipt_found_after_sealing_matches_the_first_one(fresh_dir: Path, counter_code):
    with open_env(fresh_dir) as env:
        counter = env.deploy(counter_code, 3)
        first = counter.increment()
        env.mine(1)  # seals; the in-memory receipt cache is bypassed below
        env.backend._recent.clear()
        again = env.backend.wait_for_receipt(first.tx_hash)
        assert again == first


def test_many_transactions_share_a_block_and_blocks_are_bounded(
    fresh_dir: Path, counter_code, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(embedded, "MAX_BLOCK_TRANSACTIONS", 10)
    with open_env(fresh_dir) as env:
        counter = env.deploy(counter_code, 0)
        numbers = [counter.transact("increment", gas=60_000).block_number for _ in range(35)]
        assert len(set(numbers)) < 35  # batched, not one block a transaction
        assert max(numbers.count(n) for n in set(numbers)) <= 10  # and never more than allowed
        assert len(set(numbers)) >= 4
        assert counter.count() == 35
        for number in set(numbers):
            env.backend._recent.clear()
            assert env.block(number).gas_used <= env.block(number).gas_limit


def test_reverted_away_transaction_is_not_found(fresh_dir: Path, counter_code) -> None:
    with open_env(fresh_dir) as env:
        counter = env.deploy(counter_code, 0)
        with env.snapshot():
            gone = counter.increment().tx_hash
        env.backend._recent.clear()
        with pytest.raises(NotFoundError):
            env.backend.wait_for_receipt(gone)


def test_connect_uses_the_data_dir_setting(fresh_dir: Path) -> None:
    with connect(Settings(data_dir=fresh_dir)) as env:
        assert env.backend.kind == "embedded"
        assert env.chain_id == 1337
        assert (fresh_dir / "mnemonic").stat().st_mode & 0o777 == 0o600
        assert env.balance() == 10_000 * 10**18


def test_missing_parent_directory_is_an_error_and_creates_nothing(tmp_path: Path) -> None:
    target = tmp_path / "no" / "such" / "dir"
    with pytest.raises(DataDirectoryError, match="does not exist"):
        EmbeddedBackend(target)
    assert not (tmp_path / "no").exists()


def test_a_file_where_the_directory_should_be(tmp_path: Path) -> None:
    (tmp_path / "chain").write_text("not a directory")
    with pytest.raises(DataDirectoryError, match="not a directory"):
        EmbeddedBackend(tmp_path / "chain")


def test_an_expected_chain_id_is_checked_on_the_embedded_chain_too(fresh_dir: Path) -> None:
    with pytest.raises(WrongChainIdError) as info:
        connect(Settings(data_dir=fresh_dir, chain_id=1))
    assert (info.value.expected, info.value.actual) == (1, 1337)
    with connect(Settings(data_dir=fresh_dir, chain_id=1337)) as env:
        assert env.chain_id == 1337


# -- a failed journal write, reads that must not write -----------------------------------------


@pytest.mark.parametrize("first_in_block", [True, False], ids=["first", "later"])
def test_a_transaction_whose_journal_write_fails_leaves_no_trace(
    fresh_dir: Path, monkeypatch: pytest.MonkeyPatch, first_in_block: bool
) -> None:
    with open_env(fresh_dir) as env:
        env.transact(env.accounts[1], value=1)
        if first_in_block:
            env.mine(1)  # the failing transaction would open a new block
        backend = env.backend
        assert isinstance(backend, EmbeddedBackend)
        nonce, before = backend.nonce(env.sender), env.balance(env.accounts[1])

        def disk_full(*args: object, **kwargs: object) -> None:
            raise DataDirectoryError(str(fresh_dir), "chain.sqlite is full")

        monkeypatch.setattr(backend._kv, "journal_append", disk_full)
        with pytest.raises(DataDirectoryError, match="full"):
            env.transact(env.accounts[1], value=100, gas=21_000)
        # reported as failed, so not executed either: same nonce, same balance
        assert backend.nonce(env.sender) == nonce
        assert env.balance(env.accounts[1]) == before
        monkeypatch.undo()
        assert env.transact(env.accounts[1], value=7, gas=21_000).status
        head = env.block().number
    with open_env(fresh_dir) as env:
        assert env.balance(env.accounts[1]) == before + 7
        assert env.block_number == head


def test_reads_never_write_and_a_crash_after_a_read_keeps_the_block(
    fresh_dir: Path, counter_code: CompiledContract, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = open_env(fresh_dir)
    backend = env.backend
    assert isinstance(backend, EmbeddedBackend)
    counter = env.deploy(counter_code, 0)
    receipt = counter.increment()

    def no_writes(*args: object, **kwargs: object) -> None:
        raise AssertionError("a read wrote to the chain database")

    monkeypatch.setattr(backend._kv, "commit", no_writes)
    monkeypatch.setattr(backend._kv, "journal_append", no_writes)
    monkeypatch.setattr(embedded, "MAX_BLOCK_AGE", 0.0)  # every open block is stale at once
    block = env.block()  # a sealed view of the open block: sealed in memory only
    assert block.number == receipt.block_number
    assert [e["count"] for e in counter.events("Incremented")] == [1]
    backend._recent.clear()
    assert backend.wait_for_receipt(receipt.tx_hash) == receipt
    assert counter.count() == 1 and env.balance() < 10_000 * 10**18
    assert backend.fees()[0] > 0 and backend.nonce(env.sender) == 2
    assert backend.estimate_gas(CallRequest(env.sender, env.accounts[1], b"", 1)) >= 21_000
    assert backend._kv.journal(), "the journal still holds the block sealed only in memory"
    monkeypatch.undo()

    # kill -9 now: the block exists only in memory; the journal rebuilds it, hash for hash
    backend._owner.close()  # type: ignore[union-attr]
    with open_env(fresh_dir) as again:
        assert again.block(block.number).hash == block.hash
        assert again.backend.wait_for_receipt(receipt.tx_hash).status
        assert again.at(counter.address, counter_code).count() == 1


def test_the_next_write_commits_what_a_read_sealed(fresh_dir: Path) -> None:
    with open_env(fresh_dir) as env:
        backend = env.backend
        assert isinstance(backend, EmbeddedBackend)
        first = env.transact(env.accounts[1], value=1)
        assert env.block().number == first.block_number  # sealed in memory
        second = env.transact(env.accounts[1], value=2)  # commits that block first
        assert second.block_number == first.block_number + 1
        assert backend._kv.journal() == [backend._block.transactions[0].encode()]  # type: ignore[union-attr]


def test_wait_for_receipt_refuses_a_negative_timeout(fresh_dir: Path) -> None:
    with open_env(fresh_dir) as env, pytest.raises(InvalidInputError, match="timeout"):
        env.backend.wait_for_receipt(b"\x01" * 32, timeout=-1)


def test_snapshot_reverts_and_the_old_anchor_name_warns(fresh_dir: Path, counter_code) -> None:
    with open_env(fresh_dir) as env:
        counter = env.deploy(counter_code, 0)
        with env.snapshot():
            counter.increment()
            assert counter.count() == 1
        assert counter.count() == 0
        with pytest.warns(DeprecationWarning, match=r"Env\.snapshot"), env.anchor():
            counter.increment()
        assert counter.count() == 0
