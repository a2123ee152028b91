"""Checkpoints of a SQLite log's WAL, run by a thread of their own instead of inside a commit.

SQLite's automatic checkpoint runs in the commit that crosses its threshold: that commit then
copies megabytes into the database file and fsyncs it before it returns. A :class:`Checkpointer`
takes that work out of the commit path: the store turns automatic checkpoints off on its own
connection and calls :meth:`Checkpointer.wrote` after each commit; once enough pages were
written, a thread runs a ``PASSIVE`` checkpoint on a connection of its own, which never blocks
a writer or a reader (https://sqlite.org/wal.html#ckpt). Durability does not change: a commit
is durable when its WAL frames are, whatever the checkpoints do.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from pathlib import Path

#: Bytes appended to the WAL between two checkpoints (SQLite's default is 1,000 pages).
CHECKPOINT_BYTES = 4 << 20


class Checkpointer:
    """Runs a passive checkpoint of the log at ``path`` in a thread, every ~``every`` bytes."""

    def __init__(self, path: Path, every: int = CHECKPOINT_BYTES) -> None:
        self._path = path
        self._every = every
        self._pending = 0
        self._wanted = threading.Event()
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="chainml-checkpoint", daemon=True)
        self._thread.start()

    def wrote(self, size: int) -> None:
        """Note that a commit appended about ``size`` bytes to the WAL."""
        self._pending += size
        if self._pending >= self._every:
            self._pending = 0
            self._wanted.set()

    def _run(self) -> None:
        conn: sqlite3.Connection | None = None
        try:
            conn = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA busy_timeout = 10000")
            while True:
                self._wanted.wait()
                self._wanted.clear()
                if self._stopping:
                    return
                # a failed checkpoint is retried by the next one, or by the close of the store
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
        except sqlite3.Error:
            return  # the commit path keeps working; the WAL grows until the store closes
        finally:
            if conn is not None:
                conn.close()

    def close(self) -> None:
        """Stop the thread, after the checkpoint it may be running."""
        self._stopping = True
        self._wanted.set()
        self._thread.join()
