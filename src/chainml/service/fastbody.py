"""JSON bodies parsed and validated in one pass, and JSON answers encoded, by pydantic-core.

FastAPI reads a body with ``json.loads`` and then validates the Python objects: for a batch of
1,000 records that is about 10 ms of the event loop's time, against under 4 ms for pydantic's
own JSON parser validating as it parses. :class:`FastBodyRoute` makes FastAPI do the latter
without changing anything it does around it: its request's ``json()`` returns the validated
model instance, which FastAPI's own validation then passes through untouched (pydantic does not
revalidate instances). A body that does not validate is parsed the usual way instead, so every
error (422 naming the field, malformed JSON at its byte position, auth before validation) is
exactly FastAPI's.

A request that will succeed also skips FastAPI's request handler: when the body is JSON that
validates and every dependency of the route is one that the route knows will pass
(:attr:`FastBodyRoute.skippable`, e.g. a valid API key), the endpoint is called directly with
the model and the request. That handler (content-type parsing, dependency solving, telemetry)
costs the event loop about as much as scoring a record. Any other request goes through
FastAPI's handler unchanged, so errors and their order stay FastAPI's.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from typing import Any, ClassVar

import pydantic_core
from fastapi import HTTPException, Request, Response
from fastapi.routing import APIRoute
from pydantic import BaseModel, ValidationError

_JSON = "application/json"


class _FastBodyRequest(Request):
    """A request whose ``json()`` is the body already validated as ``model``, when it is valid."""

    model: type[BaseModel]

    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            body = await self.body()
            try:
                self._json = self.model.model_validate_json(body)
            except ValidationError:  # let FastAPI parse it and report the errors as usual
                self._json = json.loads(body)
        return self._json


class FastBodyRoute(APIRoute):
    """A route whose pydantic-model body is parsed and validated by pydantic-core in one pass."""

    #: dependencies that a request may skip, each with a check that it would pass them
    skippable: ClassVar[Mapping[Callable[..., Any], Callable[[Request], bool]]] = {}

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        """FastAPI's handler, given requests that parse the body into the route's model."""
        handler = super().get_route_handler()
        model = self.body_field.field_info.annotation if self.body_field is not None else None
        if not (isinstance(model, type) and issubclass(model, BaseModel)):
            return handler
        request_class = type("FastBodyRequest", (_FastBodyRequest,), {"model": model})
        direct = self._direct_call(model)

        async def fast_handler(request: Request) -> Response:
            fast = request_class(request.scope, request.receive)
            if direct is not None and await _valid_json(fast, model):
                answer = await direct(fast)
                if answer is not None:
                    return answer
            return await handler(fast)

        return fast_handler

    def _direct_call(
        self, model: type[BaseModel]
    ) -> Callable[[_FastBodyRequest], Awaitable[Response | None]] | None:
        """The endpoint as ``call(request)``, or None when FastAPI must solve its parameters.

        Only an async endpoint whose parameters are the body and (optionally) the request, and
        whose dependencies are all skippable, is called directly; it must return a Response.
        """
        dependant = self.dependant
        checks = [self.skippable.get(d.call) if d.call else None for d in dependant.dependencies]
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
        if not (plain and len(dependant.body_params) == 1 and all(checks)):
            return None
        guards = [c for c in checks if c is not None]
        endpoint = self.endpoint
        body_name = dependant.body_params[0].name
        request_name = dependant.request_param_name

        async def call(request: _FastBodyRequest) -> Response | None:
            if not all(guard(request) for guard in guards):
                return None  # FastAPI's handler raises the dependency's error
            kwargs: dict[str, Any] = {body_name: request._json}
            if request_name is not None:
                kwargs[request_name] = request
            answer = await endpoint(**kwargs)
            if not isinstance(answer, Response):
                raise TypeError(f"{self.path}: a directly called endpoint must return a Response")
            return answer

        return call if inspect.iscoroutinefunction(endpoint) else None


async def _valid_json(request: _FastBodyRequest, model: type[BaseModel]) -> bool:
    """Whether the body is declared JSON and validates as ``model``."""
    content_type = request.headers.get("content-type")
    if content_type is None or content_type.lower() != _JSON:
        return False  # FastAPI decides what a missing or unusual content type means
    try:
        parsed = await request.json()
    except HTTPException:  # too large (the limits middleware): FastAPI re-raises it too
        raise
    except Exception:  # malformed JSON, a client gone: FastAPI's handler answers as usual
        return False
    return isinstance(parsed, model)


def json_response(document: Any) -> Response:
    """``document`` as compact JSON (pydantic-core's encoder: about 4x ``json.dumps``)."""
    return Response(pydantic_core.to_json(document), media_type="application/json")
