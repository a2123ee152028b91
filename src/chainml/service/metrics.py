"""The service's metrics in the Prometheus text format (version 0.0.4), without dependencies."""

from __future__ import annotations

import bisect
import threading
from collections import defaultdict
from collections.abc import Callable, Iterable

LATENCY_BUCKETS = (0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
Labels = tuple[tuple[str, str], ...]
#: the counters without labels: metric name, attribute of :class:`Metrics`, help text
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


class Histogram:
    """Cumulative buckets, a count and a sum, per label set."""

    def __init__(self, buckets: tuple[float, ...] = LATENCY_BUCKETS) -> None:
        self.buckets = buckets
        self.counts: dict[Labels, list[int]] = {}
        self.sums: dict[Labels, float] = defaultdict(float)

    def observe(self, labels: Labels, value: float) -> None:
        """Record one observation."""
        counts = self.counts.get(labels)
        if counts is None:
            counts = self.counts[labels] = [0] * (len(self.buckets) + 1)
        counts[bisect.bisect_left(self.buckets, value)] += 1
        self.sums[labels] += value


class Metrics:
    """Counters, gauges and histograms of one service; rendered by :meth:`render`."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.requests: dict[Labels, int] = defaultdict(int)
        self.latency = Histogram()
        self.commit_seconds = Histogram()
        self.decisions_logged = 0
        self.commits = 0
        self.anchors = 0
        self.anchor_errors = 0
        self.model_swaps = 0
        self.model_watch_errors = 0
        #: gauges read at scrape time: name -> (help, reader)
        self.gauges: dict[str, tuple[str, Callable[[], Iterable[tuple[Labels, float]]]]] = {}

    def request(self, route: str, method: str, status: int, seconds: float) -> None:
        """Count a finished HTTP request and its latency."""
        with self._lock:
            self.requests[(("route", route), ("method", method), ("status", str(status)))] += 1
            self.latency.observe((("route", route),), seconds)

    def committed(self, decisions: int, seconds: float) -> None:
        """Count a durable batch of the group commit."""
        with self._lock:
            self.commits += 1
            self.decisions_logged += decisions
            self.commit_seconds.observe((), seconds)

    def count(self, name: str) -> None:
        """Add one to the counter attribute ``name`` (anchors, anchor_errors, ...)."""
        with self._lock:
            setattr(self, name, getattr(self, name) + 1)

    def render(self) -> str:
        """Everything, in the Prometheus text exposition format."""
        with self._lock:
            lines: list[str] = []
            _counter(
                lines,
                "chainml_http_requests_total",
                "HTTP requests by route and status.",
                self.requests.items(),
            )
            _histogram(
                lines,
                "chainml_http_request_duration_seconds",
                "HTTP request latency (from request to response).",
                self.latency,
            )
            _histogram(
                lines,
                "chainml_log_commit_duration_seconds",
                "Time to append and fsync one group-commit batch.",
                self.commit_seconds,
            )
            for name, attribute, text in _SCALAR_COUNTERS:
                _counter(lines, name, text, [((), getattr(self, attribute))])
            gauges = list(self.gauges.items())
        for name, (text, reader) in gauges:  # readers may touch the store: outside the lock
            _family(lines, name, "gauge", text, reader())
        return "\n".join(lines) + "\n"


def _labels(labels: Labels) -> str:
    if not labels:
        return ""
    inner = ",".join(f'{k}="{_escape(v)}"' for k, v in labels)
    return "{" + inner + "}"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def _family(
    lines: list[str], name: str, kind: str, text: str, samples: Iterable[tuple[Labels, float]]
) -> None:
    lines += [f"# HELP {name} {text}", f"# TYPE {name} {kind}"]
    lines += [f"{name}{_labels(labels)} {_number(value)}" for labels, value in samples]


def _counter(
    lines: list[str], name: str, text: str, samples: Iterable[tuple[Labels, float]]
) -> None:
    _family(lines, name, "counter", text, samples)


def _histogram(lines: list[str], name: str, text: str, histogram: Histogram) -> None:
    lines += [f"# HELP {name} {text}", f"# TYPE {name} histogram"]
    for labels, counts in sorted(histogram.counts.items()):
        running = 0
        for bound, count in zip((*histogram.buckets, float("inf")), counts, strict=True):
            running += count
            le = "+Inf" if bound == float("inf") else repr(bound)
            lines.append(f"{name}_bucket{_labels((*labels, ('le', le)))} {running}")
        lines.append(f"{name}_sum{_labels(labels)} {histogram.sums[labels]!r}")
        lines.append(f"{name}_count{_labels(labels)} {running}")
