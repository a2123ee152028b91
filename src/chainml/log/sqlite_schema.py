"""The SQLite file format of the decision log: its schema, and opening a file safely.

Format version 1, one SQLite database in WAL mode with 64 KiB pages, marked by its
``application_id``:

- ``leaves(idx, hashes, request_id, data)``: one row a leaf. ``hashes`` is the leaf hash followed
  by the hashes of the complete subtrees below level :data:`UPPER_LEVEL` that this leaf completes,
  level 1 upwards (see :mod:`chainml.log.subtrees`), so node ``(L, j)`` is 32 bytes at offset
  ``32 * L`` of the row of leaf ``(j + 1) * 2**L - 1``: one primary-key read, no second row to
  write per leaf, and a proof's lower levels all lie in the few pages around its leaf.
- ``upper(level, idx, hash)``: the complete subtrees of level :data:`UPPER_LEVEL` and above (one
  per 128 leaves), kept apart so that the top of the tree fills a few contiguous pages instead
  of one page per node all over the file.
- ``requests(request_id, idx)``: request ids of leaves below ``meta.indexed_size``. Younger ids
  are held in memory by the store and merged here in large sorted batches, because inserting
  random keys into a B-tree batch by batch rewrites most of its pages every commit.
- ``anchors``: tree heads anchored on chains; ``meta``: format version, size, settings.

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

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from chainml.errors import DataDirectoryError

APPLICATION_ID = 0x636D6C67  # "cmlg" in the SQLite header
#: subtrees of 2**UPPER_LEVEL leaves and more live in the upper table
UPPER_LEVEL = 8
FORMAT_VERSION = "1"
#: meta names the store manages itself; set_meta refuses them.
RESERVED = frozenset({"format_version", "size", "indexed_size"})

_SCHEMA = [
    "CREATE TABLE meta (name TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID",
    "CREATE TABLE leaves (idx INTEGER PRIMARY KEY, hashes BLOB NOT NULL, request_id BLOB,"
    " data BLOB NOT NULL)",
    "CREATE TABLE upper (level INTEGER NOT NULL, idx INTEGER NOT NULL, hash BLOB NOT NULL,"
    " PRIMARY KEY (level, idx)) WITHOUT ROWID",
    "CREATE TABLE requests (request_id BLOB PRIMARY KEY, idx INTEGER NOT NULL) WITHOUT ROWID",
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
            _check_version(conn, path)
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute(f"PRAGMA synchronous = {synchronous}")
            conn.execute("PRAGMA cache_size = -65536")  # KiB
            # Checkpoints copy the WAL back every ~64 MiB, so a batch rarely pays for one, and
            # a WAL grown by a large merge shrinks back to that size afterwards.
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
    conn.execute("PRAGMA page_size = 65536")  # before the first table; fewer, larger WAL frames
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("BEGIN IMMEDIATE")
    try:
        if _is_log(conn, path):  # another process created it first
            conn.execute("ROLLBACK")
            return
        conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
        for statement in _SCHEMA:
            conn.execute(statement)
        conn.executemany("INSERT INTO meta (name, value) VALUES (?, ?)", _INITIAL_META.items())
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise


def _check_version(conn: sqlite3.Connection, path: Path) -> None:
    row = conn.execute("SELECT value FROM meta WHERE name = 'format_version'").fetchone()
    version = row[0] if row else None
    if version != FORMAT_VERSION:
        raise DataDirectoryError(
            str(path.parent),
            f"{path.name} is a chainml log of format version {version}; "
            f"this chainml reads version {FORMAT_VERSION}",
        )
