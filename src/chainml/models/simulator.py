"""A seeded, PaySim-like payments simulator with labelled fraud patterns.

Customers pay merchants and each other with their own rhythm (daily rate, typical amount, hours
of activity), receive monthly salaries and pay rent. Three fraud patterns run on top:

- ``account_takeover``: a victim's balance is drained, mostly at night, mostly to a fresh account;
- ``card_testing``: a burst of tiny payments from a victim within minutes, sometimes followed by
  a large purchase;
- ``mule_chain``: a victim is talked into paying a fresh account, and the money is forwarded
  within minutes through young mule accounts.

Legitimate look-alikes (night owls, micro-payment bursts, rent to a new landlord, customers who
join late) keep the task learnable but not trivial. Every transfer goes through
:class:`~chainml.models.payments.PaymentFeatures`, so each row's features are exactly what the
guarded token computes on chain; balances never go negative (a payment that the balance does
not cover is not made). The same seed gives the same transfers.
"""

from __future__ import annotations

import csv
import heapq
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from chainml.errors import InvalidInputError
from chainml.files import atomic_output
from chainml.models.dataset import Dataset
from chainml.models.payments import FEATURE_NAMES, PaymentFeatures

START = 1_704_067_200  # 2024-01-01T00:00:00Z
DAY = 86_400
PATTERNS: tuple[str, ...] = ("legit", "account_takeover", "card_testing", "mule_chain")
LEGIT, TAKEOVER, CARD_TESTING, MULE = range(4)


class Transfer(NamedTuple):
    """One simulated transfer; ``amount`` in integer cents, ``timestamp`` in Unix seconds."""

    timestamp: int
    sender: int
    recipient: int
    amount: int
    is_fraud: bool
    pattern: str


@dataclass(frozen=True, eq=False)
class Simulation:
    """The transfers in time order and, row for row, their integer features."""

    transfers: tuple[Transfer, ...]
    features: npt.NDArray[np.int64]
    seed: int
    #: Balances minted before the first transfer (replaying the transfers from these through
    #: a fresh :class:`PaymentFeatures` reproduces ``features`` exactly).
    initial_balances: dict[int, int]

    @property
    def labels(self) -> npt.NDArray[np.int8]:
        """1 for fraud, 0 for legitimate, per transfer."""
        return np.fromiter((t.is_fraud for t in self.transfers), np.int8, len(self.transfers))

    def dataset(self) -> Dataset:
        """The features as a :class:`Dataset` ordered by timestamp."""
        return Dataset(
            name=f"simulated-{len(self.transfers)}-seed{self.seed}",
            features=self.features.astype(np.float64),
            labels=self.labels,
            feature_names=FEATURE_NAMES,
            order=np.fromiter((t.timestamp for t in self.transfers), np.float64),
            source=f"chainml payments simulator (n={len(self.transfers)}, seed={self.seed})",
        )

    def write_csv(self, path: Path, *, details: bool = False) -> None:
        """Write ``timestamp,<features>,is_fraud`` rows to ``path`` (atomically), for training.

        With ``details``, ``sender``, ``recipient`` and the fraud ``pattern`` (as its code: 0 legit,
        1 account_takeover, 2 card_testing, 3 mule_chain) come after the label; they identify
        accounts or reveal the label, so such a file is for analysis, not for training as is.
        """
        codes = {name: code for code, name in enumerate(PATTERNS)}
        extra = ["sender", "recipient", "pattern"] if details else []
        with atomic_output(path, newline="") as out:  # old file or whole new one
            writer = csv.writer(out, lineterminator="\n")
            writer.writerow(["timestamp", *FEATURE_NAMES, "is_fraud", *extra])
            for transfer, row in zip(self.transfers, self.features.tolist(), strict=True):
                more = [transfer.sender, transfer.recipient, codes[transfer.pattern]]
                writer.writerow(
                    [transfer.timestamp, *row, int(transfer.is_fraud), *(more if details else [])]
                )


# An event waiting to happen: (time, sequence, sender, recipient, amount, fraction_bps,
# pattern, hops_left). A fraction (bps of the sender's balance when it happens) replaces a
# fixed amount when amount is 0; hops_left > 0 makes the recipient forward the money onwards.
_Event = tuple[int, int, int, int, int, int, int, int]


