"""Readiness: required checks read as starting until they report; ready when every check is ok."""

from __future__ import annotations

import threading

from chainml.service.readiness import STARTING, Readiness
from chainml.service.routes_health import readiness_document


def test_a_required_check_is_starting_until_it_reports() -> None:
    readiness = Readiness(required=("log", "anchoring"))
    readiness.set("log", True)
    assert readiness.starting and not readiness.ready
    document = readiness_document(readiness)
    assert document["status"] == "starting" and document["ready"] is False
    assert document["checks"]["anchoring"] == {
        "ok": False,
        "detail": STARTING,
        "since": document["checks"]["anchoring"]["since"],
    }
    readiness.set("anchoring", True)
    assert readiness.ready and not readiness.starting
    assert readiness_document(readiness)["status"] == "ok"


def test_a_failed_check_makes_it_not_ready_and_a_tolerated_problem_degraded() -> None:
    readiness = Readiness(required=("model",))
    readiness.set("model", False, "no model approved for 'fraud-screening'")
    assert not readiness.ready and readiness_document(readiness)["status"] == "degraded"
    readiness.set("model", True)
    readiness.set("chain", True, "not answering: connection refused")  # ok, but said
    assert readiness.ready
    assert readiness_document(readiness)["status"] == "degraded"


def test_since_moves_only_when_the_state_changes() -> None:
    readiness = Readiness()
    readiness.set("log", True)
    first = readiness.snapshot()["log"].since
    readiness.set("log", True)
    assert readiness.snapshot()["log"].since == first
    readiness.set("log", False, "disk full")
    changed = readiness.snapshot()["log"]
    assert (changed.ok, changed.detail) == (False, "disk full") and changed.since >= first


def test_concurrent_setters_leave_one_consistent_state() -> None:
    readiness = Readiness(required=[f"c{i}" for i in range(8)])

    def flip(name: str) -> None:
        for n in range(2000):
            readiness.set(name, n % 2 == 1, "" if n % 2 else "down")

    threads = [threading.Thread(target=flip, args=(f"c{i}",)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert readiness.ready  # every setter's last word was ok
    assert all(state.ok and state.detail == "" for state in readiness.snapshot().values())


def test_a_check_that_is_starting_can_be_ready_and_says_starting() -> None:
    """Anchoring connecting to the chain: scoring already works, so ready, and "starting"."""
    readiness = Readiness(required=("model",))
    readiness.set("model", True)
    readiness.set("anchoring", True, STARTING)
    document = readiness_document(readiness)
    assert document["ready"] is True and document["status"] == "starting"
    readiness.set("anchoring", True)
    assert readiness_document(readiness)["status"] == "ok"
