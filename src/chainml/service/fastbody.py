"""JSON bodies parsed and validated in one pass, within depth limits, after the route's guards.

FastAPI reads a body with ``json.loads`` and then validates the Python objects: for a batch of
1,000 records that is about 10 ms of the event loop's time, against under 4 ms for pydantic's
own JSON parser validating as it parses. :class:`FastBodyRoute` makes FastAPI do the latter
without changing anything it does around it: its request's ``json()`` returns the validated
model instance, which FastAPI's own validation then passes through untouched (pydantic does not
revalidate instances).

No request reaches a parser that recurses without bound: pydantic-core parses every body (it
stops by itself at about 200 levels); a body it cannot parse that is nested deeper than
:data:`MAX_BODY_DEPTH` is a 400, and the standard library's ``json.loads`` never runs (py-evm
raises the recursion limit to 100,000, so it would overflow the C stack on a 200 KB body). A
body that does not validate is handed to FastAPI as Python objects, which reports the errors
as usual (422 naming the field, malformed JSON at its position).

A route's :attr:`FastBodyRoute.guards` (e.g. the API-key check) run before the body is read:
a request without a valid key gets its 401/403 before any parse work. A request that will
succeed also skips FastAPI's request handler: when the body validates and every dependency of
the route is guarded, the endpoint is called directly with the model and the request. That
handler (content-type parsing, dependency solving, telemetry) costs the event loop about as
much as scoring a record. When the application overrides any of the route's dependencies
(``app.dependency_overrides``, e.g. in tests), nothing is skipped: FastAPI's handler solves
them, with the overrides.
"""

from __future__ import annotations

import inspect
import json
import re
from collections.abc import Awaitable, Callable, Coroutine, Iterator, Mapping
from typing import Any, ClassVar

import pydantic_core
from fastapi import HTTPException, Request, Response
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from pydantic import BaseModel, ValidationError

from chainml.bounded_json import MAX_DEPTH, nesting_depth

_JSON = "application/json"
#: Deepest unparsable body answered 422 (the service's documents nest a few levels, metadata at
#: most :data:`~chainml.service.schemas.MAX_METADATA_DEPTH`); deeper is a 400.
MAX_BODY_DEPTH = MAX_DEPTH
_POSITION = re.compile(r"at line (\d+) column (\d+)")


class _FastBodyRequest(Request):
    """A request whose ``json()`` is the body already validated as ``model``, when it is valid."""

    model: type[BaseModel]

    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            body = await self.body()
            try:
                self._json = self.model.model_validate_json(body)
            except ValidationError:  # let FastAPI validate it and report the errors as usual
                self._json = parse_body(body)
        return self._json


def parse_body(body: bytes) -> Any:
    """``body`` as Python objects, for FastAPI to validate and report on.

    pydantic-core parses it (in Rust, never deeper than its own limit of about 200 levels, so
    nothing after it recurses deeply either). A body it cannot parse is HTTPException(400) when
    nested deeper than :data:`MAX_BODY_DEPTH` (counted by a scan that does not recurse) and
    else ``json.JSONDecodeError`` (FastAPI answers 422 at its position).
    """
    try:
        return pydantic_core.from_json(body)
    except ValueError as err:
        depth = nesting_depth(body)
        if depth > MAX_BODY_DEPTH:
            raise HTTPException(
                400, f"the request body is nested {depth} levels deep; at most {MAX_BODY_DEPTH}"
            ) from None
        text = body.decode("utf-8", "replace")
        raise json.JSONDecodeError(str(err), text, _offset(text, str(err))) from None


def _offset(text: str, message: str) -> int:
    """The character offset that pydantic-core's "at line L column C" names (0 if none)."""
    found = _POSITION.search(message)
    if found is None:
        return 0
    line, column = int(found.group(1)), int(found.group(2))
    lines = text.split("\n")
    return min(len(text), sum(len(row) + 1 for row in lines[: line - 1]) + max(column - 1, 0))


