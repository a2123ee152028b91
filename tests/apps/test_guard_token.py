"""GuardedToken.vy on both backends: ERC-20 behaviour, holds, settlement, failing models, roles."""

from __future__ import annotations

import functools
from collections.abc import Callable

import pytest

from chainml.apps.guard import HoldReason, HoldStatus
from chainml.errors import ContractRevertError, NotFoundError

from .conftest import TIMEOUT, USE, Guard

ZERO = "0x" + "00" * 20


def reason(action: Callable[[], object]) -> str | None:
    with pytest.raises(ContractRevertError) as info:
        action()
    return info.value.reason


def conserved(guard: Guard, accounts: list[str]) -> None:
    """Balances plus escrow make the supply; escrow is the sum of the pending holds."""
    token = guard.token
    pending = sum(h.amount for h in token.held(pending_only=True))
    assert token.escrowed == pending == token.balance_of(token.address)
    assert sum(token.balance_of(a) for a in accounts) + token.escrowed == token.total_supply


def test_erc20_basics_and_supply_roles(guard: Guard) -> None:
    token, (a, b) = guard.token, guard.env.accounts[:2]
    c = token.contract
    assert (c.call("name"), c.symbol(), c.decimals()) == ("Guarded Dollar", "gUSD", 2)
    assert token.model() == (None, None, 0)
    token.mint({a: 10_000})
    assert reason(lambda: c.transact("mint", b, 1, sender=b)) == "only the owner"
    result = token.transfer(b, 2_500)  # no model yet: passes unscreened
    assert not result.held and token.balance_of(b) == 2_500
    (event,) = c.decode_receipt(result.receipt, "Transfer")
    assert (event["sender"], event["receiver"], event["value"]) == (a, b, 2_500)
    assert reason(lambda: token.transfer(b, 10**9)) == "insufficient balance"
    assert reason(lambda: token.transfer(ZERO, 1)) == "transfer to the zero address"
    assert reason(lambda: token.transfer(token.address, 1)) == "transfer to the token contract"
    token.seal_supply()
    assert reason(lambda: c.transact("mint", a, 1)) == "supply is sealed"
    assert token.total_supply == 10_000


def test_transfer_from_spends_the_allowance(guard: Guard) -> None:
    token, (a, b) = guard.token, guard.env.accounts[:2]
    token.mint({a: 1_000})
    token.approve(b, 300)
    assert reason(lambda: token.transfer_from(a, b, 301, sender=b)) == "insufficient allowance"
    token.transfer_from(a, b, 200, sender=b)
    assert token.contract.allowance(a, b) == 100
    assert (token.balance_of(a), token.balance_of(b)) == (800, 200)
    # the owner, not the spender, is the sender whose history the features describe
    assert token.statistics(a)["sent_count"] == 1 and token.statistics(b)["sent_count"] == 0
    token.approve(b, 2**256 - 1)
    token.transfer_from(a, b, 100, sender=b)
    assert token.contract.allowance(a, b) == 2**256 - 1


def test_a_zero_transfer_writes_no_history(guard: Guard) -> None:
    token, (a, b) = guard.token, guard.env.accounts[:2]
    token.transfer_from(a, b, 0, sender=b)  # no allowance needed for zero
    assert token.statistics(a) == token.statistics(b) == dict.fromkeys(token.statistics(a), 0)


def test_holds_follow_the_threshold(guard: Guard) -> None:
    token, (a, b) = guard.token, guard.env.accounts[:2]
    model_id = guard.install(guard.model("SelectModel", 0), threshold=1_000)  # score = amount
    token.mint({a: 10_000})
    passed = token.transfer(b, 999)
    assert not passed.held and token.balance_of(b) == 999
    expected = token.features(a, b, 1_000)
    held = token.transfer(b, 1_000)
    assert held.held and held.reason is HoldReason.SCORE and held.score == 1_000
    assert held.features == expected
    assert (token.balance_of(a), token.balance_of(b), token.escrowed) == (8_001, 999, 1_000)
    hold = token.held_transfer(held.held_id or 0)
    assert (hold.sender, hold.recipient, hold.amount, hold.status) == (a, b, 1_000, HoldStatus.HELD)
    assert hold.model_id == "0x" + model_id.hex() and hold.reason is HoldReason.SCORE
    block = guard.env.block(held.receipt.block_number)
    assert hold.deadline == block.timestamp + TIMEOUT
    # a hold updates the statistics as a passed transfer would
    assert token.statistics(a)["sent_count"] == 2 and token.statistics(b)["received_count"] == 2
    conserved(guard, [a, b])


