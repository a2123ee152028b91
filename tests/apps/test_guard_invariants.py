"""Random transfers, releases, refunds and expiries: no token is ever created, lost or stuck."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chainml.apps.guard import HoldStatus
from chainml.errors import ContractRevertError

from .conftest import TIMEOUT, Guard, extra_accounts

_OPS = st.lists(
    st.one_of(
        st.tuples(st.just("transfer"), st.integers(0, 2), st.integers(0, 2), st.integers(1, 900)),
        st.tuples(st.just("release"), st.integers(0, 5)),
        st.tuples(st.just("refund"), st.integers(0, 5)),
        st.tuples(st.just("expire"), st.integers(0, 5)),
        st.tuples(st.just("wait"), st.sampled_from([60, TIMEOUT])),
    ),
    min_size=1,
    max_size=14,
)


@settings(
    max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(ops=_OPS)
def test_supply_is_conserved_and_each_hold_settles_once(guard: Guard, ops: list[tuple]) -> None:  # type: ignore[type-arg]
    env = guard.env
    with env.snapshot():
        signing, people = extra_accounts(env, 3, tag=9)
        token = guard.token
        guard.install(guard.model("SelectModel", 0), threshold=500)  # amounts >= 500 are held
        token.mint({people[0]: 2_000, people[1]: 700})
        as_people = token.as_env(signing)
        balances = {0: 2_000, 1: 700, 2: 0}
        pending: dict[int, tuple[int, int, int]] = {}
        settled: set[int] = set()
        for op in ops:
            if op[0] == "transfer":
                _, s, r, amount = op
                if amount > balances[s]:
                    continue
                result = as_people.transfer(people[r], amount, sender=people[s])
                balances[s] -= amount
                if result.held:
                    pending[result.held_id or 0] = (s, r, amount)
                else:
                    balances[r] += amount
            elif op[0] == "wait":
                env.advance_time(op[1])
            else:
                ids = sorted(pending) + sorted(settled)
                if not ids:
                    continue
                hold_id = ids[op[1] % len(ids)]
                try:
                    if op[0] == "release":
                        token.release(hold_id, sender=guard.reviewer)
                    elif op[0] == "refund":
                        token.refund(hold_id, sender=guard.reviewer)
                    else:
                        token.release_expired(hold_id)
                except ContractRevertError as err:
                    assert hold_id in settled or err.reason == "the hold has not expired yet"
                    continue
                assert hold_id in pending, "a hold settled twice"
                s, r, amount = pending.pop(hold_id)
                balances[s if op[0] == "refund" else r] += amount
                settled.add(hold_id)
            escrow = sum(amount for _, _, amount in pending.values())
            assert token.escrowed == escrow
            assert [token.balance_of(p) for p in people] == [balances[i] for i in range(3)]
            assert sum(balances.values()) + escrow == token.total_supply == 2_700
        for hold_id in settled:
            assert token.held_transfer(hold_id).status in (HoldStatus.RELEASED, HoldStatus.REFUNDED)
