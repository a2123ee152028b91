"""FastBodyRoute keeps FastAPI's semantics: the same answers, overrides, middleware, error order.

Each behaviour is checked against the same endpoint behind FastAPI's own APIRoute, and on the
service itself.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, Any

import pytest
from fastapi import APIRouter, Body, Depends, FastAPI, Header, HTTPException, Request, Response
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from pydantic import BaseModel, Field

from chainml.models.artifacts import ModelArtifact
from chainml.service.auth import require_key
from chainml.service.fastbody import MAX_BODY_DEPTH, FastBodyRoute, body_model, json_response
from tests.service.conftest import HEADERS, make_app, row

KEY = "k"


class Item(BaseModel):
    name: str = Field(max_length=8)
    values: list[int]


async def needs_key(x_key: Annotated[str | None, Header()] = None) -> None:
    if x_key is None:
        raise HTTPException(401, "no key")
    if x_key != KEY:
        raise HTTPException(403, "wrong key")


def small_app(route_class: type[APIRoute]) -> FastAPI:
    """Two endpoints (one model body, one embedded body) behind a key dependency."""
    router = APIRouter(route_class=route_class, dependencies=[Depends(needs_key)])

    @router.post("/item")
    async def item(body: Item, request: Request) -> Response:
        assert isinstance(body, Item) and request.method == "POST"
        return json_response({"name": body.name, "sum": sum(body.values)})

    @router.post("/embedded")
    async def embedded(item: Annotated[Item, Body(embed=True)]) -> dict[str, str]:
        return {"name": item.name}

    app = FastAPI()
    app.include_router(router)
    return app


GOOD = json.dumps({"name": "a", "values": [1, 2]}).encode()
INVALID = json.dumps({"name": "much too long", "values": ["x"]}).encode()
MALFORMED = b'{"name": "a", "values": [1,'
CASES = {
    "valid": (GOOD, "application/json"),
    "invalid": (INVALID, "application/json"),
    "malformed": (MALFORMED, "application/json"),
    "empty": (b"", "application/json"),
    "not an object": (b"[1, 2]", "application/json"),
    "text/plain": (GOOD, "text/plain"),
    "no content type": (GOOD, None),
    "+json": (GOOD, "application/merge-patch+json"),
    "embedded": (json.dumps({"item": {"name": "a", "values": []}}).encode(), "application/json"),
}


@pytest.mark.parametrize("path", ["/item", "/embedded"])
@pytest.mark.parametrize("key", [None, "wrong", KEY])
@pytest.mark.parametrize("case", list(CASES))
def test_answers_and_error_order_are_fastapis(case: str, key: str | None, path: str) -> None:
    """Status and body equal FastAPI's own route's, for every body and key (error order too:
    FastAPI reads the body before the key dependency runs)."""
    body, content_type = CASES[case]
    headers = {"x-key": key} if key else {}
    if content_type:
        headers["content-type"] = content_type
    answers = []
    for route_class in (APIRoute, FastBodyRoute):
        with TestClient(small_app(route_class)) as client:
            answer = client.post(path, content=body, headers=headers)
            answers.append((answer.status_code, comparable(answer.json())))
    assert answers[0] == answers[1]


def comparable(document: Any) -> Any:
    """An answer without the wording of a JSON syntax error (pydantic-core's, not json's)."""
    if isinstance(document, dict) and isinstance(document.get("detail"), list):
        for error in document["detail"]:
            if error.get("type") == "json_invalid":
                error.pop("ctx", None)
                error["loc"] = error["loc"][:1]  # the position is counted alike within one
    return document


def test_a_deep_body_is_refused_before_any_recursive_parser() -> None:
    deep = b"[" * 100_000 + b"]" * 100_000
    with TestClient(small_app(FastBodyRoute)) as client:
        for key in (None, KEY):  # the body is read first, as FastAPI does
            headers = {"content-type": "application/json", **({"x-key": key} if key else {})}
            answer = client.post("/item", content=deep, headers=headers)
            assert answer.status_code == 400
            assert f"at most {MAX_BODY_DEPTH}" in answer.json()["detail"]


def test_the_body_model_is_read_from_the_signature_only() -> None:
    async def plain(body: Item, request: Request) -> None: ...
    async def embedded(item: Annotated[Item, Body(embed=True)]) -> None: ...
    async def two(a: Item, b: Item) -> None: ...

    assert body_model(plain) is Item
    assert body_model(embedded) is None and body_model(two) is None


def test_dependency_overrides_are_honoured(client: TestClient, model: ModelArtifact) -> None:
    app = client.app
    assert isinstance(app, FastAPI)

    async def closed() -> None:  # e.g. a test closing the door
        raise HTTPException(418, "closed for the test")

    app.dependency_overrides[require_key] = closed
    try:
        answer = client.post("/v1/score", json={"features": row(model)}, headers=HEADERS)
        assert answer.status_code == 418, answer.text
        batch = client.post(
            "/v1/score/batch", json={"records": [{"features": row(model)}]}, headers=HEADERS
        )
        assert batch.status_code == 418, batch.text
    finally:
        app.dependency_overrides.clear()
    assert client.post("/v1/score", json={"features": row(model)}, headers=HEADERS).is_success


def test_application_middleware_wraps_the_scoring_routes(
    data_dir: Path, model: ModelArtifact
) -> None:
    app = make_app(data_dir, model.model_id)
    seen: list[str] = []

    @app.middleware("http")
    async def tag(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        seen.append(request.url.path)
        response = await call_next(request)
        response.headers["x-seen-by"] = "middleware"
        return response

    with TestClient(app) as client:
        answer = client.post("/v1/score", json={"features": row(model)}, headers=HEADERS)
        assert answer.status_code == 200 and answer.headers["x-seen-by"] == "middleware"
        refused = client.post(
            "/v1/score", content=MALFORMED, headers={"content-type": "application/json", **HEADERS}
        )
        assert refused.status_code == 422 and refused.headers["x-seen-by"] == "middleware"
    assert seen == ["/v1/score", "/v1/score"]


def test_the_service_checks_the_key_before_the_body(client: TestClient) -> None:
    """The key is checked first (at the edge, on headers), then the body's syntax, then fields."""
    json_type = {"content-type": "application/json"}
    keyed = {**json_type, **HEADERS}
    deep = b"[" * 10_000 + b"]" * 10_000
    for path in ("/v1/score", "/v1/score/batch"):
        assert client.post(path, content=MALFORMED, headers=json_type).status_code == 401
        assert (
            client.post(path, content=deep, headers={**json_type, "X-API-Key": "x"}).status_code
            == 403
        )
        assert client.post(path, content=MALFORMED, headers=keyed).status_code == 422
        assert client.post(path, content=deep, headers=keyed).status_code == 400
        assert client.post(path, json={"nothing": 1}, headers=HEADERS).status_code == 422