def test_release_refund_and_expiry(guard: Guard) -> None:
    env, token, (a, b) = guard.env, guard.token, guard.env.accounts[:2]
    guard.install(guard.model("SelectModel", 0), threshold=100)
    token.mint({a: 10_000})
    ids = [token.transfer(b, 1_000 + i).held_id or 0 for i in range(4)]
    assert reason(lambda: token.release(ids[0], sender=a)) == "only the reviewer"
    assert reason(lambda: token.refund(ids[0], sender=a)) == "only the reviewer"
    token.release(ids[0], sender=b)
    assert token.balance_of(b) == 1_000
    token.refund(ids[1], sender=b)
    assert token.balance_of(a) == 10_000 - 1_000 - 1_002 - 1_003
    for settled in ids[:2]:
        for action in (token.release, token.refund):
            again = functools.partial(action, settled, sender=b)
            assert reason(again) == "held transfer already settled"
    assert reason(lambda: token.release_expired(ids[2])) == "the hold has not expired yet"
    assert reason(lambda: token.release(99, sender=b)) == "unknown held transfer"
    assert reason(lambda: token.release_expired(99)) == "unknown held transfer"
    with pytest.raises(NotFoundError):
        token.held_transfer(99)
    env.advance_time(TIMEOUT + 1)
    receipt = token.release_expired(ids[2], sender=a)  # anyone, after the deadline
    (event,) = token.contract.decode_receipt(receipt, "Released")
    assert event["expired"] and event["by"] == a
    assert reason(lambda: token.release_expired(ids[2])) == "held transfer already settled"
    token.refund(ids[3], sender=b)  # the reviewer may still act after the deadline
    statuses = [h.status for h in token.held()]
    assert statuses == [HoldStatus.RELEASED, HoldStatus.REFUNDED] * 2
    assert token.held(pending_only=True) == [] and token.escrowed == 0
    conserved(guard, [a, b])


@pytest.mark.parametrize(
    "name", ["RevertingModel", "GasHogModel", "SilentModel", "LongReturnModel"]
)
def test_a_failing_model_holds_the_transfer(guard: Guard, name: str) -> None:
    token, (a, b) = guard.token, guard.env.accounts[:2]
    guard.install(guard.model(name), threshold=10**30)
    token.mint({a: 5_000})
    result = token.transfer(b, 100)
    assert result.held and result.reason is HoldReason.MODEL_FAILED and result.score == 0
    assert token.balance_of(b) == 0 and token.escrowed == 100
    assert result.receipt.gas_used < 300_000 + 300_000  # the model's gas is capped
    conserved(guard, [a, b])


def test_a_transaction_starving_the_model_reverts(guard: Guard) -> None:
    token, (a, b) = guard.token, guard.env.accounts[:2]
    guard.install(guard.model("GasHogModel"), threshold=10**30)
    token.mint({a: 5_000})
    # too little gas for the model's full cap: no hold may depend on the sender's gas limit
    with pytest.raises(ContractRevertError):
        token.transfer(b, 100, gas=200_000)
    assert token.escrowed == 0 and token.statistics(a)["sent_count"] == 0


