"""Errors become answers by family: only what goes away by itself is a 503 with Retry-After."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from chainml.errors import (
    ChainMLError,
    ChainUnavailableError,
    ContractRevertError,
    DataDirectoryError,
    InvalidInputError,
    NotFoundError,
    ProofError,
    TransactionTimeoutError,
    VerificationError,
    WrongChainIdError,
)
from chainml.log.store import DuplicateRequestIdError
from chainml.models.artifacts import ModelArtifact, models_dir
from chainml.service.committer import ServiceStoppedError
from chainml.service.errors import INTERNAL_ERROR, NoModelError
from chainml.service.log_writer import LogWriterError
from tests.service.conftest import make_app

RAISED: dict[str, BaseException] = {
    "bad-input": InvalidInputError("first (4) must not exceed second (3)"),
    "not-found": NotFoundError("no leaf has request id 0x00"),
    "duplicate": DuplicateRequestIdError(b"\x01" * 32, 3),
    "verification": VerificationError("the artifact does not match the registry"),
    "proof": ProofError(index=1, size=2, expected=b"\x00" * 32, computed=None),
    "chain-down": ChainUnavailableError("http://127.0.0.1:1", "connection refused"),
    "revert": ContractRevertError("not the owner"),
    "wrong-chain": WrongChainIdError(1, 2),
    "not-mined": TransactionTimeoutError(b"\x01" * 32, 120.0),
    "no-model": NoModelError("fraud-screening"),
    "writer": LogWriterError("the log writer stopped"),
    "stopping": ServiceStoppedError(),
    "data-dir": DataDirectoryError("/data", "decisions.sqlite is read-only"),
    "chainml": ChainMLError("log store grew behind the log's back"),
    "bug": RuntimeError("secret internals at 0xdeadbeef"),
}

#: name -> status, Retry-After (None: absent)
EXPECTED: dict[str, tuple[int, str | None]] = {
    "bad-input": (422, None),
    "not-found": (404, None),
    "duplicate": (409, None),
    "verification": (409, None),
    "proof": (409, None),
    "chain-down": (503, "5"),
    "revert": (502, None),
    "wrong-chain": (502, None),
    "not-mined": (504, None),
    "no-model": (503, "2"),
    "writer": (503, "1"),
    "stopping": (503, "1"),
    "data-dir": (500, None),
    "chainml": (500, None),
    "bug": (500, None),
}


@pytest.fixture(scope="module")
def failing(
    tmp_path_factory: pytest.TempPathFactory, stored_models: tuple[Path, list[ModelArtifact]]
) -> Iterator[TestClient]:
    """A service with a route that raises the error it is named after."""
    source, models = stored_models
    data_dir = tmp_path_factory.mktemp("errors") / "data"
    shutil.copytree(models_dir(source), models_dir(data_dir))
    app = make_app(data_dir, models[0].model_id)

    async def fail(name: str) -> None:
        raise RAISED[name]

    app.add_api_route("/fail/{name}", fail)
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_family_has_its_status(failing: TestClient, name: str) -> None:
    answer = failing.get(f"/fail/{name}")
    status, retry_after = EXPECTED[name]
    assert answer.status_code == status, answer.text
    assert answer.headers.get("retry-after") == retry_after
    detail = answer.json()["detail"]  # always JSON, always with a message
    assert detail
    if name == "bug":
        assert detail == INTERNAL_ERROR and "secret" not in answer.text
    elif name not in ("bad-input", "duplicate"):
        assert detail == str(RAISED[name])
