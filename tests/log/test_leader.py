"""One anchorer among replicas: the lease in the log's database, its fencing token, failover.

Two Anchorers on one PostgreSQL log stand for two `chainml serve` replicas. The paused leader
is paused for real (it is simply not run while its lease runs out); it resumes at the worst
moment, after it decided to anchor and before it sends, and its fence stops it.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from chainml.chain import Env
from chainml.log.anchor import Anchorer, AnchorPolicy, log_contract
from chainml.log.decision_log import DecisionLog
from chainml.log.leader import NotLeaderError, PostgresLease
from chainml.log.postgres_schema import LogDatabase
from chainml.log.postgres_store import PostgresLogStore
from tests.log.test_anchor import decisions
from tests.pg import fresh_schema, schema_url

TTL = 0.6


@pytest.fixture
def url() -> Iterator[str]:
    with fresh_schema() as schema:
        PostgresLogStore(schema_url(schema)).close()  # the schema, with its leases table
        yield schema_url(schema)


def test_one_holder_at_a_time_and_each_takeover_raises_the_epoch(url: str) -> None:
    database = LogDatabase.from_url(url)
    a, b = PostgresLease(database, "job", TTL), PostgresLease(database, "job", TTL)
    try:
        assert a.hold() and a.epoch == 1
        assert not b.hold() and b.epoch is None
        assert a.fence() == 1  # renews it
        time.sleep(TTL * 0.6)
        assert a.hold()  # renewed by the fence: still a's
        time.sleep(TTL * 1.2)  # a is paused: nothing renews its lease
        assert b.hold() and b.epoch == 2
        with pytest.raises(NotLeaderError, match="epoch 1"):
            a.fence()
        assert not a.hold()
        b.release()  # stepping down hands over at once, with a new token
        time.sleep(TTL / 4)  # (a follower asks at most every quarter of the lease)
        assert a.hold() and a.epoch == 3
    finally:
        a.release()
        b.release()


def test_a_resumed_ex_leader_cannot_anchor_after_a_failover(env: Env, url: str) -> None:
    policy = AnchorPolicy(every_decisions=1, lease_seconds=TTL)
    with (
        env.snapshot(),
        DecisionLog(PostgresLogStore(url)) as log_a,
        DecisionLog(PostgresLogStore(url)) as log_b,
    ):
        contract = log_contract(env, log_a)  # deployed once, by whoever holds the lease
        assert log_contract(env, log_b).address == contract.address
        a, b = Anchorer(log_a, contract, policy), Anchorer(log_b, contract, policy)
        log_a.append(decisions(0, 10))
        assert a.anchor() is not None and not b.leading  # a leads, b follows
        assert b.anchor() is None and int(contract.size()) == 10
        log_b.append(decisions(10, 10))
        assert a.leading  # a decides to anchor size 20 ... and is paused before it sends
        time.sleep(TTL * 1.5)
        record = b.anchor()  # b takes over (epoch 2) and anchors
        assert record is not None and record.size == 20
        log_a.append(decisions(20, 5))
        # a resumes where it stopped, inside the anchoring step: its fence stops it
        with pytest.raises(NotLeaderError):
            a._anchor()
        assert a.anchor() is None and not a.leading  # and from now on it follows
        assert int(contract.size()) == 20
        assert [int(e["size"]) for e in contract.events("Anchored")] == [10, 20]
        assert b.anchor() is not None and int(contract.size()) == 25  # the leader goes on
        b.stop()  # stepping down releases the lease: a takes over without waiting for it
        time.sleep(TTL / 4)  # (a follower asks at most every quarter of the lease)
        assert a.leading and a.anchor() is None  # nothing new to anchor
        log_a.append(decisions(25, 1))
        assert a.anchor() is not None and int(contract.size()) == 26
        a.stop()
