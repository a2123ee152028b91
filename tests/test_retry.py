"""chainml.retry: the background policy backs off, reports each failure and stops at once."""

from __future__ import annotations

import threading
import time

import pytest

from chainml.retry import Stopped, background_policy, parse_retry_after


def test_background_policy_retries_until_success_reporting_each_failure() -> None:
    failures: list[BaseException] = []
    outcomes = iter([OSError("down"), OSError("still down"), None])

    def step() -> str:
        err = next(outcomes)
        if err is not None:
            raise err
        return "anchored"

    retrying = background_policy(0.01, 0.02, threading.Event(), failures.append)
    assert retrying(step) == "anchored"
    assert [str(err) for err in failures] == ["down", "still down"]


def test_background_policy_stops_at_once_when_asked() -> None:
    stop = threading.Event()
    retrying = background_policy(30.0, 60.0, stop, lambda err: stop.set())

    def fails() -> None:
        raise OSError("down")

    started = time.monotonic()
    with pytest.raises(Stopped):
        retrying(fails)  # the 30 s wait is cut short by the stop event
    assert time.monotonic() - started < 1.0


def test_background_policy_waits_double_up_to_the_most() -> None:
    waits: list[float] = []
    stop = threading.Event()
    retrying = background_policy(1.0, 4.0, stop, lambda err: None)
    retrying.sleep = lambda seconds: waits.append(seconds) if len(waits) < 5 else stop.set()
    calls = iter(range(6))

    def fails() -> None:
        if next(calls) == 5:
            return
        raise OSError("down")

    retrying(fails)
    assert [int(w) for w in waits] == [1, 2, 4, 4, 4]  # jitter adds under half a first wait
    assert all(w - int(w) <= 0.5 for w in waits)


def test_retry_after_parses_seconds_and_dates() -> None:
    assert parse_retry_after("7") == 7.0
    assert parse_retry_after(None) is None
    assert parse_retry_after("soon") is None
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0  # in the past
