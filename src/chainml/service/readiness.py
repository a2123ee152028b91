"""Readiness: whether the service should get traffic, as named checks kept by their owners.

Probes (``/readyz``, ``/healthz``) read a snapshot of this object and nothing else: no SQLite
read, no chain call on the request path. Each check is set by whatever knows its state — a
background thread that polls it, or the component itself when its state changes — with
:meth:`Readiness.set`. A check that must report before the service is ready is *required*;
until it has reported once, it reads as ``starting`` (not as a failure), and so does the
service.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass

STARTING = "starting"


@dataclass(frozen=True)
class CheckState:
    """One check: whether it lets the service be ready, why (or why not), and since when.

    ``since`` is the wall-clock time (``time.time()``) at which ``ok`` or ``detail`` last
    changed; setting the same state again keeps it.
    """

    ok: bool
    detail: str
    since: float


class Readiness:
    """Thread-safe named checks; the service is ready when every check is ok.

    ``required`` names the checks that must report before the service can be ready (until
    then they read as ``starting``). Checks set without being required count as soon as they
    are set.
    """

    def __init__(self, required: Iterable[str] = ()) -> None:
        self._lock = threading.Lock()
        self._started = time.time()
        self._required: set[str] = set(required)
        self._checks: dict[str, CheckState] = {}
        self._version = 0

    def require(self, check: str) -> None:
        """Make ``check`` one that must report before the service is ready."""
        with self._lock:
            self._required.add(check)
            self._version += 1

    def set(self, check: str, ok: bool, detail: str = "") -> None:
        """Record the state of ``check`` (its ``since`` moves only when the state changes)."""
        with self._lock:
            before = self._checks.get(check)
            if before is not None and before.ok == ok and before.detail == detail:
                return
            self._checks[check] = CheckState(ok, detail, time.time())
            self._version += 1

    def snapshot(self) -> dict[str, CheckState]:
        """Every check by name (required checks that never reported: not ok, ``starting``)."""
        with self._lock:
            checks = dict(self._checks)
            waiting = self._required - checks.keys()
        for check in waiting:
            checks[check] = CheckState(False, STARTING, self._started)
        return dict(sorted(checks.items()))

    @property
    def starting(self) -> bool:
        """True while a required check has not reported yet."""
        with self._lock:
            return not self._required <= self._checks.keys()

    @property
    def ready(self) -> bool:
        """True when every required check has reported and every check is ok."""
        with self._lock:
            return self._required <= self._checks.keys() and all(
                state.ok for state in self._checks.values()
            )

    @property
    def version(self) -> int:
        """A number that changes whenever a check does (readers cache what they derive)."""
        return self._version
