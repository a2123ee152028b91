"""Several JSON-RPC URLs of one chain behind one backend: failover, back-off, health, consistency.

The :class:`EndpointPool` decides which node answers a request. It keeps the configured order
as a preference (the first URL is the primary, so consecutive reads usually come from one node
and agree with each other) and moves past an endpoint that

* failed to answer (refused connection, timeout, HTTP 429/5xx, not JSON): it rests for a
  back-off that doubles with each failure, or for as long as its ``Retry-After`` asked;
* is *stale*: its head is more than ``max_lag_blocks`` behind the best head seen by the last
  health check (every ``health_interval`` seconds, only with more than one URL);
* serves another chain: refused for good with :class:`EndpointChainIdError` naming it.

When every usable endpoint rests, all are tried anyway, soonest-rested first: failing
without asking would turn a short outage into a certain error. One sweep over the endpoints is
one attempt of :func:`chainml.retry.request_policy`; a node's JSON-RPC error answer is an answer
(a revert is the same on every node) and is never failed over. URLs are only ever shown
redacted (:func:`redact_url`): API keys live in them.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from chainml.errors import ChainUnavailableError, InvalidInputError, WrongChainIdError

#: an endpoint that failed rests this long, doubling per failure in a row up to the most
FIRST_REST = 0.5
MOST_REST = 60.0
#: defaults of the settings ``rpc_max_lag_blocks`` and ``rpc_health_interval``
DEFAULT_MAX_LAG_BLOCKS = 16
DEFAULT_HEALTH_INTERVAL = 15.0
#: the longest one health probe may take: a hanging node must not eat a request's budget
HEALTH_PROBE_SECONDS = 2.0

#: Prometheus gauges of node health: name -> (help, key of :meth:`EndpointPool.samples`)
ENDPOINT_GAUGES = {
    "chainml_rpc_endpoint_up": (
        "1 when the RPC URL is in use (answering, not resting, not behind, same chain).",
        "up",
    ),
    "chainml_rpc_endpoint_blocks_behind": (
        "Blocks the RPC URL's head was behind the best URL's at the last health check.",
        "behind",
    ),
    "chainml_rpc_endpoint_failures": ("Failures in a row of the RPC URL.", "failures"),
}

Labels = tuple[tuple[str, str], ...]
#: ``send(endpoint, method, params, deadline)``: one request to one endpoint, no retries
Send = Callable[["Endpoint", str, list[Any], float], Any]


def redact_url(url: str) -> str:
    """Drop credentials and query strings (API keys live there) from a URL."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def split_urls(value: str) -> list[str]:
    """The URLs of a ``CHAINML_RPC`` / ``--rpc`` value: comma-separated, blanks ignored."""
    urls = [part.strip() for part in value.split(",") if part.strip()]
    if not urls:
        raise InvalidInputError("no RPC URL given (an empty --rpc / CHAINML_RPC value)")
    for url in urls:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise InvalidInputError(
                f"an RPC URL starts with http:// or https:// and names a host, "
                f"got {redact_url(url)!r}"
            )
    return urls


class EndpointChainIdError(WrongChainIdError):
    """One of several RPC URLs serves another chain than the others (or than expected)."""

    def __init__(self, url: str, expected: int, actual: int) -> None:
        super().__init__(expected=expected, actual=actual)
        self.url = url
        self.args = (
            f"the node at {url} serves chain id {actual}, but chain id {expected} was "
            "expected: it is refused. Hint: every --rpc / CHAINML_RPC URL must reach the "
            "same chain (and the --network or CHAINML_CHAIN_ID setting, when given).",
        )

    def __str__(self) -> str:
        return str(self.args[0])


@dataclass
class Endpoint:
    """One URL and what the pool knows of it (mutated under the pool's lock)."""

    url: str
    shown: str
    chain_id: int | None = None
    head: int | None = None
    rest_until: float = 0.0
    failures: int = 0
    refused: EndpointChainIdError | None = None


