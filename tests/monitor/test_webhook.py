"""The webhook subscriber retries a transient failure and delivers the alert once."""

from __future__ import annotations

from chainml.monitor.webhook import webhook


def test_a_503_is_retried_and_the_alert_delivered_once(receiver) -> None:
    url, received, statuses = receiver
    statuses.extend([503, 503])
    failures: list[str] = []
    webhook(url, budget=10, on_failure=lambda _m, why: failures.append(why))({"type": "alert"})
    assert received == [{"type": "alert"}] and failures == [] and statuses == []


def test_a_permanent_refusal_is_reported_not_raised(receiver) -> None:
    url, received, statuses = receiver
    statuses.append(404)
    failures: list[str] = []
    webhook(url, budget=5, on_failure=lambda _m, why: failures.append(why))({"type": "alert"})
    assert received == [] and len(failures) == 1 and "404" in failures[0]
