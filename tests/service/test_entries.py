"""``GET /v1/log/entries``: raw leaves in JSON and binary, bounded ranges, read auth, and the
watchtower's sources (the API over a real server, tiles, a data directory) agreeing on them."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn
from fastapi.testclient import TestClient

from chainml.chain.devnode import free_port
from chainml.inference.optimistic.watch_sources import (
    ApiSource,
    DataWithheldError,
    LogDirSource,
    TilesSource,
    record_source,
)
from chainml.inference.optimistic.watch_wire import MAX_ENTRIES, decode_binary
from chainml.log.checkpoint import operator_signer
from chainml.log.decision_log import DecisionLog
from chainml.log.tile_export import export_tiles
from chainml.models.artifacts import ModelArtifact
from tests.service.conftest import HEADERS, make_app, row


def _log_records(client: TestClient, model: ModelArtifact, count: int) -> None:
    records = [{"features": row(model, float(i % 7))} for i in range(count)]
    answer = client.post("/v1/score/batch", headers=HEADERS, json={"records": records})
    assert answer.status_code == 200, answer.text


@pytest.fixture
def logged(data_dir: Path, model: ModelArtifact) -> Iterator[TestClient]:
    with TestClient(make_app(data_dir, model.model_id)) as client:
        _log_records(client, model, 40)
        yield client


def _leaves(data_dir: Path, start: int, end: int) -> list[bytes]:
    with DecisionLog.open(data_dir, read_only=True) as log:
        return [data for _, data in log.store.iter_leaves(start, end)]


def test_entries_in_json_and_binary_are_the_log_leaves(logged: TestClient, data_dir: Path) -> None:
    expected = _leaves(data_dir, 5, 25)
    answer = logged.get("/v1/log/entries?start=5&end=25")
    assert answer.status_code == 200
    document = answer.json()
    assert (document["start"], document["end"], document["size"]) == (5, 25, 40)
    assert [bytes.fromhex(e[2:]) for e in document["entries"]] == expected
    binary = logged.get(
        "/v1/log/entries?start=5&end=25", headers={"Accept": "application/octet-stream"}
    )
    assert binary.headers["content-type"] == "application/octet-stream"
    assert (binary.headers["x-log-start"], binary.headers["x-log-end"]) == ("5", "25")
    assert decode_binary(binary.content) == expected


BAD_RANGES = [
    ("start=10&end=10", 422, "greater than start"),
    ("start=10&end=3", 422, "greater than start"),
    (f"start=0&end={MAX_ENTRIES + 1}", 422, f"at most {MAX_ENTRIES}"),
    ("start=0&end=41", 404, "41"),
    ("start=-1&end=3", 422, "start"),
    ("start=0", 422, "end"),
    ("start=x&end=3", 422, "start"),
]


def test_bad_ranges_are_4xx_with_a_message(logged: TestClient) -> None:
    for query, status, words in BAD_RANGES:
        answer = logged.get(f"/v1/log/entries?{query}")
        assert answer.status_code == status, query
        assert words in str(answer.json()["detail"]), query


def test_entries_follow_the_read_access_rule(data_dir: Path, model: ModelArtifact) -> None:
    app = make_app(data_dir, model.model_id, public_reads=False)
    with TestClient(app) as client:
        _log_records(client, model, 3)
        assert client.get("/v1/log/entries?start=0&end=3").status_code == 401
        wrong = {"X-API-Key": "wrong-key-0123456789abcdef0123"}
        assert client.get("/v1/log/entries?start=0&end=3", headers=wrong).status_code == 403
        assert client.get("/v1/log/entries?start=0&end=3", headers=HEADERS).status_code == 200
        paths = client.get("/openapi.json", headers=HEADERS).json()["paths"]
        assert "/v1/log/entries" in paths


def test_truncated_binary_answers_are_refused() -> None:
    body = (5).to_bytes(4, "big") + b"abc"
    with pytest.raises(ValueError, match="truncated"):
        decode_binary(body)
    with pytest.raises(ValueError, match="more than 1"):
        decode_binary((1).to_bytes(4, "big") + b"a" + (1).to_bytes(4, "big") + b"b", 1)


def test_every_source_serves_the_same_records(
    data_dir: Path, model: ModelArtifact, tmp_path: Path
) -> None:
    app = make_app(data_dir, model.model_id)
    with TestClient(app) as client:
        _log_records(client, model, 600)
    expected = _leaves(data_dir, 0, 600)
    with DecisionLog.open(data_dir) as log:
        export_tiles(log.store, operator_signer(data_dir, log.store), tmp_path / "tiles", 555)
    tiles = record_source(str(tmp_path / "tiles"))
    assert isinstance(tiles, TilesSource)
    assert tiles.entries(250, 555) == expected[250:555]
    assert tiles.entries(3, 4) == expected[3:4]
    with pytest.raises(DataWithheldError, match="stop at size 555"):
        tiles.entries(500, 556)
    directory = record_source(str(data_dir))
    assert isinstance(directory, LogDirSource)
    try:
        assert directory.entries(0, 600) == expected
        with pytest.raises(DataWithheldError):
            directory.entries(590, 601)
    finally:
        directory.close()
    with Served(make_app(data_dir, model.model_id)) as url:
        api = record_source(url)
        assert isinstance(api, ApiSource)
        assert api.entries(0, 600) == expected
        with pytest.raises(DataWithheldError, match="HTTP 404"):
            api.entries(599, 700)
    with pytest.raises(DataWithheldError):  # the server is gone
        api.entries(0, 1)


class Served:
    """The app on a real loopback server (uvicorn in a thread), stopped on exit."""

    def __init__(self, app: object) -> None:
        port = free_port()
        config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error")  # type: ignore[arg-type]
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.url = f"http://127.0.0.1:{port}"

    def __enter__(self) -> str:
        self.thread.start()
        for _ in range(200):
            if self.server.started:
                return self.url
            threading.Event().wait(0.05)
        raise AssertionError("the server did not start")

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(10)
