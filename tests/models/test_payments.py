"""The integer payment-feature machine, and the simulator that streams transfers through it."""

from __future__ import annotations

from collections import Counter
from typing import NamedTuple

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chainml.errors import InvalidInputError
from chainml.models.payments import (
    AGE_CAP,
    AMOUNT_CAP,
    COUNT_CAP,
    FEATURE_MAX,
    FEATURE_NAMES,
    RATIO_CAP,
    SECONDS_CAP,
    PaymentFeatures,
)
from chainml.models.simulator import PATTERNS, START, Simulation, simulate_payments

T0 = 1_704_067_200  # 2024-01-01T00:00:00Z
F = {name: i for i, name in enumerate(FEATURE_NAMES)}


def test_feature_order_is_fixed() -> None:
    assert FEATURE_NAMES == (
        "amount",
        "amount_to_mean_bps",
        "sender_tx_in_hour_window",
        "seconds_since_sender_last",
        "recipient_age",
        "sender_age",
        "sender_tx_count",
        "recipient_rx_count",
        "hour_of_day",
        "amount_to_balance_bps",
        "seconds_since_sender_rx",
    )
    assert len(FEATURE_MAX) == len(FEATURE_NAMES)


def test_a_worked_example() -> None:
    state = PaymentFeatures()
    state.credit("alice", 100_000)
    # first transfer ever: every "no history" default
    assert state.transfer("alice", "bob", 1_000, T0 + 3 * 3600) == (
        1_000,
        10_000,
        0,
        SECONDS_CAP,
        0,
        0,
        0,
        0,
        3,
        100,
        SECONDS_CAP,
    )
    # 10 minutes later, to bob again: mean 1000, window holds 1 transfer, bob seen 600 s ago
    assert state.transfer("alice", "bob", 3_000, T0 + 3 * 3600 + 600) == (
        3_000,
        30_000,
        1,
        600,
        600,
        600,
        1,
        1,
        3,
        3_000 * 10_000 // 99_000,
        SECONDS_CAP,
    )
    # window started at 3h00m00s; at exactly +3600 s it restarts, so the count is 0 again
    features = state.features("alice", "carol", 2_000, T0 + 4 * 3600)
    assert features[F["sender_tx_in_hour_window"]] == 0
    assert features[F["amount_to_mean_bps"]] == 2_000 * 10_000 // 2_000  # mean (1000+3000)//2
    assert features[F["recipient_age"]] == 0 and features[F["recipient_rx_count"]] == 0
    assert features[F["hour_of_day"]] == 4
    # one second earlier it is still the same window, holding 2 transfers
    assert state.features("alice", "carol", 2_000, T0 + 4 * 3600 - 1)[2] == 2
    # bob forwards what he received: his own history is empty, his receipts are not
    bob = state.transfer("bob", "dave", 4_000, T0 + 5 * 3600)
    assert bob[F["seconds_since_sender_rx"]] == 5 * 3600 - (3 * 3600 + 600)
    assert bob[F["sender_age"]] == 2 * 3600
    assert bob[F["amount_to_balance_bps"]] == 10_000
    assert state.balance("bob") == 0 and state.balance("dave") == 4_000


def test_caps_and_an_empty_balance() -> None:
    state = PaymentFeatures()
    state.credit("a", 10 * AMOUNT_CAP)
    state.transfer("a", "b", 1, T0)
    big = state.features("a", "b", 5 * AMOUNT_CAP, T0 + 400 * 86_400)
    assert big[F["amount"]] == AMOUNT_CAP
    assert big[F["amount_to_mean_bps"]] == RATIO_CAP
    assert big[F["seconds_since_sender_last"]] == SECONDS_CAP
    assert big[F["recipient_age"]] == AGE_CAP == big[F["sender_age"]]
    empty = state.features("nobody", "b", 0, T0)
    assert empty[F["amount_to_balance_bps"]] == 10_000  # balance 0: defined as 100 percent
    for _ in range(COUNT_CAP + 5):
        state.apply("a", "b", 0, T0 + 1)
    after = state.features("a", "b", 1, T0 + 2)
    assert after[F["sender_tx_count"]] == COUNT_CAP == after[F["sender_tx_in_hour_window"]]
    assert after[F["recipient_rx_count"]] == COUNT_CAP


def test_time_running_backwards_saturates_at_zero() -> None:
    state = PaymentFeatures()
    state.credit("a", 100)
    state.transfer("a", "b", 10, T0 + 100)
    early = state.features("a", "b", 10, T0)
    assert early[F["seconds_since_sender_last"]] == 0 and early[F["recipient_age"]] == 0
    assert early[F["sender_tx_in_hour_window"]] == 1


