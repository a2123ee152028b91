"""The embedded chain's durable key-value store: py-evm's database interface over SQLite.

py-evm writes trie nodes, headers, receipts and indexes through a small key-value API. This
store buffers those writes in memory and :meth:`SqliteKV.commit` makes them durable in one
SQLite transaction, so a block is either wholly on disk or not at all, whatever moment the
process dies. Reads see the buffered writes first, then a bounded cache, then SQLite.

Next to the key-value table lives the *journal*: raw transactions that were executed and
acknowledged but not yet sealed into a block. Each append is durable on return; sealing a
block clears the journal in the same transaction that writes the block.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Any, cast

from eth.db.backends.base import BaseDB

from chainml.errors import DataDirectoryError

_SCHEMA = """
CREATE TABLE IF NOT EXISTS kv (k BLOB PRIMARY KEY, v BLOB NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS journal (seq INTEGER PRIMARY KEY, raw BLOB NOT NULL);
"""
_SET_META = "INSERT OR REPLACE INTO meta (name, value) VALUES (?, ?)"
_CACHE_LIMIT = 200_000  # entries; trie nodes are a few hundred bytes

_DELETED = object()


class SqliteKV(BaseDB):  # type: ignore[misc]
    """A py-evm key-value database whose writes become durable on :meth:`commit`."""

    def __init__(self, path: Path, *, synchronous: str = "NORMAL", read_only: bool = False) -> None:
        self.path = path
        self.read_only = read_only
        try:
            self._conn = _open_read_only(path) if read_only else self._open(path, synchronous)
            self._conn.execute("SELECT count(*) FROM kv LIMIT 1").fetchone()
        except sqlite3.DatabaseError as err:
            raise DataDirectoryError(
                str(path.parent), f"{path.name} is unreadable or corrupted ({err})"
            ) from err
        self._pending: dict[bytes, bytes | object] = {}
        self._cache: dict[bytes, bytes] = {}

    @staticmethod
    def _open(path: Path, synchronous: str) -> sqlite3.Connection:
        # isolation_level=None: we issue BEGIN/COMMIT ourselves, one transaction a commit.
        conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA journal_mode=WAL")
        # In WAL mode NORMAL survives any process crash (kill -9); FULL also survives
        # power loss at the price of an fsync per commit.
        conn.execute(f"PRAGMA synchronous={synchronous}")
        conn.executescript(_SCHEMA)
        return conn

    def __getitem__(self, key: bytes) -> bytes:
        value = self._pending.get(key)
        if value is _DELETED:
            raise KeyError(key)
        if value is not None:
            return value  # type: ignore[return-value]
        cached = self._cache.get(key)
        if cached is not None:
            return cached
        row = self._read("SELECT v FROM kv WHERE k = ?", (key,))
        if not row:
            raise KeyError(key)
        found = bytes(row[0][0])
        self._remember({key: found})
        return found

    def _remember(self, items: dict[bytes, bytes]) -> None:
        if len(self._cache) + len(items) > _CACHE_LIMIT:
            self._cache.clear()  # crude but bounded; the hot nodes come back at once
        self._cache.update(items)

    def __setitem__(self, key: bytes, value: bytes) -> None:
        self._pending[key] = value

    def __delitem__(self, key: bytes) -> None:
        if key not in self:
            raise KeyError(key)
        self._pending[key] = _DELETED

    def _exists(self, key: bytes) -> bool:
        try:
            self[key]
        except KeyError:
            return False
        return True

    # -- SQLite, with its errors translated at this boundary -----------------------------

    def _damaged(self, err: sqlite3.DatabaseError) -> DataDirectoryError:
        return DataDirectoryError(
            str(self.path.parent), f"{self.path.name} is unreadable, corrupted or full ({err})"
        )

    def _read(self, sql: str, params: tuple[object, ...] = ()) -> list[tuple[Any, ...]]:
        try:
            return self._conn.execute(sql, params).fetchall()
        except sqlite3.DatabaseError as err:
            raise self._damaged(err) from err

    def _write(self, steps: list[tuple[str, Sequence[tuple[object, ...]]]]) -> None:
        """Run ``(sql, rows)`` steps in one transaction: all of them are durable, or none."""
        if self.read_only:  # the backend refuses writes first; this is the last line
            raise DataDirectoryError(str(self.path.parent), f"{self.path.name} is open read-only")
        conn = self._conn
        try:
            conn.execute("BEGIN")
            try:
                for sql, rows in steps:
                    conn.executemany(sql, rows)
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        except sqlite3.DatabaseError as err:
            raise self._damaged(err) from err

    # -- durable writes ------------------------------------------------------------------

    def commit(self, meta: dict[str, str] | None = None, *, clear_journal: bool = False) -> None:
        """Write every buffered change, plus ``meta`` entries, in one durable transaction."""
        writes = [(k, cast(bytes, v)) for k, v in self._pending.items() if v is not _DELETED]
        deletes = [(k,) for k, v in self._pending.items() if v is _DELETED]
        steps: list[tuple[str, Sequence[tuple[object, ...]]]] = [
            ("INSERT OR REPLACE INTO kv (k, v) VALUES (?, ?)", writes),
            ("DELETE FROM kv WHERE k = ?", deletes),
            (_SET_META, list((meta or {}).items())),
        ]
        if clear_journal:
            steps.append(("DELETE FROM journal", [()]))
        self._write(steps)
        for (key,) in deletes:
            self._cache.pop(key, None)
        self._remember(dict(writes))
        self._pending.clear()

    def journal_append(self, raw: bytes, meta: dict[str, str] | None = None) -> None:
        """Durably record an executed, not yet sealed transaction (and ``meta``) at once."""
        self._write(
            [
                ("INSERT INTO journal (raw) VALUES (?)", [(raw,)]),
                (_SET_META, list((meta or {}).items())),
            ]
        )

    def journal(self) -> list[bytes]:
        """Raw transactions acknowledged but not sealed, in order."""
        return [bytes(row[0]) for row in self._read("SELECT raw FROM journal ORDER BY seq")]

    def discard(self) -> None:
        """Forget buffered writes (used when building a block failed halfway)."""
        self._pending.clear()

    def get_meta(self, name: str) -> str | None:
        """Read a committed metadata entry."""
        rows = self._read("SELECT value FROM meta WHERE name = ?", (name,))
        return str(rows[0][0]) if rows else None

    def size_bytes(self) -> int:
        """Disk use of the database and its write-ahead log."""
        return sum(p.stat().st_size for p in self.path.parent.glob(self.path.name + "*"))

    def close(self) -> None:
        """Close the connection; buffered writes that were not committed are dropped."""
        self._pending.clear()
        self._conn.close()


def _open_read_only(path: Path) -> sqlite3.Connection:
    """Open ``path`` without writing anything, not even the WAL index (``-shm``).

    A WAL database in a directory we cannot write opens read-only only when its ``-shm``
    and ``-wal`` files exist (SQLite then reads the WAL); a cleanly closed copy has neither,
    and holds every commit in the main file, so it is opened as immutable.
    """
    uri = path.resolve().as_uri()
    conn = sqlite3.connect(f"{uri}?mode=ro", uri=True, check_same_thread=False)
    try:
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
        return conn
    except sqlite3.OperationalError:
        conn.close()
        if Path(f"{path}-wal").exists():
            raise  # immutable would silently skip the commits still in the WAL
    return sqlite3.connect(f"{uri}?immutable=1", uri=True, check_same_thread=False)