def simulate_payments(
    n_transfers: int,
    seed: int = 0,
    *,
    fraud_rate: float = 0.01,
    customers: int | None = None,
    merchants: int | None = None,
) -> Simulation:
    """Simulate exactly ``n_transfers`` transfers (about ``fraud_rate`` of them fraudulent)."""
    if n_transfers < 1:
        raise InvalidInputError(f"the number of transfers must be at least 1, got {n_transfers}")
    if not 0.0 <= fraud_rate <= 0.2:
        raise InvalidInputError(f"fraud_rate must be in [0, 0.2], got {fraud_rate}")
    n_customers = customers or max(50, n_transfers // 40)
    n_merchants = merchants or max(10, n_customers // 20)
    if n_customers < 2 or n_merchants < 1:
        raise InvalidInputError("the simulation needs at least 2 customers and 1 merchant")
    margin = 1.3
    while True:
        world = _World(np.random.default_rng(seed), n_customers, n_merchants)
        events = world.plan(n_transfers, fraud_rate, margin)
        result = world.run(events, n_transfers)
        if result is not None:
            transfers, features = result
            return Simulation(transfers, features, seed, world.initial_balances)
        margin *= 1.5  # too many payments were declined: plan a longer period


class _World:
    """The population and its habits; plans events and plays them through the feature machine."""

    def __init__(self, rng: np.random.Generator, n_customers: int, n_merchants: int) -> None:
        self.rng = rng
        self.customers = n_customers
        self.merchants = n_merchants
        self.next_account = n_customers + n_merchants
        self.rate = rng.lognormal(0.0, 0.6, n_customers)  # payments per day
        self.typical = np.maximum(rng.lognormal(np.log(2_500), 0.8, n_customers), 100)  # cents
        # 0 daytime, 1 evening, 2 night owl
        self.kind = rng.choice(3, n_customers, p=[0.82, 0.12, 0.06])
        self.favourites = rng.integers(0, n_merchants, (n_customers, 3)) + n_customers
        self.friends = rng.integers(0, n_customers, (n_customers, 3))
        self.sequence = 0
        self.initial_balances = {
            c: int(self.typical[c] * max(self.rate[c], 0.3) * 45) for c in range(n_customers)
        }
        self.initial_balances.update(
            (m, 10**11) for m in range(n_customers, n_customers + n_merchants)
        )

    def _fresh(self) -> int:
        self.next_account += 1
        return self.next_account - 1

    def _hours(self, kinds: npt.NDArray[np.int64]) -> npt.NDArray[np.float64]:
        rng = self.rng
        day = np.clip(rng.normal(14.0, 3.5, kinds.size), 6.0, 23.9)
        evening = np.clip(rng.normal(20.0, 2.5, kinds.size), 12.0, 23.9)
        night = rng.uniform(0.0, 24.0, kinds.size)
        return np.choose(kinds, [day, evening, night])

    def plan(self, n: int, fraud_rate: float, margin: float) -> list[_Event]:
        """All legitimate payments, salaries, rent and fraud episodes of the period."""
        rng = self.rng
        days = max(2.0, n * margin / float(self.rate.sum()))
        join = np.where(
            rng.random(self.customers) < 0.15, rng.uniform(0, 0.7 * days, self.customers), 0
        )
        counts = rng.poisson(self.rate * (days - join))
        who = np.repeat(np.arange(self.customers), counts)
        day_index = (join[who] + rng.uniform(0, 1, who.size) * (days - join[who])).astype(np.int64)
        seconds = (self._hours(self.kind[who]) * 3600).astype(np.int64)
        when = START + day_index * DAY + seconds
        amounts = np.maximum(
            (self.typical[who] * rng.lognormal(0, 0.5, who.size)).astype(np.int64), 50
        )
        to_merchant = rng.random(who.size) < 0.8
        favourite = rng.random(who.size) < 0.75
        merchant = np.where(
            favourite,
            self.favourites[who, rng.integers(0, 3, who.size)],
            rng.integers(0, self.merchants, who.size) + self.customers,
        )
        friend = np.where(
            rng.random(who.size) < 0.7,
            self.friends[who, rng.integers(0, 3, who.size)],
            rng.integers(0, self.customers, who.size),
        )
        to = np.where(to_merchant, merchant, friend)
        events: list[_Event] = []
        for t, s, r, a in zip(
            when.tolist(), who.tolist(), to.tolist(), amounts.tolist(), strict=True
        ):
            if s != r:
                events.append(self._event(t, s, r, a, 0, LEGIT))
        self._salaries_and_rent(events, days, join)
        self._micro_bursts(events, days, join)
        self._fraud(events, n, fraud_rate, days / margin, join)
        heapq.heapify(events)
        return events

    def _event(
        self, t: int, s: int, r: int, amount: int, fraction: int, pattern: int, hops: int = 0
    ) -> _Event:
        self.sequence += 1
        return (t, self.sequence, s, r, amount, fraction, pattern, hops)

    def _salaries_and_rent(
        self, events: list[_Event], days: float, join: npt.NDArray[np.float64]
    ) -> None:
        rng = self.rng
        monthly = self.typical * self.rate * 30
        payday = rng.integers(0, 30, self.customers)
        employer = rng.integers(0, self.merchants, self.customers) + self.customers
        renter = rng.random(self.customers) < 0.3
        landlord = rng.integers(0, self.customers, self.customers)
        for c in range(self.customers):
            day = int(payday[c])
            while day < days:
                if day >= join[c]:
                    t = START + day * DAY + int(rng.uniform(8, 10) * 3600)
                    events.append(
                        self._event(t, int(employer[c]), c, int(monthly[c] * 1.1), 0, LEGIT)
                    )
                    if renter[c] and landlord[c] != c:
                        rent = int(monthly[c] * rng.uniform(0.25, 0.4))
                        t2 = t + int(rng.uniform(0.5, 48) * 3600)
                        events.append(self._event(t2, c, int(landlord[c]), rent, 0, LEGIT))
                day += 30

    def _micro_bursts(
        self, events: list[_Event], days: float, join: npt.NDArray[np.float64]
    ) -> None:
        """A few customers pay many small amounts within minutes (games, transit): legitimate."""
        rng = self.rng
        gamers = np.flatnonzero(rng.random(self.customers) < 0.04)
        for c in gamers.tolist():
            for _ in range(int(rng.poisson(max(days / 4, 0.5)))):
                t = START + int(rng.uniform(join[c], days) * DAY)
                shop = int(self.favourites[c, 0])
                for _ in range(int(rng.integers(4, 16))):
                    t += int(rng.integers(10, 120))
                    events.append(self._event(t, c, shop, int(rng.integers(50, 600)), 0, LEGIT))

    def _victim(self, join: npt.NDArray[np.float64], horizon: float) -> tuple[int, float]:
        """A customer and a day (after the customer joined, before the planned horizon)."""
        c = int(self.rng.integers(0, self.customers))
        return c, float(self.rng.uniform(min(max(join[c], 0.2 * horizon), horizon), horizon))

    def _episodes(self, expected: float) -> range:
        """A Poisson number of fraud episodes, at least one when half of one is expected."""
        return range(max(int(self.rng.poisson(expected)), 1 if expected >= 0.5 else 0))

    def _fraud(
        self, events: list[_Event], n: int, rate: float, days: float, join: npt.NDArray[np.float64]
    ) -> None:
        rng = self.rng
        target = rate * n
        for _ in self._episodes(0.35 * target / 1.5):  # account takeover
            c, day = self._victim(join, days)
            hour = rng.uniform(0, 5) if rng.random() < 0.7 else rng.uniform(7, 23)
            t = START + int(day) * DAY + int(hour * 3600)
            to = self._fresh() if rng.random() < 0.8 else int(rng.integers(0, self.customers))
            hops = int(rng.integers(1, 3)) if rng.random() < 0.4 else 0
            for _ in range(int(rng.integers(1, 3))):
                events.append(
                    self._event(t, c, to, 0, int(rng.integers(4_000, 10_001)), TAKEOVER, hops)
                )
                t += int(rng.integers(20, 600))
        for _ in self._episodes(0.35 * target / 16):  # card testing
            c, day = self._victim(join, days)
            t = START + int(day * DAY)
            shops = rng.integers(0, self.merchants, 3) + self.customers
            for _ in range(int(rng.integers(8, 25))):
                t += int(rng.integers(5, 90))
                amount = int(rng.integers(1, 300))
                events.append(self._event(t, c, int(rng.choice(shops)), amount, 0, CARD_TESTING))
            if rng.random() < 0.5:
                t += int(rng.integers(120, 600))
                shop = int(rng.integers(0, self.merchants)) + self.customers
                events.append(
                    self._event(t, c, shop, 0, int(rng.integers(3_000, 8_000)), CARD_TESTING)
                )
        for _ in self._episodes(0.3 * target / 3.5):  # scam into a mule chain
            c, day = self._victim(join, days)
            t = START + int(day) * DAY + int(self._hours(np.array([0]))[0] * 3600)
            fraction = int(rng.integers(2_000, 7_000))
            events.append(
                self._event(t, c, self._fresh(), 0, fraction, MULE, int(rng.integers(1, 4)))
            )

    def run(
        self, events: list[_Event], n: int
    ) -> tuple[tuple[Transfer, ...], npt.NDArray[np.int64]] | None:
        """Play the events in time order through the feature machine; None if too few happened."""
        rng = self.rng
        state = PaymentFeatures()
        for account, balance in self.initial_balances.items():
            state.credit(account, balance)
        transfers: list[Transfer] = []
        rows: list[tuple[int, ...]] = []
        pop, push = heapq.heappop, heapq.heappush
        while events and len(transfers) < n:
            t, _, s, r, amount, fraction, pattern, hops = pop(events)
            balance = state.balance(s)
            if amount == 0:
                amount = balance * fraction // 10_000
            if amount == 0 or amount > balance:
                continue  # declined: the balance does not cover it
            rows.append(state.transfer(s, r, amount, t))
            transfers.append(Transfer(t, s, r, amount, pattern != LEGIT, PATTERNS[pattern]))
            if hops:
                onward = (
                    self._fresh() if rng.random() < 0.8 else int(rng.integers(0, self.customers))
                )
                delay = int(rng.integers(30, 1_800))
                keep = int(rng.integers(100, 500))  # the mule keeps 1-5 percent
                push(
                    events,
                    self._event(
                        t + delay, r, onward, amount * (10_000 - keep) // 10_000, 0, MULE, hops - 1
                    ),
                )
        if len(transfers) < n:
            return None
        return tuple(transfers), np.array(rows, dtype=np.int64).reshape(n, len(FEATURE_NAMES))
