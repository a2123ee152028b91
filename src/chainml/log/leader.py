"""Leader election in the log's database: one anchorer at a time among many replicas.

A :class:`Lease` is a row ``(name, holder, epoch, expires_at)`` in the log's ``leases`` table.
A process *holds* it while the row names it and has not expired; anyone may take an expired
lease, and taking it from another holder increments ``epoch``, the fencing token. Times are the
database's clock (``clock_timestamp()``), so hosts need not agree on theirs.

What it guarantees, with a lease of ``ttl`` seconds:

- at most one holder at any instant, as seen by the database;
- :meth:`Lease.fence`, called just before a side effect (sending an anchor transaction),
  succeeds only if this process still holds the lease *with the epoch it acquired*, and renews
  it for ``ttl`` seconds: a paused ex-leader that resumes after another process took over fails
  its fence and sends nothing. Only a pause longer than ``ttl`` *between* the fence and the send
  could overlap with the next leader, and then the anchor contract decides: it accepts a head
  only with a consistency proof from the head it holds, so the stale transaction reverts and
  history is never rewritten.

Stores shared by several processes hand out leases (:meth:`~chainml.log.store.LogStore.lease`);
the embedded SQLite store has one writer process and none.
"""

# ruff: noqa: D102  (PostgresLease implements Lease, whose methods carry the docstrings)

from __future__ import annotations

import os
import secrets
import socket
import threading
import time
from typing import TYPE_CHECKING, Protocol

from chainml.errors import ChainMLError, InvalidInputError

if TYPE_CHECKING:
    from chainml.log.postgres_schema import Conn, LogDatabase

_ACQUIRE = (
    "INSERT INTO leases (name, holder, epoch, expires_at)"
    " VALUES (%(name)s, %(me)s, 1, clock_timestamp() + %(ttl)s * interval '1 second')"
    " ON CONFLICT (name) DO UPDATE SET holder = EXCLUDED.holder,"
    " epoch = CASE WHEN leases.holder = EXCLUDED.holder THEN leases.epoch"
    " ELSE leases.epoch + 1 END, expires_at = EXCLUDED.expires_at"
    " WHERE leases.holder = EXCLUDED.holder OR leases.expires_at < clock_timestamp()"
    " RETURNING epoch"
)
_FENCE = (
    "UPDATE leases SET expires_at = clock_timestamp() + %(ttl)s * interval '1 second'"
    " WHERE name = %(name)s AND holder = %(me)s AND epoch = %(epoch)s"
    " AND expires_at > clock_timestamp() RETURNING epoch"
)
_RELEASE = (
    "UPDATE leases SET expires_at = clock_timestamp() - interval '1 second'"
    " WHERE name = %(name)s AND holder = %(me)s AND epoch = %(epoch)s RETURNING epoch"
)


class NotLeaderError(ChainMLError):
    """The lease is not held by this process (another leads, or its own lease expired)."""

    def __init__(self, name: str, epoch: int | None, detail: str = "") -> None:
        self.name = name
        self.epoch = epoch
        held = f"epoch {epoch}" if epoch is not None else "no epoch"
        more = f": {detail}" if detail else ""
        super().__init__(f"not the holder of lease {name!r} ({held}){more}")


class Lease(Protocol):
    """Leadership of one job among processes, with a fencing token."""

    name: str

    @property
    def epoch(self) -> int | None:
        """The fencing token while held (None when not held)."""
        ...

    def hold(self) -> bool:
        """Take or renew the lease when due; whether this process holds it now."""
        ...

    def fence(self) -> int:
        """Confirm in the database that the lease is still ours, renewing it; its epoch.

        NotLeaderError otherwise. Call it just before a side effect only the leader may cause.
        """
        ...

    def release(self) -> None:
        """Give the lease up now (another process may take it at once)."""
        ...


def holder_name() -> str:
    """A name for this process, unique across hosts and restarts."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"


class PostgresLease:
    """A :class:`Lease` in the ``leases`` table of a PostgreSQL log, on its own connection.

    :meth:`hold` asks the database only when the lease is past half its time (held) or a
    quarter of it since the last try (not held), so calling it every step costs nothing.
    """

    def __init__(self, database: LogDatabase, name: str, ttl: float = 10.0) -> None:
        if not 0.1 <= ttl <= 3600:
            raise InvalidInputError(f"a lease lasts between 0.1 and 3600 seconds, not {ttl}")
        self.database = database
        self.name = name
        self.ttl = ttl
        self.holder = holder_name()
        self._epoch: int | None = None
        self._until = 0.0  # monotonic time until which the lease is surely ours
        self._tried = float("-inf")
        self._conn: Conn | None = None
        self._lock = threading.Lock()

    @property
    def epoch(self) -> int | None:
        return self._epoch if time.monotonic() < self._until else None

    def _execute(self, sql: str, epoch: int | None = None) -> int | None:
        """Run one lease statement in its own transaction; the epoch it returned, if any."""
        from chainml.log.postgres_schema import connect, translated

        with translated(self.database):
            if self._conn is None or self._conn.broken or self._conn.closed:
                self._conn = connect(self.database, create=False)
            params = {"name": self.name, "me": self.holder, "ttl": self.ttl, "epoch": epoch}
            started = time.monotonic()
            row = self._conn.execute(sql, params).fetchone()
        if row is None:
            return None
        self._until = started + self.ttl  # counted from before the statement: conservative
        return int(row[0])

    def hold(self) -> bool:
        with self._lock:
            now = time.monotonic()
            if self._epoch is not None and self._until - now > self.ttl / 2:
                return True
            if self._epoch is None and now - self._tried < self.ttl / 4:
                return False
            self._tried = now
            # held again, or taken: the epoch returned is the token of this term
            self._epoch = self._execute(_ACQUIRE)
            if self._epoch is None:
                self._until = 0.0
            return self._epoch is not None

    def fence(self) -> int:
        with self._lock:
            epoch = self._epoch
            if epoch is None:
                raise NotLeaderError(self.name, None, "it was never acquired")
            if self._execute(_FENCE, epoch) is None:
                self._epoch, self._until = None, 0.0
                raise NotLeaderError(self.name, epoch, "it expired or another process took it")
            return epoch

    def release(self) -> None:
        with self._lock:
            if self._epoch is not None:
                self._execute(_RELEASE, self._epoch)
            self._epoch, self._until = None, 0.0
            self._tried = float("-inf")  # asked again, if at all, at once
            if self._conn is not None:
                self._conn.close()
                self._conn = None