class EndpointPool:
    """The endpoints of one chain, tried in preference order; see the module docstring."""

    def __init__(
        self,
        urls: Sequence[str],
        send: Send,
        *,
        max_lag_blocks: int = DEFAULT_MAX_LAG_BLOCKS,
        health_interval: float = DEFAULT_HEALTH_INTERVAL,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not urls:
            raise InvalidInputError("an endpoint pool needs at least one URL")
        self.endpoints = [Endpoint(url, redact_url(url)) for url in urls]
        self._send = send
        self._max_lag = max_lag_blocks
        self._interval = health_interval
        self._clock = clock
        self._lock = threading.Lock()
        self._next_check = 0.0
        self.chain_id: int | None = None

    @property
    def shown(self) -> str:
        """The URLs, redacted, comma-separated."""
        return ", ".join(endpoint.shown for endpoint in self.endpoints)

    # -- opening -------------------------------------------------------------------------

    def open(self, deadline: float, expected_chain_id: int | None = None) -> int:
        """Learn the chain id from every endpoint that answers; return it.

        Every URL must serve one chain (``expected_chain_id`` when given, else the first
        answer's): a URL serving another is :class:`EndpointChainIdError`, naming it. A URL
        that does not answer now is checked when it first does, before it serves anything.
        None answering: the last :class:`ChainUnavailableError`.
        """
        if self.chain_id is None:
            self.chain_id = expected_chain_id
        last: ChainUnavailableError | None = None
        for endpoint in self.endpoints:
            try:
                self._verify(endpoint, deadline)
            except ChainUnavailableError as err:
                self._failed(endpoint, err)
                last = err
            if endpoint.refused is not None:
                if len(self.endpoints) == 1:  # keep the plain error a single URL always had
                    raise WrongChainIdError(
                        expected=endpoint.refused.expected, actual=endpoint.refused.actual
                    )
                raise endpoint.refused
        if not any(e.chain_id is not None and e.refused is None for e in self.endpoints):
            assert last is not None  # nobody answered: an expected chain id proves nothing
            raise last
        assert self.chain_id is not None
        return self.chain_id

    def _verify(self, endpoint: Endpoint, deadline: float) -> None:
        """Ask ``endpoint`` its chain id (once) and refuse it if it is another chain's."""
        if endpoint.chain_id is not None:
            return
        answer = self._send(endpoint, "eth_chainId", [], deadline)
        actual = _quantity(endpoint, "eth_chainId", answer)
        with self._lock:
            endpoint.chain_id = actual
            if self.chain_id is None:
                self.chain_id = actual
            elif actual != self.chain_id:
                endpoint.refused = EndpointChainIdError(endpoint.shown, self.chain_id, actual)

    # -- requests ------------------------------------------------------------------------

    def request(self, method: str, params: list[Any], deadline: float) -> Any:
        """One sweep: ask the usable endpoints in order until one answers.

        Raises the last endpoint's :class:`ChainUnavailableError` when none answered (the
        retry policy around the sweep decides whether to sweep again).
        """
        if len(self.endpoints) > 1:
            self._check_health(deadline)
        last: ChainUnavailableError | None = None
        for endpoint in self._order():
            try:
                self._verify(endpoint, deadline)
                if endpoint.refused is not None:
                    continue
                result = self._send(endpoint, method, params, deadline)
            except ChainUnavailableError as err:
                self._failed(endpoint, err)
                last = err
                continue
            self._answered(endpoint)
            return result
        if last is None:  # every endpoint is refused: say which and why
            refused = next(e.refused for e in self.endpoints if e.refused is not None)
            assert refused is not None
            raise refused
        raise last

    def _order(self) -> list[Endpoint]:
        """Usable endpoints, rested and fresh first (in configured order), resting ones last."""
        now = self._clock()
        with self._lock:
            live = [e for e in self.endpoints if e.refused is None]
            heads = [e.head for e in live if e.head is not None]
            best = max(heads, default=None)
            fresh = [
                e for e in live if best is None or e.head is None or best - e.head <= self._max_lag
            ]
            ready = [e for e in fresh if e.rest_until <= now]
            resting = sorted((e for e in fresh if e.rest_until > now), key=lambda e: e.rest_until)
            return ready + resting

    def _failed(self, endpoint: Endpoint, err: ChainUnavailableError) -> None:
        asked = getattr(err, "retry_after", None)
        with self._lock:
            endpoint.failures += 1
            rest = min(MOST_REST, FIRST_REST * 2 ** (endpoint.failures - 1))
            if isinstance(asked, int | float):
                rest = max(rest, float(asked))
            endpoint.rest_until = self._clock() + rest

    def _answered(self, endpoint: Endpoint) -> None:
        if endpoint.failures:
            with self._lock:
                endpoint.failures = 0
                endpoint.rest_until = 0.0

    # -- health --------------------------------------------------------------------------

    def _check_health(self, deadline: float) -> None:
        """Every ``health_interval`` s, ask every endpoint its head (and chain id, once)."""
        now = self._clock()
        with self._lock:
            if now < self._next_check:
                return
            self._next_check = now + self._interval  # one thread checks; the others go on
        for endpoint in self.endpoints:
            if endpoint.refused is not None or endpoint.rest_until > now:
                continue
            probe = min(deadline, time.monotonic() + HEALTH_PROBE_SECONDS)
            try:
                self._verify(endpoint, probe)
                answer = self._send(endpoint, "eth_blockNumber", [], probe)
                head = _quantity(endpoint, "eth_blockNumber", answer)
            except ChainUnavailableError as err:
                self._failed(endpoint, err)
                continue
            with self._lock:
                endpoint.head = head

    def samples(self, key: str) -> list[tuple[Labels, float]]:
        """One gauge of :data:`ENDPOINT_GAUGES` per URL (redacted): ``up``, ``behind``, ..."""
        rows: list[tuple[Labels, float]] = []
        for row in self.health():
            if key == "up":
                stale = row["behind"] is not None and row["behind"] > self._max_lag
                up = row["refused"] is None and not row["resting_seconds"] and not stale
                value = float(up)
            else:
                value = float(row[key] or 0)
            rows.append(((("url", str(row["url"])),), value))
        return rows

    def health(self) -> list[dict[str, Any]]:
        """What the pool knows of each endpoint (URLs redacted), for status and metrics."""
        now = self._clock()
        with self._lock:
            best = max((e.head for e in self.endpoints if e.head is not None), default=None)
            return [
                {
                    "url": e.shown,
                    "chain_id": e.chain_id,
                    "head": e.head,
                    "behind": None if best is None or e.head is None else best - e.head,
                    "resting_seconds": max(0.0, e.rest_until - now),
                    "failures": e.failures,
                    "refused": None if e.refused is None else str(e.refused),
                }
                for e in self.endpoints
            ]


def _quantity(endpoint: Endpoint, method: str, answer: Any) -> int:
    """A node's hex quantity, bounded before it is parsed; anything else makes it unusable."""
    if isinstance(answer, str) and answer.startswith("0x") and 2 < len(answer) <= 66:
        try:
            return int(answer, 16)
        except ValueError:
            pass
    shown = repr(answer)[:40]
    raise ChainUnavailableError(endpoint.shown, f"{method} answered {shown}, not a hex quantity")
