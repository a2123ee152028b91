"""The embedded chain's durable key-value store: py-evm's database interface over SQLite.

py-evm writes trie nodes, headers, receipts and indexes through a small key-value API. This
store buffers those writes in memory and :meth:`SqliteKV.commit` makes them durable in one
SQLite transaction, so a block is either wholly on disk or not at all, whatever moment the
process dies. Reads see the buffered writes first.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from eth.db.backends.base import BaseDB

from chainml.errors import DataDirectoryError

_SCHEMA = """
CREATE TABLE IF NOT EXISTS kv (k BLOB PRIMARY KEY, v BLOB NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
"""

_DELETED = object()


class SqliteKV(BaseDB):  # type: ignore[misc]
    """A py-evm key-value database whose writes become durable on :meth:`commit`."""

    def __init__(self, path: Path, *, synchronous: str = "NORMAL") -> None:
        self.path = path
        try:
            # isolation_level=None: we issue BEGIN/COMMIT ourselves, one transaction a commit.
            self._conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
            self._conn.execute("PRAGMA journal_mode=WAL")
            # In WAL mode NORMAL survives any process crash (kill -9); FULL also survives
            # power loss at the price of an fsync per commit.
            self._conn.execute(f"PRAGMA synchronous={synchronous}")
            self._conn.executescript(_SCHEMA)
            self._conn.execute("SELECT count(*) FROM kv LIMIT 1").fetchone()
        except sqlite3.DatabaseError as err:
            raise DataDirectoryError(
                str(path), f"the chain database is unreadable or corrupted ({err})"
            ) from err
        self._pending: dict[bytes, bytes | object] = {}

    def __getitem__(self, key: bytes) -> bytes:
        value = self._pending.get(key)
        if value is _DELETED:
            raise KeyError(key)
        if value is not None:
            return value  # type: ignore[return-value]
        row = self._conn.execute("SELECT v FROM kv WHERE k = ?", (key,)).fetchone()
        if row is None:
            raise KeyError(key)
        return bytes(row[0])

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

    def commit(self, meta: dict[str, str] | None = None) -> None:
        """Write every buffered change, plus ``meta`` entries, in one durable transaction."""
        writes = [(k, v) for k, v in self._pending.items() if v is not _DELETED]
        deletes = [(k,) for k, v in self._pending.items() if v is _DELETED]
        conn = self._conn
        conn.execute("BEGIN")
        try:
            conn.executemany("INSERT OR REPLACE INTO kv (k, v) VALUES (?, ?)", writes)
            conn.executemany("DELETE FROM kv WHERE k = ?", deletes)
            if meta:
                conn.executemany(
                    "INSERT OR REPLACE INTO meta (name, value) VALUES (?, ?)", meta.items()
                )
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        self._pending.clear()

    def discard(self) -> None:
        """Forget buffered writes (used when building a block failed halfway)."""
        self._pending.clear()

    def get_meta(self, name: str) -> str | None:
        """Read a committed metadata entry."""
        row = self._conn.execute("SELECT value FROM meta WHERE name = ?", (name,)).fetchone()
        return None if row is None else str(row[0])

    def size_bytes(self) -> int:
        """Disk use of the database and its write-ahead log."""
        return sum(p.stat().st_size for p in self.path.parent.glob(self.path.name + "*"))

    def close(self) -> None:
        """Close the connection; buffered writes that were not committed are dropped."""
        self._pending.clear()
        self._conn.close()
