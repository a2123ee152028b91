"""The PostgreSQL layout of the decision log: its URL, its versioned SQL, and opening it safely.

A log lives in one schema of one database, named by a URL::

    postgresql://user@host:5432/dbname?schema=chainml

(``schema`` is ours and defaults to ``chainml``; every other part is libpq's). Its tables mirror
the SQLite format (:mod:`chainml.log.sqlite_schema`) where that helps proofs, and lean on the
server where it can do better:

- ``head(size)``: one row, the sequencer. A writer locks it (``SELECT ... FOR UPDATE``) first
  in its transaction, so appends from any number of processes and hosts are numbered one after
  another, with no gap and no duplicate; readers never wait for it.
- ``leaves(idx, hashes, request_id, data)``: one row a leaf; ``hashes`` packs the leaf hash and
  the complete subtrees below level :data:`UPPER_LEVEL` that the leaf completes, as in SQLite.
  A unique index on ``request_id`` is the request-id index: duplicates are refused by the
  database itself, and a lookup is one index probe.
- ``upper(level, idx, hash)``: complete subtrees of :data:`UPPER_LEVEL` and above.
- ``anchors``, ``meta`` (format, the log's random id, settings) and ``leases`` (who anchors:
  :mod:`chainml.log.leader`).

The schema is created and upgraded by plain versioned SQL (:data:`MIGRATIONS`), applied in
order under an advisory lock when a writable store opens; ``schema_versions`` records each
version applied. A schema newer than this chainml knows is refused with a clear error, as is a
schema holding tables that are not a chainml log.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from chainml.errors import DataDirectoryError, InvalidInputError

if TYPE_CHECKING:
    import psycopg
    from psycopg.rows import TupleRow

    #: a connection to the log's database, rows as tuples
    Conn = psycopg.Connection[TupleRow]

#: subtrees of 2**UPPER_LEVEL leaves and more live in the upper table
UPPER_LEVEL = 8
DEFAULT_SCHEMA = "chainml"
SCHEMES = ("postgresql", "postgres")
#: meta names the store manages itself; set_meta refuses them (as SQLite's, for one contract).
RESERVED = frozenset({"format_version", "size", "indexed_size", "log_id"})
_SCHEMA_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")

#: (version, SQL) in order; a new version is appended, never edited once released.
MIGRATIONS: tuple[tuple[int, str], ...] = (
    (
        1,
        """
        CREATE TABLE meta (name text PRIMARY KEY, value text NOT NULL);
        CREATE TABLE head (one boolean PRIMARY KEY DEFAULT true CHECK (one),
                           size bigint NOT NULL CHECK (size >= 0));
        INSERT INTO head (size) VALUES (0);
        CREATE TABLE leaves (idx bigint PRIMARY KEY, hashes bytea NOT NULL,
                             request_id bytea, data bytea NOT NULL);
        CREATE UNIQUE INDEX leaves_request_id ON leaves (request_id)
            WHERE request_id IS NOT NULL;
        CREATE TABLE upper (level smallint NOT NULL, idx bigint NOT NULL, hash bytea NOT NULL,
                            PRIMARY KEY (level, idx));
        CREATE TABLE anchors (chain_id bigint NOT NULL, contract text NOT NULL,
                              size bigint NOT NULL, root bytea NOT NULL, tx_hash bytea NOT NULL,
                              block_number bigint NOT NULL, anchored_at double precision NOT NULL,
                              PRIMARY KEY (chain_id, contract, size));
        CREATE TABLE leases (name text PRIMARY KEY, holder text NOT NULL,
                             epoch bigint NOT NULL, expires_at timestamptz NOT NULL);
        INSERT INTO meta (name, value) VALUES ('format_version', '1');
        """,
    ),
)
LATEST_VERSION = MIGRATIONS[-1][0]


class LogDatabaseError(DataDirectoryError):
    """The PostgreSQL log cannot be used: unreachable, not a chainml log, a newer schema."""

    def __init__(self, where: str, detail: str) -> None:
        self.path = where
        self.detail = detail
        Exception.__init__(self, f"log database {where}: {detail}")


@dataclass(frozen=True)
class LogDatabase:
    """Where a PostgreSQL log lives: libpq's connection string and the schema name."""

    conninfo: str
    schema: str

    @classmethod
    def from_url(cls, url: str) -> LogDatabase:
        """Parse ``postgresql://...[?schema=NAME]`` (InvalidInputError if it is not one)."""
        parts = urlsplit(url)
        if parts.scheme not in SCHEMES:
            raise InvalidInputError(f"{redacted(url)!r} is not a postgresql:// URL")
        query = parse_qsl(parts.query, keep_blank_values=True)
        schemas = [value for key, value in query if key == "schema"]
        schema = schemas[-1] if schemas else DEFAULT_SCHEMA
        if not _SCHEMA_NAME.fullmatch(schema):
            raise InvalidInputError(
                f"schema {schema!r} must be lower-case letters, digits and _ (at most 63)"
            )
        rest = urlencode([(key, value) for key, value in query if key != "schema"])
        return cls(urlunsplit(parts._replace(query=rest)), schema)

    @property
    def where(self) -> str:
        """The URL without its password, for messages."""
        return f"{redacted(self.conninfo)} (schema {self.schema})"

    @property
    def lock_key(self) -> int:
        """The advisory lock that serializes migrations of this schema (a signed 64-bit key)."""
        digest = hashlib.sha256(b"chainml log schema " + self.schema.encode()).digest()
        return int.from_bytes(digest[:8], "big", signed=True)