class FastBodyRoute(APIRoute):
    """A route whose pydantic-model body is parsed and validated by pydantic-core in one pass."""

    #: dependencies the route checks itself before reading the body, each with a function that
    #: raises the dependency's own error (an HTTPException) when the request would not pass
    guards: ClassVar[Mapping[Callable[..., Any], Callable[[Request], None]]] = {}

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        """FastAPI's handler, given requests that parse the body into the route's model."""
        handler = super().get_route_handler()
        model = self.body_field.field_info.annotation if self.body_field is not None else None
        if not (isinstance(model, type) and issubclass(model, BaseModel)):
            return handler
        request_class = type("FastBodyRequest", (_FastBodyRequest,), {"model": model})
        direct = self._direct_call(model)
        declared = [d.call for d in self.dependant.dependencies if d.call is not None]
        guards = [self.guards[call] for call in declared if call in self.guards]
        calls = frozenset(_calls(self.dependant))

        async def fast_handler(request: Request) -> Response:
            fast = request_class(request.scope, request.receive)
            if self._overridden(fast, calls):
                return await handler(fast)  # FastAPI solves every dependency, with overrides
            for guard in guards:
                guard(fast)  # 401/403 before the body is read
            if direct is not None and await _valid_json(fast, model):
                return await direct(fast)
            return await handler(fast)

        return fast_handler

    def _overridden(self, request: Request, calls: frozenset[Callable[..., Any]]) -> bool:
        """Whether the application overrides any dependency of this route.

        The application is the request's (FastAPI may include a router's routes without
        giving them the application as their overrides provider), or the route's provider.
        """
        for provider in (request.scope.get("app"), self.dependency_overrides_provider):
            overrides: Mapping[Any, Any] = getattr(provider, "dependency_overrides", None) or {}
            if overrides and any(call in overrides for call in calls):
                return True
        return False

    def _direct_call(
        self, model: type[BaseModel]
    ) -> Callable[[_FastBodyRequest], Awaitable[Response]] | None:
        """The endpoint as ``call(request)``, or None when FastAPI must solve its parameters.

        Only an async endpoint whose parameters are the body and (optionally) the request, and
        whose dependencies are all guarded, is called directly; it must return a Response.
        """
        dependant = self.dependant
        plain = not (
            dependant.path_params
            or dependant.query_params
            or dependant.header_params
            or dependant.cookie_params
            or dependant.websocket_param_name
            or dependant.http_connection_param_name
            or dependant.response_param_name
            or dependant.background_tasks_param_name
            or dependant.security_scopes_param_name
        )
        guarded = all(d.call in self.guards for d in dependant.dependencies)
        if not (plain and len(dependant.body_params) == 1 and guarded):
            return None
        endpoint = self.endpoint
        body_name = dependant.body_params[0].name
        request_name = dependant.request_param_name

        async def call(request: _FastBodyRequest) -> Response:
            kwargs: dict[str, Any] = {body_name: request._json}
            if request_name is not None:
                kwargs[request_name] = request
            answer = await endpoint(**kwargs)
            if not isinstance(answer, Response):
                raise TypeError(f"{self.path}: a directly called endpoint must return a Response")
            return answer

        return call if inspect.iscoroutinefunction(endpoint) else None


def _calls(dependant: Dependant) -> Iterator[Callable[..., Any]]:
    """Every dependency callable of ``dependant``, however deep."""
    for sub in dependant.dependencies:
        if sub.call is not None:
            yield sub.call
        yield from _calls(sub)


async def _valid_json(request: _FastBodyRequest, model: type[BaseModel]) -> bool:
    """Whether the body is declared JSON and validates as ``model``."""
    content_type = request.headers.get("content-type")
    if content_type is None or content_type.lower() != _JSON:
        return False  # FastAPI decides what a missing or unusual content type means
    try:
        parsed = await request.json()
    except HTTPException:  # too large or too deep: FastAPI would re-raise it too
        raise
    except Exception:  # malformed JSON, a client gone: FastAPI's handler answers as usual
        return False
    return isinstance(parsed, model)


def json_response(document: Any) -> Response:
    """``document`` as compact JSON (pydantic-core's encoder: about 4x ``json.dumps``)."""
    return Response(pydantic_core.to_json(document), media_type="application/json")
