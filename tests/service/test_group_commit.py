"""Group commit: concurrent requests share fsync'd batches; each answer is already durable."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest

from chainml.log.decision_log import DecisionLog
from chainml.log.record import request_id_from
from chainml.models.artifacts import ModelArtifact
from tests.service.conftest import HEADERS, make_app, row


@pytest.mark.parametrize("writer_process", [True, False], ids=["process", "thread"])
def test_concurrent_requests_share_batches(
    data_dir: Path, model: ModelArtifact, writer_process: bool
) -> None:
    app = make_app(data_dir, model.model_id, writer_process=writer_process)
    runtime = app.state.runtime
    seen_sizes: list[int] = []
    writer = runtime.committer.writer
    if writer_process:  # the batch is committed (seen from this process) before any answer
        original_receive = writer.receive

        def watched_receive():
            outcomes = original_receive()
            seen_sizes.append(runtime.log.store.size)
            return outcomes

        writer.receive = watched_receive
    else:
        original = runtime.log.append_encoded

        def watched(build):  # every acknowledged decision must be in the store when answered
            first = original(build)
            seen_sizes.append(runtime.log.store.size)
            return first

        runtime.log.append_encoded = watched

    async def main() -> list[httpx.Response]:
        runtime.start()
        try:
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
                bodies = [{"request_id": f"c-{i}", "features": row(model, i)} for i in range(200)]
                bodies.append({"request_id": "c-7", "features": row(model)})  # a repeated id
                return await asyncio.gather(
                    *(client.post("/v1/score", json=b, headers=HEADERS) for b in bodies)
                )
        finally:
            runtime.close()

    answers = asyncio.run(main())
    statuses = sorted(a.status_code for a in answers)
    assert statuses == [200] * 200 + [409]
    stats = runtime.committer.stats
    assert stats.decisions == 200
    assert stats.batches < 200 and stats.largest_batch > 1  # requests were grouped
    with DecisionLog.open(data_dir) as log:
        assert log.head().size == 200
        for answer in answers:
            if answer.status_code == 200:
                result = answer.json()
                assert log.index_of(request_id_from(result["request_id"])) == result["log_index"]
    assert seen_sizes[-1] == 200
