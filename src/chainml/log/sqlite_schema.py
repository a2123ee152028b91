"""The SQLite file format of the decision log: its schema, and opening a file safely.

Format version 2, one SQLite database in WAL mode with 4 KiB pages (a commit writes whole pages
to the WAL and a checkpoint writes them again: small pages keep a commit's bytes near its data),
marked by its ``application_id``:

- ``leaves(idx, hashes, request_id, data)``: one row a leaf. ``hashes`` is the leaf hash followed
  by the hashes of the complete subtrees below level :data:`UPPER_LEVEL` that this leaf completes,
  level 1 upwards (see :mod:`chainml.log.subtrees`), so node ``(L, j)`` is 32 bytes at offset
  ``32 * L`` of the row of leaf ``(j + 1) * 2**L - 1``: one primary-key read, no second row to
  write per leaf, and a proof's lower levels all lie in the few pages around its leaf.
- ``upper(level, idx, hash)``: the complete subtrees of level :data:`UPPER_LEVEL` and above (one
  per 256 leaves), kept apart so that the top of the tree fills a few contiguous pages instead
  of one page per node all over the file.
- ``runs(start, end, keys)`` and ``request_runs(run, key, idx)``: the request-id index of the leaves
  below ``meta.indexed_size``, as sorted *runs*, one per merge: run ``start`` indexes the leaves
  ``[start, end)`` by the id's 8-byte key (:func:`~chainml.log.request_filter.request_key`); the
  full id is in the leaf row, which a lookup reads to confirm. Younger ids are held in memory by
  the store and merged as a new run, appended after every older one: the index is only ever
  appended to, never rewritten (inserting random keys into one B-tree rewrites most of its pages
  at every merge once it outgrows the cache). A lookup seeks each run, behind a Bloom filter;
  ``runs.keys`` packs the run's keys (:func:`~chainml.log.request_filter.pack_keys`, in index
  order), so a start-up brings the filter up to date from a few blobs instead of many rows.
- ``young(idx, key, request_id)``: the ids of the leaves from ``indexed_size`` on (and their
  keys), a narrow copy that a start-up reads in a few pages instead of every young leaf's row,
  and that a merge sorts into a new run inside SQLite; emptied by each merge.
- ``anchors``: tree heads anchored on chains; ``meta``: format version, size, the log's random
  id (which names the saved Bloom filter's log), settings.

Version 1 (64 KiB pages, one ``requests(request_id, idx)`` B-tree) is migrated in place the first
time it is opened writable: its index becomes the first run. Read-only, it is refused with a
message saying so.

Opening never writes to a file before it is known to be a chainml log (or empty); every SQLite
error becomes a :class:`~chainml.errors.DataDirectoryError` that keeps its cause.

A log can also be opened read-only, e.g. a copy handed to an auditor in a read-only directory.
SQLite reads a WAL database read-only only if it can use its ``-shm`` file, or create one
(https://sqlite.org/wal.html#readonly), or is told the file is immutable. So a read-only open
uses ``mode=ro`` (which sees commits of live writers), and falls back to ``immutable=1`` only
when that fails and no ``-wal`` file holds changes: a live writer always has a ``-wal`` file,
and an immutable open would not read one. A missing log reads as the empty log.
"""

from __future__ import annotations

import secrets
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from chainml.errors import DataDirectoryError
from chainml.log.request_filter import pack_keys, request_key

APPLICATION_ID = 0x636D6C67  # "cmlg" in the SQLite header
#: subtrees of 2**UPPER_LEVEL leaves and more live in the upper table
UPPER_LEVEL = 8
FORMAT_VERSION = "2"
PAGE_SIZE = 4096
#: meta names the store manages itself; set_meta refuses them.
RESERVED = frozenset({"format_version", "size", "indexed_size", "log_id"})
_INDEX_SCHEMA = [
    "CREATE TABLE runs (start INTEGER PRIMARY KEY, end INTEGER NOT NULL, keys BLOB NOT NULL)",
    "CREATE TABLE request_runs (run INTEGER NOT NULL, key INTEGER NOT NULL,"
    " idx INTEGER NOT NULL, PRIMARY KEY (run, key, idx)) WITHOUT ROWID",
    "CREATE TABLE young (idx INTEGER PRIMARY KEY, key INTEGER NOT NULL, request_id BLOB NOT NULL)",
]

