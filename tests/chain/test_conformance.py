"""The chain conformance suite: every test runs on the embedded chain and on anvil."""

from __future__ import annotations

import threading

import pytest
from eth_utils import keccak

from chainml import contracts
from chainml.chain import CompiledContract, Contract, Env
from chainml.chain.accounts import UnsignedTx
from chainml.errors import (
    ContractRevertError,
    InsufficientFundsError,
    InvalidInputError,
    NonceConflictError,
    NotFoundError,
    WrongChainIdError,
)

# Exact gas of Counter operations under Prague; both backends must report these numbers.
INCREMENT_GAS = 27_822  # warm coinbase, cold slot 1 -> 2, one LOG2
ADD_GAS = 28_027


@pytest.fixture(scope="session")
def counter_code(tmp_path_factory: pytest.TempPathFactory) -> CompiledContract:
    return contracts.load("Counter", tmp_path_factory.mktemp("vyper-cache"))


@pytest.fixture
def counter(env: Env, counter_code: CompiledContract) -> Contract:
    return env.deploy(counter_code, 1)


class TestDeployAndCall:
    def test_constructor_arguments_reach_storage(self, env: Env, counter_code: CompiledContract):
        counter = env.deploy(counter_code, 41)
        assert counter.count() == 41
        assert counter.owner() == env.sender

    def test_deployed_runtime_code_is_the_compiled_runtime(self, env: Env, counter_code):
        counter = env.deploy(counter_code, 0)
        assert env.backend.code(counter.address) == counter_code.runtime_bytecode
        assert counter.deployment is not None and counter.deployment.status

    def test_handle_on_existing_contract(self, env: Env, counter: Contract, counter_code):
        again = env.at(counter.address.lower(), counter_code)
        assert again.address == counter.address
        assert again.count() == 1

    def test_no_contract_at_address(self, env: Env, counter_code: CompiledContract):
        with pytest.raises(NotFoundError, match="no contract at"):
            env.at("0x" + "12" * 20, counter_code)

    @pytest.mark.parametrize("bad", ["0x1234", "not an address", "0x" + "zz" * 20, ""])
    def test_malformed_address(self, env: Env, counter_code: CompiledContract, bad: str):
        with pytest.raises(InvalidInputError, match="not an Ethereum address"):
            env.at(bad, counter_code)

    def test_wrong_arguments_are_caught_before_sending(self, env: Env, counter: Contract):
        before = env.block_number
        with pytest.raises(InvalidInputError, match=r"increment\(\) takes 0"):
            counter.increment(5)
        with pytest.raises(InvalidInputError, match=r"add\(uint256\)"):
            counter.add("five")
        with pytest.raises(InvalidInputError, match="no function 'decrement'"):
            counter.call("decrement")
        assert env.block_number == before


class TestTransact:
    def test_receipt_and_state(self, env: Env, counter: Contract):
        receipt = counter.increment()
        assert receipt.status
        assert receipt.gas_used == INCREMENT_GAS
        assert receipt.block_number <= env.block_number
        assert counter.count() == 2

    def test_explicit_gas_skips_estimation_and_charges_the_same(self, env, counter):
        receipt = counter.transact("add", 5, gas=200_000)
        assert receipt.gas_used == ADD_GAS
        assert counter.count() == 6

    def test_value_transfer(self, env: Env):
        to = env.accounts[1]
        before = env.balance(to)
        receipt = env.transact(to, value=12345)
        assert receipt.gas_used == 21_000
        assert env.balance(to) == before + 12345

    def test_sender_choice(self, env: Env, counter: Contract):
        receipt = counter.transact("increment", sender=env.accounts[1])
        (event,) = counter.decode_receipt(receipt, "Incremented")
        assert event["by"] == env.accounts[1]

    def test_unknown_sender(self, env: Env, counter: Contract):
        with pytest.raises(InvalidInputError, match="no signing key"):
            counter.transact("increment", sender="0x" + "34" * 20)


class TestReverts:
    def test_call_revert_carries_reason(self, env: Env, counter: Contract):
        with pytest.raises(ContractRevertError) as info:
            counter.call("add", 0)
        assert info.value.reason == "amount must be positive"

    def test_estimation_catches_revert_before_sending(self, env: Env, counter: Contract):
        before = env.backend.nonce(env.sender)
        with pytest.raises(ContractRevertError, match="amount must be positive"):
            counter.add(0)
        assert env.backend.nonce(env.sender) == before  # nothing was sent

    def test_mined_revert_carries_reason_and_hash(self, env: Env, counter: Contract):
        before = env.backend.nonce(env.sender)
        with pytest.raises(ContractRevertError) as info:
            counter.transact("add", 0, gas=100_000)
        assert info.value.reason == "amount must be positive"
        assert info.value.tx_hash is not None and info.value.tx_hash.startswith("0x")
        assert env.backend.nonce(env.sender) == before + 1  # it was mined, and failed
        assert counter.count() == 1

    def test_access_control_revert(self, env: Env, counter: Contract):
        with pytest.raises(ContractRevertError, match="only the owner may reset"):
            counter.transact("reset", sender=env.accounts[1], gas=100_000)
        counter.reset()
        assert counter.count() == 0

    def test_out_of_gas_is_a_failure_not_a_success(self, env: Env, counter: Contract):
        with pytest.raises(ContractRevertError):
            counter.transact("increment", gas=22_000)
        assert counter.count() == 1


