"""Fee policy: prices from fee history under a cap, and replacements the pools accept."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chainml.chain.fees import GWEI, MIN_BUMP_PERCENT, FeeHistory, FeePolicy, Price
from chainml.chain.tx_journal import InFlight, Journal
from chainml.errors import DataDirectoryError, FeeCapExceededError, InvalidInputError

wei = st.integers(min_value=0, max_value=10**15)


def test_the_tip_is_the_median_of_recent_tips_within_bounds() -> None:
    policy = FeePolicy(min_tip=GWEI // 100, max_tip=3 * GWEI)
    assert policy.tip(FeeHistory(10 * GWEI, (1, 2 * GWEI, GWEI))) == GWEI
    assert policy.tip(FeeHistory(10 * GWEI, ())) == GWEI // 100  # empty blocks: the floor
    assert policy.tip(FeeHistory(10 * GWEI, (50 * GWEI,))) == 3 * GWEI


def test_the_price_leaves_headroom_and_never_passes_the_cap() -> None:
    history = FeeHistory(10 * GWEI, (GWEI,))
    assert FeePolicy().price(history) == Price(21 * GWEI, GWEI)
    assert FeePolicy(max_fee_cap=15 * GWEI).price(history) == Price(15 * GWEI, GWEI)
    with pytest.raises(FeeCapExceededError) as refused:
        FeePolicy(max_fee_cap=10 * GWEI).price(history)  # base + tip is 11 gwei
    assert (refused.value.needed, refused.value.cap) == (11 * GWEI, 10 * GWEI)


@given(max_fee=wei, tip=wei, base=wei, percent=st.integers(MIN_BUMP_PERCENT, 100))
def test_a_replacement_raises_both_fields_by_the_pool_minimum(
    max_fee: int, tip: int, base: int, percent: int
) -> None:
    sent = Price(max(max_fee, tip), tip)
    new = FeePolicy(bump_percent=percent).replacement(sent, FeeHistory(base, ()))
    assert new is not None
    assert new.max_fee * 100 >= sent.max_fee * (100 + percent) and new.max_fee > sent.max_fee
    assert new.tip * 100 >= sent.tip * (100 + percent) and new.tip > sent.tip
    assert new.tip <= new.max_fee


def test_no_replacement_above_the_cap() -> None:
    policy = FeePolicy(max_fee_cap=20 * GWEI)
    assert policy.replacement(Price(19 * GWEI, GWEI), FeeHistory(GWEI, ())) is None
    assert policy.replacement(Price(10 * GWEI, GWEI), FeeHistory(GWEI, ())) == Price(
        11 * GWEI, GWEI * 11 // 10
    )


def test_bumps_below_the_protocol_minimum_are_refused() -> None:
    with pytest.raises(InvalidInputError, match="at least 10"):
        FeePolicy(bump_percent=5)


def test_the_journal_survives_a_reopen_and_refuses_a_damaged_file(tmp_path: Path) -> None:
    path = tmp_path / "txs" / "1-0xabc.json"
    flight = InFlight(3, "0x" + "11" * 20, "ab", 0, 21_000, ["02"], ["ff"], 9, 1, 5.0, 5.0)
    with Journal(path).change() as state:
        state.in_flight[3] = flight
        state.spent["2026-12-04"] = 42
    again = Journal(path).read()
    assert again.in_flight == {3: flight} and again.spent == {"2026-12-04": 42}
    path.write_text('{"version": 1, "in_flight": [{"nonce": "x"}]}')
    with pytest.raises(DataDirectoryError, match="damaged"):
        Journal(path).read()