_SCHEMA = [
    "CREATE TABLE meta (name TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID",
    "CREATE TABLE leaves (idx INTEGER PRIMARY KEY, hashes BLOB NOT NULL, request_id BLOB,"
    " data BLOB NOT NULL)",
    "CREATE TABLE upper (level INTEGER NOT NULL, idx INTEGER NOT NULL, hash BLOB NOT NULL,"
    " PRIMARY KEY (level, idx)) WITHOUT ROWID",
    *_INDEX_SCHEMA,
    "CREATE TABLE anchors (chain_id INTEGER NOT NULL, contract TEXT NOT NULL,"
    " size INTEGER NOT NULL, root BLOB NOT NULL, tx_hash BLOB NOT NULL,"
    " block_number INTEGER NOT NULL, anchored_at REAL NOT NULL,"
    " PRIMARY KEY (chain_id, contract, size))",
]
_INITIAL_META = {"format_version": FORMAT_VERSION, "size": "0", "indexed_size": "0"}


@contextmanager
def translated(path: Path) -> Iterator[None]:
    """Turn SQLite errors inside the block into DataDirectoryError, keeping the cause."""
    try:
        yield
    except sqlite3.Error as err:
        if "readonly" in str(err):  # SQLITE_READONLY*: the file or directory is not writable
            detail = f"{path.name} cannot be written here ({err}); writing needs write access"
        else:
            detail = f"{path.name} cannot be used as a chainml log ({err})"
        raise DataDirectoryError(str(path.parent), detail) from err


def in_chunk(conn: sqlite3.Connection) -> int:
    """How many values one ``IN (?, ...)`` may bind: 4096, or fewer if this SQLite allows less."""
    return min(4096, conn.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER))


def open_log(
    path: Path, *, synchronous: str, create: bool, read_only: bool = False
) -> sqlite3.Connection:
    """Open (or create, if allowed and absent or empty) the log at ``path``, checked and tuned."""
    if read_only:
        return _open_read_only(path)
    if not create and not path.is_file():
        raise DataDirectoryError(str(path.parent), f"{path.name} does not exist")
    with translated(path):
        # isolation_level=None: transactions are explicit (BEGIN IMMEDIATE ... COMMIT).
        conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    try:
        with translated(path):
            conn.execute("PRAGMA busy_timeout = 10000")
            if not _is_log(conn, path):
                if not create:
                    raise DataDirectoryError(str(path.parent), f"{path.name} is an empty file")
                _create(conn, path)
            _migrate(conn, path)
            _check_version(conn, path)
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute(f"PRAGMA synchronous = {synchronous}")
            conn.execute("PRAGMA cache_size = -65536")  # KiB
            # Checkpoints copy the WAL back every ~4 MiB (1,000 pages of 4 KiB): about one
            # commit of 1,000 decisions in four pays for one, a copy of a few MiB and an fsync
            # (every page reaches the disk twice: WAL, then database; benchmarks/log_store.py
            # counts both). A WAL grown past that by a large append shrinks back afterwards.
            # A SqliteLogStore that writes turns this off for its own connection and runs the
            # same checkpoints in a thread (chainml.log.sqlite_checkpoint).
            conn.execute("PRAGMA wal_autocheckpoint = 1000")
            conn.execute(f"PRAGMA journal_size_limit = {64 << 20}")
    except BaseException:
        conn.close()
        raise
    return conn


def _open_read_only(path: Path) -> sqlite3.Connection:
    """Open the log at ``path`` without writing anything (see the module docstring)."""
    if not path.exists():
        with translated(path):
            conn = sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)
            _create(conn, path)  # the empty log, in memory
            return conn
    wal = path.with_name(path.name + "-wal")
    uri = path.resolve().as_uri() + "?mode=ro"
    try:
        return _checked_read_only(uri, path)
    except DataDirectoryError as err:
        if not isinstance(err.__cause__, sqlite3.OperationalError):
            raise  # not a log, another version: no other way of opening helps
        if wal.exists() and wal.stat().st_size > 0:
            raise DataDirectoryError(
                str(path.parent),
                f"{path.name} cannot be read without write access: its write-ahead log "
                f"{wal.name} holds changes that SQLite reads only through {path.name}-shm; "
                "copy the -shm file with it, or open the log once where it is writable",
            ) from err
    return _checked_read_only(uri + "&immutable=1", path)


