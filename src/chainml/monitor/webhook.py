"""A webhook subscriber: each alert POSTed as JSON, with retries on transient failures.

429, 5xx gateway errors, refused connections and timeouts are retried with jittered back-off
(``Retry-After`` honoured) within a time budget (:func:`chainml.retry.request_policy`). A
delivery that still fails is reported to ``on_failure`` and the monitor goes on: the alert
is already in the decision log, which stays the record of what was raised.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import requests

from chainml.monitor.alerts import Subscriber
from chainml.retry import parse_retry_after, request_policy

_TRANSIENT_STATUS = {429, 500, 502, 503, 504}


class _Transient(Exception):  # noqa: N818 - internal retry signal
    def __init__(self, status: int, retry_after: float | None) -> None:
        super().__init__(f"HTTP {status}")
        self.retry_after = retry_after


def _is_transient(err: BaseException) -> bool:
    return isinstance(err, _Transient | requests.ConnectionError | requests.Timeout)


def webhook(
    url: str,
    *,
    budget: float = 10.0,
    timeout: float = 5.0,
    on_failure: Callable[[dict[str, Any], str], None] | None = None,
) -> Subscriber:
    """A subscriber that POSTs each message to ``url``."""
    session = requests.Session()

    def once(message: dict[str, Any]) -> None:
        response = session.post(url, json=message, timeout=timeout)
        if response.status_code in _TRANSIENT_STATUS:
            raise _Transient(
                response.status_code, parse_retry_after(response.headers.get("Retry-After"))
            )
        response.raise_for_status()

    def post(message: dict[str, Any]) -> None:
        try:
            request_policy(_is_transient, budget)(once, message)
        except (requests.RequestException, _Transient) as err:
            if on_failure is not None:
                on_failure(message, str(err))

    return post