def test_a_model_cannot_reenter_the_token(guard: Guard) -> None:
    token, (a, b) = guard.token, guard.env.accounts[:2]
    model = guard.model("ReentrantModel", token.address)
    guard.install(model, threshold=10**30)
    token.mint({a: 5_000, model.address: 50})
    result = token.transfer(b, 700)
    # the STATICCALL made the model's transfer fail: held, nothing else moved
    assert result.held and result.reason is HoldReason.MODEL_FAILED
    assert token.balance_of(model.address) == 50 and token.balance_of(b) == 0
    assert token.balance_of(a) == 4_300 and token.escrowed == 700
    assert token.statistics(model.address)["sent_count"] == 0
    conserved(guard, [a, b, model.address])


def test_a_model_swap_mid_stream(guard: Guard) -> None:
    token, (a, b) = guard.token, guard.env.accounts[:2]
    first = guard.install(guard.model("SelectModel", 0), threshold=1_000)  # by amount
    token.mint({a: 100_000})
    early = token.transfer(b, 5_000)
    assert early.held
    second = guard.install(guard.model("SelectModel", 6), threshold=3)  # by sender_tx_count
    receipt_events = token.contract.events("ModelChanged")
    assert [bytes(e["model_id"]) for e in receipt_events] == [first, second]
    assert bytes(receipt_events[1]["previous_model_id"]) == first
    later = [token.transfer(b, 5_000) for _ in range(3)]  # sender_tx_count 1, 2, 3
    assert [r.held for r in later] == [False, False, True]
    holds = token.held()
    assert [h.model_id for h in holds] == ["0x" + first.hex(), "0x" + second.hex()]
    token.release(holds[0].id, sender=b)  # the old model's hold settles as before
    assert token.balance_of(b) == 3 * 5_000 - 5_000 + 5_000


def test_set_model_refusals(guard: Guard) -> None:
    env, token, registry = guard.env, guard.token, guard.registry
    c, (governor, other) = token.contract, env.accounts[:2]
    model = guard.model("SelectModel", 0)

    def set_model(model_id: bytes, address: str, sender: str = governor) -> str | None:
        return reason(lambda: c.transact("set_model", model_id, address, 5, sender=sender))

    approved = guard.approve(model)
    assert set_model(approved, model.address, sender=other) == "only the governor"
    unknown = (99).to_bytes(32, "big")
    assert set_model(unknown, model.address) == "model is not approved in the registry"
    registered = (98).to_bytes(32, "big")
    registry.register(registered, b"\x01" * 32, b"\x02" * 32, "test://registered")
    assert set_model(registered, model.address) == "model is not approved in the registry"
    twin = guard.model("SelectModel", 0)  # same code, but not the attached contract
    assert set_model(approved, twin.address) == (
        "model contract is not the one attached in the registry"
    )
    elsewhere = guard.approve(guard.model("SelectModel", 1), use="credit-scoring")
    assert set_model(elsewhere, model.address) == "model is approved for another use"
    registry.contract.transact("retire", approved, sender=governor)
    assert set_model(approved, model.address) == "model is not approved in the registry"
    assert token.model() == (None, None, 0)


def test_set_model_refuses_a_code_hash_mismatch(guard: Guard) -> None:
    env = guard.env
    governor, reviewer = env.accounts[:2]
    fake = env.deploy(guard.mocks["FakeRegistry"])
    token = type(guard.token).deploy(
        env, governor=governor, registry=fake.address, reviewer=reviewer, timeout=TIMEOUT
    )
    model = guard.model("SelectModel", 0)
    model_id = b"\x07" * 32
    fake.transact("set", 2, USE, model.address, b"\x13" * 32)  # approved, but another hash
    with pytest.raises(ContractRevertError) as info:
        token.contract.transact("set_model", model_id, model.address, 5, sender=governor)
    assert info.value.reason == "model code differs from the registered code hash"
    codehash = env.backend.code(model.address)
    from eth_utils import keccak

    fake.transact("set", 2, USE, model.address, keccak(codehash))
    token.contract.transact("set_model", model_id, model.address, 5, sender=governor)
    assert token.model() == ("0x" + model_id.hex(), model.address, 5)
    wrong_arity = env.deploy(guard.mocks["SelectModel"], 0)
    assert wrong_arity.N_FEATURES() == 11
