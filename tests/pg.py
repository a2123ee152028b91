"""PostgreSQL for tests: the server's URL, and logs in throwaway schemas dropped after use.

Each store lives in a schema with a random name, so tests running in parallel (or twice at
once on one machine) never see each other's rows. Without a reachable server the PostgreSQL
tests skip, saying why.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterator
from functools import cache

import pytest

from chainml.log.postgres_store import PostgresLogStore

SERVER = os.environ.get("CHAINML_TEST_POSTGRES", "postgresql://root@127.0.0.1:5432/test")


@cache
def unavailable() -> str | None:
    """Why the PostgreSQL tests cannot run here (None: they can)."""
    try:
        import psycopg
    except ImportError:
        return "psycopg is not installed (the 'postgres' extra)"
    try:
        psycopg.connect(SERVER, connect_timeout=3).close()
    except psycopg.Error as err:
        return f"no PostgreSQL at {SERVER}: {err}"
    return None


def require() -> None:
    """Skip the calling test when no server is reachable."""
    reason = unavailable()
    if reason is not None:
        pytest.skip(reason)


def schema_url(schema: str) -> str:
    """The log URL of ``schema`` on the test server."""
    return f"{SERVER}{'&' if '?' in SERVER else '?'}schema={schema}"


def drop(schema: str) -> None:
    """Drop ``schema`` and everything in it."""
    import psycopg

    with psycopg.connect(SERVER, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


@contextlib.contextmanager
def fresh_schema() -> Iterator[str]:
    """A new schema name (nothing is created), whose schema is dropped afterwards."""
    require()
    schema = f"test_{secrets.token_hex(8)}"
    try:
        yield schema
    finally:
        drop(schema)


class ThrowawayStore(PostgresLogStore):
    """A PostgresLogStore in a schema of its own, dropped when the store is closed."""

    def __init__(self) -> None:
        require()
        self.schema = f"test_{secrets.token_hex(8)}"
        try:
            super().__init__(schema_url(self.schema))
        except BaseException:
            drop(self.schema)
            raise

    def close(self) -> None:
        """Close the store, then drop its schema."""
        super().close()
        drop(self.schema)
