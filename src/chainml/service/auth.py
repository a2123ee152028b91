"""API keys: write endpoints need one (``X-API-Key``); read endpoints too unless reads are public.

A missing key is 401, a wrong one 403. Keys are compared in constant time.
"""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import APIKeyHeader

HEADER = "X-API-Key"
_scheme = APIKeyHeader(name=HEADER, auto_error=False, description="One of the service's API keys.")
ApiKey = Annotated[str | None, Depends(_scheme)]


def _check(request: Request, key: str | None) -> None:
    if key is None:
        raise HTTPException(
            401,
            f"this endpoint needs an API key in the {HEADER} header",
            headers={"WWW-Authenticate": HEADER},
        )
    if not _known(request, key):
        raise HTTPException(403, "the API key is not valid")


def _known(request: Request, key: str) -> bool:
    given = key.encode()
    keys: tuple[bytes, ...] = request.app.state.api_keys
    # every key is compared, so the time taken does not say which one came close
    return any([hmac.compare_digest(given, known) for known in keys])


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
