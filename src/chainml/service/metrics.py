"""The service's Prometheus metrics: prometheus_client instruments in a registry of its own.

Each :class:`Metrics` has its own :class:`~prometheus_client.CollectorRegistry` (not the
library's global one), so several services in one process (tests, an embedding application)
count apart. Everything is counted in the service's process: the log-writer child only
appends and fsyncs, and the committer counts a batch when the child reports it durable; the
chain process sends its anchoring status over its pipe and the service adds what changed, so
prometheus_client's multiprocess mode is not needed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.exposition import CONTENT_TYPE_LATEST, choose_encoder, generate_latest
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

LATENCY_BUCKETS = (0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
#: the Prometheus text format's media type (what a scrape without an Accept header gets)
CONTENT_TYPE = CONTENT_TYPE_LATEST
Labels = tuple[tuple[str, str], ...]
#: a gauge read at scrape time: help text, and a reader of its samples
GaugeReader = Callable[[], Iterable[tuple[Labels, float]]]
#: the counters without labels: metric name, the name :meth:`Metrics.count` knows, help text
_SCALAR_COUNTERS = (
    (
        "chainml_decisions_logged_total",
        "decisions_logged",
        "Decisions durably appended to the log.",
    ),
    ("chainml_log_commits_total", "commits", "Group-commit batches (one fsync each)."),
    ("chainml_anchors_total", "anchors", "Tree heads anchored on chain."),
    ("chainml_anchor_errors_total", "anchor_errors", "Failed anchoring attempts (retried)."),
    ("chainml_model_swaps_total", "model_swaps", "Serving-model changes after startup."),
    (
        "chainml_model_watch_errors_total",
        "model_watch_errors",
        "Failed polls of the model registry.",
    ),
)


class Metrics:
    """Counters, gauges and histograms of one service, in its own registry."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "chainml_http_requests_total",
            "HTTP requests by route and status.",
            ("route", "method", "status"),
            registry=self.registry,
        )
        self.latency = Histogram(
            "chainml_http_request_duration_seconds",
            "HTTP request latency (from request to response).",
            ("route",),
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.commit_seconds = Histogram(
            "chainml_log_commit_duration_seconds",
            "Time to append and fsync one group-commit batch.",
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.counters = {
            key: Counter(name, text, registry=self.registry) for name, key, text in _SCALAR_COUNTERS
        }
        self._request_children: dict[tuple[str, str, int], tuple[Counter, Histogram]] = {}
        #: gauges read at scrape time: name -> (help, reader); components add theirs
        self.gauges: dict[str, tuple[str, GaugeReader]] = {}
        self.registry.register(_ScrapeTimeGauges(self.gauges))

    def request(self, route: str, method: str, status: int, seconds: float) -> None:
        """Count a finished HTTP request and its latency."""
        key = (route, method, status)
        children = self._request_children.get(key)
        if children is None:  # labels() takes a lock and builds a key: once per label set
            children = (
                self.requests.labels(route, method, str(status)),
                self.latency.labels(route),
            )
            self._request_children[key] = children
        count, latency = children
        count.inc()
        latency.observe(seconds)

    def committed(self, decisions: int, seconds: float) -> None:
        """Count a durable batch of the group commit."""
        self.counters["commits"].inc()
        self.counters["decisions_logged"].inc(decisions)
        self.commit_seconds.observe(seconds)

    def count(self, name: str, amount: int = 1) -> None:
        """Add ``amount`` to the counter ``name`` (anchors, anchor_errors, model_swaps, ...)."""
        self.counters[name].inc(amount)

    def exposition(self, accept: str | None = None) -> tuple[bytes, str]:
        """Everything, in the format ``accept`` asks for (Prometheus text, or OpenMetrics)."""
        encode, content_type = choose_encoder(accept or "")
        if content_type.startswith("application/openmetrics-text"):
            return encode(self.registry), content_type
        return encode(_WithoutCreated(self.registry)), content_type

    def render(self) -> str:
        """Everything, in the Prometheus text format."""
        return generate_latest(_WithoutCreated(self.registry)).decode()


class _WithoutCreated(Collector):
    """``registry`` without the ``*_created`` samples, for the Prometheus text format.

    OpenMetrics carries a counter's creation time inside its family; the text format has no
    place for it, and prometheus_client would add one ``_created`` gauge per counter and
    histogram series: names the service never exposed. (prometheus_client's own switch for
    this, ``disable_created_metrics``, is process-wide, and the service is also a library.)
    """

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry

    def collect(self) -> Iterator[Metric]:
        for family in self.registry.collect():  # fresh objects at every collection
            family.samples = [s for s in family.samples if not s.name.endswith("_created")]
            yield family


class _ScrapeTimeGauges(Collector):
    """The gauges whose values are read when scraped (log size, serving model, anchoring)."""

    def __init__(self, gauges: dict[str, tuple[str, GaugeReader]]) -> None:
        self.gauges = gauges

    def collect(self) -> Iterator[Metric]:
        for name, (text, reader) in list(self.gauges.items()):
            family = Metric(name, text, "gauge")
            for labels, value in reader():
                family.add_sample(name, dict(labels), float(value))
            yield family
