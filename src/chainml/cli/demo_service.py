"""The service step of ``chainml demo``: a held-out stream scored through the real API.

The scoring service (the FastAPI app ``chainml serve`` runs) is driven in process: every
decision is logged durably before its answer, the log is anchored in the background while the
stream runs, and the approved model is the one the registry names.
"""

from __future__ import annotations

import secrets
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

from chainml.chain import Env
from chainml.cli.demo_models import USE
from chainml.cli.summary import Summary
from chainml.config import Secret, Settings
from chainml.errors import VerificationError
from chainml.models.dataset import Dataset

BATCH = 5_000
ANCHOR_EVERY = 20_000


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


def score_stream(
    env: Env, data_dir: Path, stream: Dataset, out: Console, summary: Summary
) -> StreamResult:
    """POST the stream to /v1/score/batch in batches; every answer is durably logged first."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # starlette asks for httpx2 on import; nothing to act on
        from fastapi.testclient import TestClient

    from chainml.service import ServiceOptions, create_app

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
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn())
    started = time.perf_counter()
    with (
        TestClient(app) as client,
        Progress(*columns, console=out, transient=True) as progress,
    ):
        task = progress.add_task("scoring through POST /v1/score/batch", total=stream.rows)
        for start in range(0, stream.rows, BATCH):
            rows = stream.features[start : start + BATCH].tolist()
            ids = [f"demo-{run}-{start + i}" for i in range(len(rows))]
            records = [{"request_id": i, "features": r} for i, r in zip(ids, rows, strict=True)]
            response = client.post(
                "/v1/score/batch", json={"records": records}, headers={"X-API-Key": key}
            )
            if response.status_code != 200:
                raise VerificationError(
                    f"the service answered {response.status_code}: {response.text[:300]}"
                )
            body: dict[str, Any] = response.json()
            result.model_id = body["model_id"]
            for item in body["results"]:
                result.logits.append(float(item["logit"]))
                result.decided.append(int(item["label"]))
            result.request_ids.extend(ids)
            progress.advance(task, len(rows))
    result.labels = stream.labels.tolist()
    result.seconds = time.perf_counter() - started
    rate = stream.rows / max(result.seconds, 1e-9)
    frauds = int(np.sum(stream.labels))
    flagged = np.asarray(result.decided) == 1
    caught = int(np.sum(flagged & (stream.labels == 1)))
    out.print(
        f"[green]✓[/] service: {stream.rows:,} held-out records scored and logged durably in "
        f"{result.seconds:.1f} s ({rate:,.0f}/s) by model {result.model_id[:14]}…; "
        f"{int(flagged.sum()):,} flagged, {caught} of {frauds} frauds among them"
    )
    summary.add("decisions scored by the service", f"{stream.rows:,} ({rate:,.0f}/s)")
    summary.add("flagged", f"{int(flagged.sum()):,} ({caught} of {frauds} frauds)")
    return result