def redacted(url: str) -> str:
    """``url`` with any password replaced by ``***``."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


def is_postgres_url(url: str | None) -> bool:
    """Whether ``url`` names a PostgreSQL log (``postgresql://`` or ``postgres://``)."""
    return url is not None and urlsplit(url).scheme in SCHEMES


@contextmanager
def translated(database: LogDatabase) -> Iterator[None]:
    """Turn psycopg errors inside the block into LogDatabaseError, keeping the cause."""
    import psycopg

    try:
        yield
    except psycopg.Error as err:
        detail = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise LogDatabaseError(database.where, detail) from err


def connect(database: LogDatabase, *, create: bool = True, read_only: bool = False) -> Conn:
    """Connect to the log's schema, creating or upgrading it first when allowed and needed."""
    import psycopg
    from psycopg import sql

    with translated(database):
        conn = psycopg.connect(database.conninfo, autocommit=True)
    try:
        with translated(database):
            conn.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(database.schema)))
            if read_only:
                _check_version(conn, database, _version(conn, database))
                conn.execute("SET default_transaction_read_only = on")
            else:
                _migrate(conn, database, create)
    except BaseException:
        conn.close()
        raise
    return conn


def _version(conn: Conn, database: LogDatabase) -> int | None:
    """The schema's version; None if the schema is absent or empty; refuses a foreign one."""
    found = conn.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = %s",
        (database.schema,),
    ).fetchall()
    tables = {str(name) for (name,) in found}
    if not tables:
        return None
    if "schema_versions" not in tables:
        raise LogDatabaseError(
            database.where, f"schema {database.schema} holds tables, but is not a chainml log"
        )
    row = conn.execute("SELECT coalesce(max(version), 0) FROM schema_versions").fetchone()
    if row is None:
        raise LogDatabaseError(database.where, "schema_versions cannot be read")
    (version,) = row
    return int(version)


def _check_version(conn: Conn, database: LogDatabase, version: int | None) -> None:
    if version is None:
        raise LogDatabaseError(database.where, "there is no chainml log in this schema yet")
    if version > LATEST_VERSION:
        raise LogDatabaseError(
            database.where,
            f"the log's schema is version {version}, newer than version {LATEST_VERSION} that "
            "this chainml knows: upgrade chainml on this host (nothing was changed)",
        )
    if version < LATEST_VERSION:
        raise LogDatabaseError(
            database.where,
            f"the log's schema is version {version}; open it once with write access (any "
            f"chainml command that appends) to upgrade it to version {LATEST_VERSION}",
        )


def _migrate(conn: Conn, database: LogDatabase, create: bool) -> None:
    """Create the schema or bring it to :data:`LATEST_VERSION`, in one locked transaction."""
    import secrets

    from psycopg import sql

    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (database.lock_key,))
        version = _version(conn, database)
        if version is None:
            if not create:
                raise LogDatabaseError(database.where, "there is no chainml log in this schema")
            name = sql.Identifier(database.schema)
            conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(name))
            conn.execute(
                "CREATE TABLE schema_versions (version integer PRIMARY KEY,"
                " applied_at timestamptz NOT NULL DEFAULT now())"
            )
            version = 0
        if version > LATEST_VERSION:
            _check_version(conn, database, version)  # raises, naming both versions
        for number, script in MIGRATIONS:
            if number > version:
                conn.execute(script.encode())
                conn.execute("INSERT INTO schema_versions (version) VALUES (%s)", (number,))
        conn.execute(
            "INSERT INTO meta (name, value) VALUES ('log_id', %s) ON CONFLICT (name) DO NOTHING",
            (secrets.token_hex(16),),
        )
