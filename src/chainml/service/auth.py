"""API keys: write endpoints need one (``X-API-Key``); read endpoints too unless reads are public.

A missing key is 401, a wrong one 403. Keys are compared in constant time. The service's edge
(:mod:`chainml.service.middleware`) checks the key of every request that can carry a body from
its headers, before the body is read; the dependencies here check it again on the routes (and
are how the OpenAPI spec knows which endpoints need a key).
"""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import APIKeyHeader

HEADER = "X-API-Key"
HEADER_BYTES = HEADER.lower().encode()  # as ASGI gives header names: lower case
MISSING = f"this endpoint needs an API key in the {HEADER} header"
WRONG = "the API key is not valid"
_scheme = APIKeyHeader(name=HEADER, auto_error=False, description="One of the service's API keys.")
ApiKey = Annotated[str | None, Depends(_scheme)]


def key_problem(given: bytes | None, keys: tuple[bytes, ...]) -> tuple[int, str] | None:
    """None when ``given`` is one of ``keys``; else the status (401 missing, 403 wrong) and why."""
    if given is None:
        return 401, MISSING
    # every key is compared, so the time taken does not say which one came close
    if not any([hmac.compare_digest(given, known) for known in keys]):
        return 403, WRONG
    return None


def _check(request: Request, key: str | None) -> None:
    # Starlette decodes header values as latin-1: encoding them back gives the bytes sent
    given = None if key is None else key.encode("latin-1")
    problem = key_problem(given, request.app.state.api_keys)
    if problem is not None:
        status, message = problem
        headers = {"WWW-Authenticate": HEADER} if status == 401 else None
        raise HTTPException(status, message, headers=headers)


async def require_key(request: Request, key: ApiKey) -> None:
    """Dependency of write endpoints (async: no thread hop per request)."""
    _check(request, key)


async def read_access(request: Request) -> None:
    """Dependency of read endpoints: open when reads are public.

    It reads the header itself rather than through the security scheme, so that the spec does
    not claim public endpoints need a key (the app adds the scheme when reads are private).
    """
    if not request.app.state.public_reads:
        _check(request, request.headers.get(HEADER))


WriteAccess = Depends(require_key)
ReadAccess = Depends(read_access)
