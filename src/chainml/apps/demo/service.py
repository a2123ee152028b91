"""The demo's service step: a held-out stream scored through the real scoring API.

The scoring service (the FastAPI app ``chainml serve`` runs) listens on a free loopback port
in this process (it shares the demo's chain) and is driven over real HTTP with the standard
library, so the demo needs nothing beyond the ``serve`` extra: every decision is logged durably
before its answer, the log is anchored in the background while the stream runs, and the
approved model is the one the registry names.
"""

from __future__ import annotations

import json
import secrets
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from chainml import bounded_json
from chainml.apps.demo.models import USE
from chainml.chain import Env
from chainml.config import Secret, Settings
from chainml.errors import VerificationError
from chainml.models.dataset import Dataset

BATCH = 5_000
ANCHOR_EVERY = 20_000
MAX_ANSWER_BYTES = 64 * 1024 * 1024  # a batch's answer is about 250 bytes a record


@dataclass
class StreamResult:
    """What the stream produced: per-row logits and labels, timings, anchors seen."""

    logits: list[float] = field(default_factory=list)
    labels: list[int] = field(default_factory=list)
    decided: list[int] = field(default_factory=list)  # the service's label per row
    request_ids: list[str] = field(default_factory=list)
    seconds: float = 0.0
    started_at: float = 0.0
    model_id: str = ""

    @property
    def rows(self) -> int:
        """Records scored."""
        return len(self.decided)

    @property
    def rate(self) -> float:
        """Records scored per second."""
        return self.rows / max(self.seconds, 1e-9)

    @property
    def frauds(self) -> int:
        """Frauds in the stream."""
        return int(np.sum(np.asarray(self.labels, dtype=np.int64)))

    @property
    def flagged(self) -> int:
        """Records the service flagged."""
        return int(np.sum(np.asarray(self.decided, dtype=np.int64) == 1))

    @property
    def caught(self) -> int:
        """Frauds among the flagged records."""
        flagged = np.asarray(self.decided, dtype=np.int64) == 1
        return int(np.sum(flagged & (np.asarray(self.labels, dtype=np.int64) == 1)))


def score_stream(
    env: Env,
    data_dir: Path,
    stream: Dataset,
    progress: Callable[[int], None] | None = None,
) -> StreamResult:
    """POST the stream to /v1/score/batch in batches; every answer is durably logged first.

    ``progress`` is called with the number of records each batch scored.
    """
    from chainml.service import ServiceOptions, create_app
    from chainml.service.server import LoopbackServer

    key = secrets.token_urlsafe(24)
    options = ServiceOptions(
        use=USE,
        api_keys=(Secret(key),),
        anchor_every=ANCHOR_EVERY,
        anchor_seconds=3600.0,
        watch_seconds=0.5,
    )
    app = create_app(Settings(data_dir=data_dir), options, env=env)
    result = StreamResult(started_at=time.time())
    run = f"{int(result.started_at * 1000):x}"  # request ids stay unique across demo runs
    started = time.perf_counter()
    with LoopbackServer(app) as url:
        for start in range(0, stream.rows, BATCH):
            rows = stream.features[start : start + BATCH].tolist()
            ids = [f"demo-{run}-{start + i}" for i in range(len(rows))]
            records = [{"request_id": i, "features": r} for i, r in zip(ids, rows, strict=True)]
            body = _post(f"{url}/v1/score/batch", {"records": records}, key)
            result.model_id = body["model_id"]
            for item in body["results"]:
                result.logits.append(float(item["logit"]))
                result.decided.append(int(item["label"]))
            result.request_ids.extend(ids)
            if progress is not None:
                progress(len(rows))
    result.labels = stream.labels.tolist()
    result.seconds = time.perf_counter() - started
    return result


def _post(url: str, document: dict[str, Any], key: str) -> dict[str, Any]:
    """POST ``document`` as JSON; the service's answer (VerificationError unless 200)."""
    request = urllib.request.Request(
        url,
        json.dumps(document).encode(),
        {"Content-Type": "application/json", "X-API-Key": key},
    )
    try:
        with urllib.request.urlopen(request, timeout=300) as answer:
            data = answer.read()
    except urllib.error.HTTPError as err:
        raise VerificationError(
            f"the service answered {err.code}: {err.read()[:300].decode(errors='replace')}"
        ) from err
    body: dict[str, Any] = bounded_json.loads(
        data, what="the service's answer", max_bytes=MAX_ANSWER_BYTES
    )
    return body
