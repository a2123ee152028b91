"""Which LogStore a log URL names: the embedded SQLite file, or a PostgreSQL schema.

``CHAINML_LOG_URL`` / ``--log`` choose the store; unset, the log is the SQLite file in the
data directory (the embedded default). A ``postgresql://`` URL (see
:class:`~chainml.log.postgres_schema.LogDatabase`) names a log that many processes share.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote, urlsplit

from chainml.errors import InvalidInputError
from chainml.log.postgres_schema import is_postgres_url, redacted
from chainml.log.store import LogStore


def open_store(url: str, *, durability: str = "full", read_only: bool = False) -> LogStore:
    """Open the store ``url`` names: ``postgresql://...`` or ``sqlite:///path/to/log.sqlite``."""
    if is_postgres_url(url):
        try:
            from chainml.log.postgres_store import PostgresLogStore
        except ImportError as err:  # pragma: no cover - the extra is part of dev
            raise InvalidInputError(
                "a PostgreSQL log needs the 'postgres' extra: pip install 'chainml[postgres]'"
            ) from err
        return PostgresLogStore(url, read_only=read_only)
    parts = urlsplit(url)
    if parts.scheme == "sqlite" and parts.path:
        from chainml.log.sqlite_store import SqliteLogStore

        return SqliteLogStore(Path(unquote(parts.path)), durability=durability, read_only=read_only)
    raise InvalidInputError(
        f"log URL {redacted(url)!r} is neither postgresql://... nor sqlite:///path"
    )
