"""Appending a JSON Lines stream of decisions to the log: read once, checked whole, all or nothing.

The stream is read once (it may be a pipe). Every line is parsed and checked
(:mod:`chainml.log.jsonl`) and spooled to a temporary SQLite file, whose unique index finds a
request id repeated in the stream and whose rows are checked, chunk by chunk, against the
log's request ids. Only when every line has passed is anything written: all decisions in one
store transaction (:meth:`~chainml.log.decision_log.DecisionLog.append_all`), so an error at
any point — a bad line, a known request id, a full disk — leaves the log as it was.

Memory stays bounded whatever the stream's length: one line (at most
:data:`~chainml.log.jsonl.MAX_LINE_BYTES`), one chunk of checked decisions and one batch of
records are held at a time; the spool (about the size of the records) is on disk, in the
directory given (the data directory, so it does not fill a RAM-backed ``/tmp``).
"""

from __future__ import annotations

import dataclasses
import os
import pickle
import shutil
import sqlite3
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO

from chainml._closing import Closing
from chainml.errors import DataDirectoryError, InvalidInputError
from chainml.files import process_alive
from chainml.log.decision_log import Decision, DecisionLog
from chainml.log.jsonl import MAX_LINE_BYTES, LineError, parse_line
from chainml.log.store import DuplicateRequestIdError

#: Decisions checked against the log's request ids at a time.
CHECK_CHUNK = 10_000
#: A write batch holds at most this many decisions and about this many bytes of them.
BATCH_RECORDS = 10_000
BATCH_BYTES = 16 << 20

Progress = Callable[[int], None]


def numbered_lines(
    stream: BinaryIO, name: str, max_bytes: int = MAX_LINE_BYTES
) -> Iterator[tuple[int, bytes]]:
    """Yield ``(line number, line)`` for the non-blank lines of ``stream``, each bounded.

    A line longer than ``max_bytes`` is refused without being read whole.
    """
    number = 0
    while True:
        try:
            line = stream.readline(max_bytes + 2)  # room for "\r\n"
        except OSError as err:
            raise InvalidInputError(f"cannot read {name}: {err}") from err
        if not line:
            return
        number += 1
        content = line.strip()
        cut = len(line) == max_bytes + 2 and not line.endswith(b"\n")  # the line goes on
        if cut or len(content) > max_bytes:
            raise LineError(number, f"is longer than {max_bytes:,} bytes")
        if content:
            yield number, content


def append_jsonl(
    log: DecisionLog,
    stream: BinaryIO,
    *,
    name: str = "the input",
    default_model: bytes | None = None,
    data_dir: Path | None = None,
    on_checked: Progress | None = None,
    on_written: Progress | None = None,
) -> int:
    """Append the decisions of the JSON Lines ``stream`` (called ``name``) to ``log``.

    All or nothing: a bad line (:class:`~chainml.log.jsonl.LineError`, naming the line and
    field), a request id repeated in the stream or already in the log, or any failure while
    writing leaves the log as it was. The spool is kept in ``data_dir`` (default: the system's
    temporary directory). ``on_checked(n)`` and ``on_written(n)`` report progress of the two
    passes. Returns the number of decisions appended.
    """
    if log.store.read_only:
        raise DataDirectoryError(
            str(data_dir or "."),
            "the decision log is open read-only (the directory or the log file is not "
            "writable); `log append` needs write access",
        )
    with _Spool(data_dir) as spool:
        chunk: list[tuple[int, Decision]] = []
        for number, line in numbered_lines(stream, name):
            chunk.append((number, parse_line(line, number, default_model)))
            if len(chunk) == CHECK_CHUNK:
                _check_and_spool(log, spool, chunk, on_checked)
                chunk = []
        _check_and_spool(log, spool, chunk, on_checked)
        if spool.count == 0:
            return 0
        try:
            log.append_all(spool.batches(), on_written)
        except DuplicateRequestIdError as err:  # another writer logged it since the check
            number = spool.line_of(err.request_id) or 0
            raise LineError(number, _already_logged(err.index), "request_id") from err
        return spool.count


def _check_and_spool(
    log: DecisionLog,
    spool: _Spool,
    chunk: list[tuple[int, Decision]],
    progress: Progress | None,
) -> None:
    if not chunk:
        return
    known = log.store.indices_of([d.request_id for _, d in chunk])
    for number, decision in chunk:
        if decision.request_id in known:
            raise LineError(number, _already_logged(known[decision.request_id]), "request_id")
    spool.add(chunk)
    if progress is not None:
        progress(len(chunk))


