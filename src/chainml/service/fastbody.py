"""JSON bodies parsed within depth limits, and validated by pydantic-core as they are parsed.

:class:`FastBodyRoute` is FastAPI's documented extension point for this ("custom Request and
APIRoute class"): its handler is FastAPI's own, given a request whose ``json()`` parses with
pydantic-core instead of ``json.loads``. Everything else is FastAPI's: content-type checks,
dependency solving (with ``app.dependency_overrides``), middleware, exception handlers, and
the order of errors (FastAPI reads the body before it solves dependencies; the service's edge,
:mod:`chainml.service.middleware`, has checked the API key on the headers before either).

Why: FastAPI reads a body with ``json.loads`` and then validates the Python objects; for a
batch of 1,000 records that is about 10 ms of the event loop's time, against under 4 ms for
pydantic's JSON parser validating as it parses. When the route's endpoint takes one pydantic
model as its body, ``json()`` returns the body validated as that model, which FastAPI's own
validation passes through (pydantic does not revalidate instances). A body that does not
validate is handed to FastAPI as Python objects, and FastAPI reports the errors as usual.

No request reaches a parser that recurses without bound: pydantic-core parses every body (it
stops by itself at about 200 levels); a body it cannot parse that is nested deeper than
:data:`MAX_BODY_DEPTH` is a 400, and the standard library's ``json.loads`` never runs (py-evm
raises the recursion limit to 100,000, so it would overflow the C stack on a 200 KB body).
The route reads no FastAPI internals: only the endpoint's own signature.
"""

from __future__ import annotations

import inspect
import json
import re
import typing
from collections.abc import Callable, Coroutine
from typing import Any

import pydantic_core
from fastapi import HTTPException, Request, Response
from fastapi.routing import APIRoute
from pydantic import BaseModel, ValidationError

from chainml.bounded_json import MAX_DEPTH, nesting_depth

#: Deepest unparsable body answered 422 (the service's documents nest a few levels, metadata at
#: most :data:`~chainml.service.schemas.MAX_METADATA_DEPTH`); deeper is a 400.
MAX_BODY_DEPTH = MAX_DEPTH
_POSITION = re.compile(r"at line (\d+) column (\d+)")
_UNPARSED = object()


class BoundedJsonRequest(Request):
    """A request whose ``json()`` is parsed by pydantic-core (see :func:`parse_body`)."""

    async def json(self) -> Any:
        """The body as Python objects (parsed once)."""
        parsed = getattr(self, "_parsed", _UNPARSED)
        if parsed is _UNPARSED:
            parsed = self._parsed = self.parse(await self.body())
        return parsed

    def parse(self, body: bytes) -> Any:
        """``body`` as Python objects."""
        return parse_body(body)


class _ModelBodyRequest(BoundedJsonRequest):
    """A request whose ``json()`` is the body validated as ``model``, when it is valid."""

    model: type[BaseModel]

    def parse(self, body: bytes) -> Any:
        try:
            return self.model.model_validate_json(body)
        except ValidationError:  # FastAPI validates the objects and reports the errors as usual
            return parse_body(body)


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
    """A route whose JSON body is parsed by pydantic-core: bounded, and validated in one pass."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        """FastAPI's handler, given requests that parse their body with pydantic-core."""
        handler = super().get_route_handler()
        model = body_model(self.endpoint)
        request_class: type[BoundedJsonRequest] = (
            BoundedJsonRequest
            if model is None
            else type("ModelBodyRequest", (_ModelBodyRequest,), {"model": model})
        )

        async def bounded_handler(request: Request) -> Response:
            return await handler(request_class(request.scope, request.receive))

        return bounded_handler


def body_model(endpoint: Callable[..., Any]) -> type[BaseModel] | None:
    """The pydantic model that is ``endpoint``'s whole body, or None.

    That is its one parameter annotated with a model, plainly (no ``Annotated``, no default:
    ``Body(embed=True)`` and the like change what the body is, so the body is then only parsed).
    """
    hints = typing.get_type_hints(endpoint, include_extras=True)
    models = [
        hints[name]
        for name, parameter in inspect.signature(endpoint).parameters.items()
        if isinstance(hints.get(name), type)
        and issubclass(hints[name], BaseModel)
        and parameter.default is inspect.Parameter.empty
    ]
    return models[0] if len(models) == 1 else None


def json_response(document: Any) -> Response:
    """``document`` as compact JSON (pydantic-core's encoder: about 4x ``json.dumps``)."""
    return Response(pydantic_core.to_json(document), media_type="application/json")
