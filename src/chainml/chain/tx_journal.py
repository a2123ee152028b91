"""The transaction journal: one sender's in-flight transactions and spending, kept across restarts.

A transaction is written here *before* it is sent, with its signed bytes, so that a process
killed at any moment leaves behind what it may have sent: the next process re-sends those same
bytes (a node answers "already known" or mines them once) instead of signing a new transaction
at a new nonce. Every replacement's hash is kept, because any one of them may be the one mined.

The file (``<data dir>/txs/<chain id>-<address>.json``) is rewritten atomically under an
advisory lock, so processes sharing a data directory and a key take turns. Without a data
directory the journal lives in memory.
"""

from __future__ import annotations

import fcntl
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from chainml import bounded_json
from chainml.errors import DataDirectoryError
from chainml.files import write_atomic

_MAX_JOURNAL_BYTES = 4 * 1024 * 1024
_KEEP_DAYS = 40  # days of spending kept (a month of budget reports)


@dataclass
class InFlight:
    """A transaction sent (or about to be) and not yet mined: every version at its nonce."""

    nonce: int
    to: str | None
    data: str  # hex, without 0x
    value: int
    gas: int
    raws: list[str]  # signed versions, oldest first, hex; the last is the current one
    hashes: list[str]  # their hashes, hex, same order
    max_fee: int
    tip: int
    first_sent: float  # clock time of the first version
    last_sent: float  # clock time the current version was (re)sent

    @property
    def raw(self) -> bytes:
        """The current signed version."""
        return bytes.fromhex(self.raws[-1])

    @property
    def tx_hashes(self) -> list[bytes]:
        """Every version's hash, newest first (the likeliest to be mined)."""
        return [bytes.fromhex(h) for h in reversed(self.hashes)]


@dataclass
class Blocked:
    """Why the sender holds back a transaction: the fee cap or the budget, since when."""

    reason: str  # "fee_cap" or "budget"
    since: float
    needed: int  # wei per gas (fee cap) or wei (budget)
    limit: int


@dataclass
class JournalState:
    """Everything the journal keeps for one sender."""

    in_flight: dict[int, InFlight] = field(default_factory=dict)
    spent: dict[str, int] = field(default_factory=dict)  # UTC day -> wei paid
    paid_total: int = 0
    replacements: int = 0
    resubmissions: int = 0
    blocked: Blocked | None = None

    def to_json(self) -> dict[str, Any]:
        """The file's JSON document."""
        days = sorted(self.spent)[-_KEEP_DAYS:]
        return {
            "version": 1,
            "in_flight": [asdict(t) for t in sorted(self.in_flight.values(), key=_by_nonce)],
            "spent": {day: self.spent[day] for day in days},
            "paid_total": self.paid_total,
            "replacements": self.replacements,
            "resubmissions": self.resubmissions,
            "blocked": None if self.blocked is None else asdict(self.blocked),
        }

    @classmethod
    def from_json(cls, document: Any, where: str) -> JournalState:
        """Parse the file's document; anything malformed is a DataDirectoryError."""
        try:
            flights = [InFlight(**entry) for entry in document["in_flight"]]
            blocked = document.get("blocked")
            return cls(
                in_flight={t.nonce: t for t in flights},
                spent={str(k): int(v) for k, v in document["spent"].items()},
                paid_total=int(document["paid_total"]),
                replacements=int(document["replacements"]),
                resubmissions=int(document["resubmissions"]),
                blocked=None if blocked is None else Blocked(**blocked),
            )
        except (KeyError, TypeError, ValueError, AttributeError) as err:
            raise DataDirectoryError(where, f"the transaction journal is damaged: {err}") from err


def _by_nonce(flight: InFlight) -> int:
    return flight.nonce


class Journal:
    """A sender's journal, in memory or in a file; change it only inside :meth:`change`."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path
        self._memory = JournalState()
        self._lock = threading.RLock()

    @contextmanager
    def change(self) -> Iterator[JournalState]:
        """The current state, locked against other threads and processes; saved on exit."""
        with self._lock:
            if self.path is None:
                yield self._memory
                return
            self.path.parent.mkdir(mode=0o700, exist_ok=True)
            with open(self.path.with_suffix(".lock"), "a") as lock:
                fcntl.flock(lock, fcntl.LOCK_EX)
                state = self._load()
                yield state
                write_atomic(self.path, json.dumps(state.to_json(), indent=1), mode=0o600)

    def read(self) -> JournalState:
        """A copy of the current state (for status and reports)."""
        with self._lock:
            if self.path is None:
                return JournalState.from_json(self._memory.to_json(), "memory")
            return self._load()

    def _load(self) -> JournalState:
        assert self.path is not None
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return JournalState()
        except OSError as err:
            raise DataDirectoryError(str(self.path), f"cannot read: {err}") from err
        try:
            document = bounded_json.loads(
                data, what=str(self.path), max_bytes=_MAX_JOURNAL_BYTES, max_integer_digits=100
            )
        except bounded_json.JsonInputError as err:
            raise DataDirectoryError(str(self.path), str(err)) from err
        return JournalState.from_json(document, str(self.path))


def journal_path(data_dir: Path, chain_id: int, address: str) -> Path:
    """Where the journal of ``address`` on chain ``chain_id`` lives in ``data_dir``."""
    return data_dir / "txs" / f"{chain_id}-{address}.json"


def read_journals(data_dir: Path) -> list[tuple[str, JournalState]]:
    """Every sender's journal in ``data_dir`` (``log head`` shows them), by file stem."""
    folder = data_dir / "txs"
    if not folder.is_dir():
        return []
    return [(p.stem, Journal(p).read()) for p in sorted(folder.glob("*.json"))]