def test_overspending_and_negative_values_change_nothing() -> None:
    state = PaymentFeatures()
    state.credit("a", 50)
    with pytest.raises(InvalidInputError, match="cannot send 51: its balance is 50"):
        state.apply("a", "b", 51, T0)
    with pytest.raises(InvalidInputError, match=">= 0"):
        state.apply("a", "b", -1, T0)
    with pytest.raises(InvalidInputError, match="negative"):
        state.credit("a", -5)
    assert state.balance("a") == 50 and not state.stats("a").seen and not state.stats("b").seen


def test_a_self_transfer_keeps_the_balance() -> None:
    state = PaymentFeatures()
    state.credit("a", 70)
    state.transfer("a", "a", 30, T0)
    stats = state.stats("a")
    assert state.balance("a") == 70
    assert (stats.first_seen, stats.sent_count, stats.received_count) == (T0, 1, 1)


# -- an independent reference: recompute every feature from the whole history -------------


class Move(NamedTuple):
    sender: int
    recipient: int
    amount: int
    now: int


def from_history(history: list[Move], balances: dict[int, int], move: Move) -> tuple[int, ...]:
    """The documented definitions, recomputed from scratch (no running statistics)."""
    s, r, amount, now = move

    def since(then: int) -> int:
        return max(now - then, 0)

    sent = [m for m in history if m.sender == s]
    received_by_s = [m for m in history if m.recipient == s]
    r_moves = [m for m in history if r in (m.sender, m.recipient)]
    s_moves = [m for m in history if s in (m.sender, m.recipient)]
    capped = min(amount, AMOUNT_CAP)
    total = sum(min(m.amount, AMOUNT_CAP) for m in sent)
    mean = total // len(sent) if sent else 0
    window_start, window_count = 0, 0
    for m in sent:  # replay the fixed one-hour window
        if window_count == 0 or max(m.now - window_start, 0) >= 3600:
            window_start, window_count = m.now, 0
        window_count += 1
    in_window = bool(sent) and since(window_start) < 3600
    balance = balances.get(s, 0)
    return (
        capped,
        min(capped * 10_000 // mean, RATIO_CAP) if mean else 10_000,
        min(window_count, COUNT_CAP) if in_window else 0,
        min(since(sent[-1].now), SECONDS_CAP) if sent else SECONDS_CAP,
        min(since(r_moves[0].now), AGE_CAP) if r_moves else 0,
        min(since(s_moves[0].now), AGE_CAP) if s_moves else 0,
        min(len(sent), COUNT_CAP),
        min(sum(1 for m in history if m.recipient == r), COUNT_CAP),
        now // 3600 % 24,
        min(capped * 10_000 // balance, 10_000) if balance else 10_000,
        min(since(received_by_s[-1].now), SECONDS_CAP) if received_by_s else SECONDS_CAP,
    )


steps = st.lists(
    st.tuples(
        st.integers(0, 4),  # sender
        st.integers(0, 4),  # recipient
        st.integers(0, 10_000),  # share of the sender's balance, in bps
        st.sampled_from([0, 1, 59, 3_599, 3_600, 3_601, 86_400, 40 * 86_400]),  # time step
    ),
    max_size=60,
)


@settings(max_examples=150, deadline=None)
@given(
    initial=st.lists(st.integers(0, 3 * AMOUNT_CAP), min_size=5, max_size=5),
    start=st.integers(1, 2**40),
    script=steps,
)
def test_running_statistics_match_the_definitions(
    initial: list[int], start: int, script: list[tuple[int, int, int, int]]
) -> None:
    state = PaymentFeatures()
    for account, amount in enumerate(initial):
        state.credit(account, amount)
    supply = sum(initial)
    balances = dict(enumerate(initial))
    history: list[Move] = []
    now = start
    for sender, recipient, share, step in script:
        now += step
        amount = balances[sender] * share // 10_000
        move = Move(sender, recipient, amount, now)
        before = state.features(sender, recipient, amount, now)
        assert state.features(sender, recipient, amount, now) == before  # no side effects
        assert before == from_history(history, balances, move)
        assert all(
            type(v) is int and 0 <= v <= cap for v, cap in zip(before, FEATURE_MAX, strict=True)
        )
        state.apply(sender, recipient, amount, now)
        balances[sender] -= amount
        balances[recipient] += amount
        history.append(move)
        assert state.total_supply == supply  # conserved
        assert all(state.balance(a) == b >= 0 for a, b in balances.items())


@settings(max_examples=50, deadline=None)
@given(amount=st.integers(0, 2**200), balance=st.integers(0, 2**200), now=st.integers(0, 2**64))
def test_every_intermediate_fits_in_uint256(amount: int, balance: int, now: int) -> None:
    state = PaymentFeatures()
    state.credit("a", max(balance, amount))
    features = state.features("a", "b", amount, now)
    # the largest product computed on chain is min(amount, AMOUNT_CAP) * 10_000
    assert AMOUNT_CAP * 10_000 < 2**256
    assert all(0 <= v <= cap for v, cap in zip(features, FEATURE_MAX, strict=True))


# -- the simulator -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def simulation() -> Simulation:
    return simulate_payments(20_000, seed=7)


def test_the_simulation_is_deterministic_per_seed(simulation: Simulation) -> None:
    again = simulate_payments(20_000, seed=7)
    assert again.transfers == simulation.transfers
    assert np.array_equal(again.features, simulation.features)
    assert again.dataset().commitment() == simulation.dataset().commitment()
    other = simulate_payments(20_000, seed=8)
    assert other.dataset().commitment() != simulation.dataset().commitment()


def test_the_simulation_has_every_pattern_at_a_realistic_rate(simulation: Simulation) -> None:
    transfers = simulation.transfers
    assert len(transfers) == 20_000
    rate = sum(t.is_fraud for t in transfers) / len(transfers)
    assert 0.005 <= rate <= 0.02
    patterns = Counter(t.pattern for t in transfers)
    assert set(patterns) == set(PATTERNS)
    assert all((t.pattern != "legit") == t.is_fraud for t in transfers)
    times = [t.timestamp for t in transfers]
    assert times == sorted(times) and times[0] >= START
    assert all(type(t.amount) is int and t.amount > 0 for t in transfers)


def test_replaying_the_transfers_reproduces_every_feature(simulation: Simulation) -> None:
    state = PaymentFeatures()
    for account, balance in simulation.initial_balances.items():
        state.credit(account, balance)
    supply = state.total_supply
    rows = [
        state.transfer(t.sender, t.recipient, t.amount, t.timestamp) for t in simulation.transfers
    ]
    assert np.array_equal(
        np.array(rows, dtype=np.int64), simulation.features
    )  # raises if overdrawn
    assert state.total_supply == supply
    assert (simulation.features >= 0).all()
    assert (simulation.features <= np.array(FEATURE_MAX)).all()


def test_the_fraud_patterns_show_in_the_features(simulation: Simulation) -> None:
    x = simulation.features
    pattern = np.array([t.pattern for t in simulation.transfers])
    legit = pattern == "legit"
    testing = pattern == "card_testing"
    takeover = pattern == "account_takeover"
    mule = pattern == "mule_chain"
    window = x[:, F["sender_tx_in_hour_window"]]
    assert np.median(window[testing]) > 3 * max(np.median(window[legit]), 1)
    assert np.median(x[takeover, F["amount_to_balance_bps"]]) > 3_000
    assert np.median(x[mule, F["recipient_age"]]) == 0  # fresh recipients
    hour = x[:, F["hour_of_day"]]
    assert np.mean(hour[takeover] < 6) > 0.5 > np.mean(hour[legit] < 6)


def test_a_linear_model_learns_it_but_not_perfectly() -> None:
    pytest.importorskip("sklearn")
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import average_precision_score
    from sklearn.preprocessing import StandardScaler

    data = simulate_payments(30_000, seed=3).dataset()
    cut = int(0.8 * data.rows)
    scaler = StandardScaler().fit(data.features[:cut])
    model = LogisticRegression(max_iter=2_000).fit(
        scaler.transform(data.features[:cut]), data.labels[:cut]
    )
    scores = model.predict_proba(scaler.transform(data.features[cut:]))[:, 1]
    base = data.labels[cut:].mean()
    pr_auc = average_precision_score(data.labels[cut:], scores)
    assert pr_auc > 10 * base
    assert pr_auc < 0.99


def test_bad_simulation_arguments() -> None:
    with pytest.raises(InvalidInputError, match="at least 1"):
        simulate_payments(0)
    with pytest.raises(InvalidInputError, match="fraud_rate"):
        simulate_payments(10, fraud_rate=0.5)


def test_small_simulations_and_no_fraud() -> None:
    tiny = simulate_payments(5, seed=1)
    assert len(tiny.transfers) == 5
    clean = simulate_payments(2_000, seed=1, fraud_rate=0.0)
    assert sum(t.is_fraud for t in clean.transfers) == 0