def _checked_read_only(uri: str, path: Path) -> sqlite3.Connection:
    with translated(path):
        conn = sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False)
    try:
        with translated(path):
            conn.execute("PRAGMA busy_timeout = 10000")
            if not _is_log(conn, path):
                raise DataDirectoryError(str(path.parent), f"{path.name} is an empty file")
            _check_version(conn, path)
            conn.execute("PRAGMA cache_size = -65536")  # KiB
    except BaseException:
        conn.close()
        raise
    return conn


def _is_log(conn: sqlite3.Connection, path: Path) -> bool:
    """Whether the file is a chainml log; False if empty; DataDirectoryError if it is another."""
    app_id = conn.execute("PRAGMA application_id").fetchone()[0]
    if app_id == APPLICATION_ID:
        return True
    if app_id == 0 and conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0] == 0:
        return False
    raise DataDirectoryError(
        str(path.parent), f"{path.name} is an SQLite database, but not a chainml log"
    )


def _create(conn: sqlite3.Connection, path: Path) -> None:
    conn.execute(f"PRAGMA page_size = {PAGE_SIZE}")  # before the first table
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("BEGIN IMMEDIATE")
    try:
        if _is_log(conn, path):  # another process created it first
            conn.execute("ROLLBACK")
            return
        conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
        for statement in _SCHEMA:
            conn.execute(statement)
        meta = {**_INITIAL_META, "log_id": secrets.token_hex(16)}
        conn.executemany("INSERT INTO meta (name, value) VALUES (?, ?)", meta.items())
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise


def _version(conn: sqlite3.Connection) -> object:
    row = conn.execute("SELECT value FROM meta WHERE name = 'format_version'").fetchone()
    return row[0] if row else None


def _migrate(conn: sqlite3.Connection, path: Path) -> None:
    """Turn a version 1 log into version 2, in one transaction: its index becomes one run."""
    if _version(conn) != "1":
        return
    conn.create_function("request_key", 1, _key_of, deterministic=True)
    conn.execute("BEGIN IMMEDIATE")
    try:
        if _version(conn) == "1":  # not migrated by another process meanwhile
            for statement in _INDEX_SCHEMA:
                conn.execute(statement)
            (indexed,) = conn.execute(
                "SELECT CAST(value AS INTEGER) FROM meta WHERE name = 'indexed_size'"
            ).fetchone()
            conn.execute(
                "INSERT INTO request_runs (run, key, idx) SELECT 0, request_key(request_id), idx"
                " FROM requests ORDER BY 2, 3"
            )
            if indexed:
                sql = "SELECT key FROM request_runs WHERE run = 0 ORDER BY key, idx"
                keys = pack_keys(key for (key,) in conn.execute(sql))
                sql = "INSERT INTO runs (start, end, keys) VALUES (0, ?, ?)"
                conn.execute(sql, (indexed, keys))
            conn.execute(
                "INSERT INTO young (idx, key, request_id)"
                " SELECT idx, request_key(request_id), request_id FROM leaves"
                " WHERE idx >= ? AND request_id IS NOT NULL",
                (indexed,),
            )
            conn.execute("DROP TABLE requests")
            meta = {"format_version": FORMAT_VERSION, "log_id": secrets.token_hex(16)}
            conn.executemany(
                "INSERT OR REPLACE INTO meta (name, value) VALUES (?, ?)", meta.items()
            )
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise


def _key_of(request_id: object) -> int | None:
    return request_key(request_id) if isinstance(request_id, bytes) else None


def _check_version(conn: sqlite3.Connection, path: Path) -> None:
    version = _version(conn)
    if version == "1":
        raise DataDirectoryError(
            str(path.parent),
            f"{path.name} is a chainml log of format version 1, which this chainml migrates to "
            f"version {FORMAT_VERSION} in place; open it once with write access (any chainml "
            "command that appends, or `chainml serve`) and then read it",
        )
    if version != FORMAT_VERSION:
        raise DataDirectoryError(
            str(path.parent),
            f"{path.name} is a chainml log of format version {version}; "
            f"this chainml reads version {FORMAT_VERSION}",
        )