class TestEvents:
    def test_events_filtered_by_indexed_argument(self, env: Env, counter: Contract):
        start = env.block_number
        counter.increment()
        counter.transact("increment", sender=env.accounts[1])
        counter.add(3)
        mine = counter.events("Incremented", from_block=start, by=env.sender)
        theirs = counter.events("Incremented", from_block=start, by=env.accounts[1])
        assert [e["count"] for e in mine] == [2, 6]
        assert [e["count"] for e in theirs] == [3]
        assert all(e["by"] == env.sender for e in mine)

    def test_block_range(self, env: Env, counter: Contract):
        counter.increment()
        first = env.block_number
        env.mine(1)
        counter.increment()
        assert [e["count"] for e in counter.events("Incremented", to_block=first)] == [2]
        assert [e["count"] for e in counter.events("Incremented", from_block=first + 1)] == [3]

    def test_receipt_logs_are_raw_and_decodable(self, env: Env, counter: Contract):
        receipt = counter.increment()
        (log,) = receipt.logs
        assert log.address == counter.address
        assert log.topics[0] == keccak(text="Incremented(address,uint256)")
        assert log.topics[1] == bytes(12) + bytes.fromhex(env.sender[2:])
        assert int.from_bytes(log.data, "big") == 2
        assert log.tx_hash == receipt.tx_hash

    def test_unknown_event(self, env: Env, counter: Contract):
        with pytest.raises(InvalidInputError, match="no event 'Decremented'"):
            counter.events("Decremented")


class TestBlocksAndTime:
    def test_mine_advances_the_block_number(self, env: Env):
        before = env.block_number
        env.mine(3)
        assert env.block_number == before + 3

    def test_advance_time_moves_the_next_block(self, env: Env):
        before = env.block()
        env.advance_time(3600)
        after = env.block()
        assert after.number == before.number + 1
        assert after.timestamp >= before.timestamp + 3600

    def test_block_fields(self, env: Env, counter: Contract):
        counter.increment()
        block = env.block()
        assert block.gas_used >= INCREMENT_GAS and block.gas_limit >= 30_000_000
        assert len(block.hash) == 32 and block.base_fee > 0

    def test_future_block_is_not_found(self, env: Env):
        with pytest.raises(NotFoundError):
            env.block(env.block_number + 1000)


class TestSnapshots:
    def test_anchor_reverts_state_and_blocks(self, env: Env, counter: Contract):
        block = env.block_number
        with env.snapshot():
            counter.add(10)
            env.mine(2)
            assert counter.count() == 11
        assert counter.count() == 1
        assert env.block_number == block
        counter.increment()  # nonces were forgotten and re-read: sending still works
        assert counter.count() == 2


class TestNonces:
    def test_concurrent_senders_in_one_process(self, env: Env, counter: Contract):
        errors: list[BaseException] = []

        def worker() -> None:
            try:
                for _ in range(10):
                    counter.transact("increment", gas=100_000)
            except BaseException as err:
                errors.append(err)

        threads = [threading.Thread(target=worker) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
        assert not errors
        assert counter.count() == 41


class TestRejections:
    def _raw(self, env: Env, **changes: int) -> bytes:
        signer = env._signer(None)
        max_fee, tip = env.backend.fees()
        fields = {
            "chain_id": env.chain_id,
            "nonce": env.backend.nonce(signer.address),
            "to": bytes.fromhex(env.accounts[1][2:]),
            "value": 1,
            "data": b"",
            "gas": 21_000,
            "max_fee_per_gas": max_fee,
            "max_priority_fee_per_gas": tip,
        } | changes
        return signer.sign(UnsignedTx(**fields))[0]

    def test_stale_nonce(self, env: Env):
        env.transact(env.accounts[1], value=1)
        nonce = env.backend.nonce(env.sender)
        with pytest.raises(NonceConflictError) as info:  # another transaction with that nonce
            env.backend.send_raw_transaction(self._raw(env, nonce=nonce - 1, value=2))
        assert info.value.nonce == nonce - 1 and info.value.sender == env.sender

    def test_the_same_transaction_sent_again_is_one_transaction(self, env: Env):
        """A retry after a lost answer re-sends the same bytes: same hash, executed once."""
        receiver = env.accounts[1]
        before = env.backend.balance(receiver)
        raw = self._raw(env, nonce=env.backend.nonce(env.sender), value=7)
        first = env.backend.send_raw_transaction(raw)
        assert env.backend.wait_for_receipt(first).status
        assert env.backend.send_raw_transaction(raw) == first  # mined: "nonce too low" is ok
        assert env.backend.balance(receiver) == before + 7

    def test_wrong_chain_id(self, env: Env):
        with pytest.raises(WrongChainIdError) as info:
            env.backend.send_raw_transaction(self._raw(env, chain_id=env.chain_id + 1))
        assert info.value.expected == env.chain_id

    def test_insufficient_funds(self, env: Env):
        too_much = env.balance() + 1
        with pytest.raises(InsufficientFundsError) as info:
            env.transact(env.accounts[1], value=too_much, gas=21_000)
        assert info.value.sender == env.sender
        env.transact(env.accounts[1], value=1)  # the nonce book recovered


@pytest.mark.integration
def test_same_gas_on_both_backends(
    embedded_env: Env, anvil_env: Env, counter_code: CompiledContract
) -> None:
    """The same transactions cost exactly the same gas on py-evm and on anvil."""
    used: dict[str, list[int]] = {}
    for name, chain in (("embedded", embedded_env), ("anvil", anvil_env)):
        with chain.snapshot():
            counter = chain.deploy(counter_code, 0)
            assert counter.deployment is not None
            deploy_gas = counter.deployment.gas_used
            receipts = [counter.increment(), counter.add(7), counter.increment()]
            receipts.append(chain.transact(chain.accounts[1], value=5))
            used[name] = [deploy_gas, *(r.gas_used for r in receipts)]
    assert used["embedded"] == used["anvil"]