def _already_logged(index: int | None) -> str:
    return "is already logged" + ("" if index is None else f" (decision {index})")


SPOOL_PREFIX = ".append-spool-"


def sweep_stale_spools(directory: Path) -> list[Path]:
    """Remove the spools of appends that were killed (kill -9 skips their clean-up).

    A spool's name carries its process id; one whose process is gone is removed, one whose
    process lives (or whose id was reused) is left alone. Returns what was removed.
    """
    removed = []
    for spool in directory.glob(f"{SPOOL_PREFIX}*"):
        pid = spool.name.removeprefix(SPOOL_PREFIX).split("-", 1)[0]
        if pid.isdigit() and not process_alive(int(pid)):
            shutil.rmtree(spool, ignore_errors=True)
            removed.append(spool)
    return removed


class _Spool(Closing):
    """Checked decisions on disk, in line order, each request id at most once."""

    def __init__(self, directory: Path | None) -> None:
        sweep_stale_spools(Path(directory or tempfile.gettempdir()))
        try:
            prefix = f"{SPOOL_PREFIX}{os.getpid()}-"
            self._dir = tempfile.TemporaryDirectory(prefix=prefix, dir=directory)
            path = Path(self._dir.name) / "spool.sqlite"
            self._conn = sqlite3.connect(path, isolation_level=None)
            for pragma in ("journal_mode = OFF", "synchronous = OFF", "cache_size = -16384"):
                self._conn.execute(f"PRAGMA {pragma}")  # scratch data: no journal, no fsync
            self._conn.execute(
                "CREATE TABLE spool (line INTEGER PRIMARY KEY,"
                " request_id BLOB NOT NULL UNIQUE, decision BLOB NOT NULL)"
            )
        except (OSError, sqlite3.Error) as err:
            raise DataDirectoryError(
                str(directory or tempfile.gettempdir()), f"cannot hold the append spool: {err}"
            ) from err
        self.count = 0

    def add(self, chunk: list[tuple[int, Decision]]) -> None:
        """Spool ``chunk``; a request id already spooled is a LineError naming both lines."""
        rows = [(number, d.request_id, _dumps(d)) for number, d in chunk]
        try:
            self._conn.execute("BEGIN")
            self._conn.executemany("INSERT INTO spool VALUES (?, ?, ?)", rows)
            self._conn.execute("COMMIT")
        except sqlite3.IntegrityError:
            self._conn.execute("ROLLBACK")
            seen: dict[bytes, int] = {}
            for number, request_id, _ in rows:
                first = seen.get(request_id) or self.line_of(request_id)
                if first is not None:
                    raise LineError(
                        number, f"repeats the request id of line {first}", "request_id"
                    ) from None
                seen[request_id] = number
            raise
        except (OSError, sqlite3.Error) as err:
            raise DataDirectoryError(
                self._dir.name, f"cannot write the append spool: {err}"
            ) from err
        self.count += len(rows)

    def line_of(self, request_id: bytes) -> int | None:
        """The line that gave ``request_id``, or None."""
        sql = "SELECT line FROM spool WHERE request_id = ?"
        row = self._conn.execute(sql, (request_id,)).fetchone()
        return None if row is None else int(row[0])

    def batches(self) -> Iterator[list[Decision]]:
        """The spooled decisions in line order, in batches bounded in count and bytes."""
        rows = self._conn.execute("SELECT decision FROM spool ORDER BY line")
        batch: list[Decision] = []
        size = 0
        while chunk := rows.fetchmany(1024):
            for (data,) in chunk:
                batch.append(_loads(data))
                size += len(data)
                if len(batch) == BATCH_RECORDS or size >= BATCH_BYTES:
                    yield batch
                    batch, size = [], 0
        if batch:
            yield batch

    def close(self) -> None:
        """Delete the spool."""
        self._conn.close()
        self._dir.cleanup()


#: The fields of a Decision, as spooled.
_FIELDS = tuple(f.name for f in dataclasses.fields(Decision))


def _dumps(decision: Decision) -> bytes:
    values = tuple(getattr(decision, name) for name in _FIELDS)
    return pickle.dumps(values, protocol=pickle.HIGHEST_PROTOCOL)


def _loads(data: bytes) -> Decision:
    # Only ever what this process spooled, in a private temporary directory.
    return Decision(**dict(zip(_FIELDS, pickle.loads(data), strict=True)))
