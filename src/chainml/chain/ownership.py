"""Who writes an embedded data directory: one owning process, held by an OS lock in the directory.

Two processes that each open the chain database for writing each build blocks on their own
copy of the head, and the later commit erases the other's transactions. So the first process
that opens a data directory for writing takes an exclusive ``flock`` on ``chain.lock`` and
writes its PID there; the kernel drops the lock when the process exits, however it exits
(``kill -9`` included), so a dead owner never blocks the next one. A long-running owner
(``chainml chain serve``, ``chainml serve``) also *advertises* a JSON-RPC endpoint in
``chain.endpoint``; other processes then reach the chain through it instead of opening it.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
from dataclasses import dataclass
from pathlib import Path

from chainml import bounded_json
from chainml._closing import Closing
from chainml.config import ensure_directory
from chainml.errors import DataDirectoryError, InvalidInputError
from chainml.files import write_atomic

LOCK_FILE = "chain.lock"
ENDPOINT_FILE = "chain.endpoint"
_READ_ONLY_ERRNOS = (errno.EACCES, errno.EPERM, errno.EROFS)


@dataclass(frozen=True)
class Owner:
    """The live process that owns a data directory, and its endpoint if it serves one."""

    pid: int | None
    url: str | None


def ensure_data_directory(data_dir: Path) -> None:
    """Create the data directory on first use (see :func:`chainml.config.ensure_directory`)."""
    try:
        ensure_directory(data_dir)
    except OSError as err:  # a read-only parent, most often
        raise DataDirectoryError(str(data_dir), f"cannot be created: {err.strerror}") from err


def take_ownership(data_dir: Path) -> OwnerLock | Owner | None:
    """Become the owner of ``data_dir``.

    Returns the lock when this process now owns the directory, the :class:`Owner` when
    another live process does, and None when the directory is read-only to this process
    (the lock file can be neither created nor opened for writing).
    """
    try:
        fd = os.open(data_dir / LOCK_FILE, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    except OSError as err:
        if err.errno in _READ_ONLY_ERRNOS:
            return None
        raise DataDirectoryError(str(data_dir), f"cannot open {LOCK_FILE}: {err}") from err
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return current_owner(data_dir) or Owner(None, None)
    os.ftruncate(fd, 0)
    os.write(fd, f"{os.getpid()}\n".encode())
    return OwnerLock(data_dir, fd)


class OwnerLock(Closing):
    """Ownership of one data directory by this process; :meth:`close` gives it up."""

    def __init__(self, data_dir: Path, fd: int) -> None:
        self.data_dir = data_dir
        self._fd: int | None = fd
        self.url: str | None = None

    def advertise(self, url: str) -> None:
        """Record ``url`` as the way other processes reach the chain this process owns."""
        document = json.dumps({"pid": os.getpid(), "url": url})
        write_atomic(self.data_dir / ENDPOINT_FILE, document + "\n")  # never half a document
        self.url = url

    def withdraw(self) -> None:
        """Stop advertising the endpoint (the lock is kept)."""
        if self.url is not None:
            (self.data_dir / ENDPOINT_FILE).unlink(missing_ok=True)
            self.url = None

    def close(self) -> None:
        """Withdraw the endpoint and release the lock (the file stays: unlinking it would race)."""
        if self._fd is None:
            return
        self.withdraw()
        fcntl.flock(self._fd, fcntl.LOCK_UN)
        os.close(self._fd)
        self._fd = None


def current_owner(data_dir: Path) -> Owner | None:
    """The live owner of ``data_dir``, or None when no process holds its lock."""
    path = data_dir / LOCK_FILE
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    except OSError as err:
        raise DataDirectoryError(str(data_dir), f"cannot read {LOCK_FILE}: {err}") from err
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            pid = _pid(os.read(fd, 64))
        else:
            fcntl.flock(fd, fcntl.LOCK_UN)
            return None
    finally:
        os.close(fd)
    return Owner(pid, _advertised_url(data_dir, pid))


def _pid(text: bytes) -> int | None:
    try:
        return int(text.decode().strip())
    except (UnicodeDecodeError, ValueError):
        return None  # the owner is between taking the lock and writing its PID


def _advertised_url(data_dir: Path, pid: int | None) -> str | None:
    """The endpoint the owner advertises; one left by an earlier, dead owner is ignored."""
    try:
        text = (data_dir / ENDPOINT_FILE).read_bytes()
        document = bounded_json.loads(text, what=ENDPOINT_FILE, max_bytes=4096)
    except (OSError, InvalidInputError):
        return None
    if not isinstance(document, dict) or document.get("pid") != pid or pid is None:
        return None
    url = document.get("url")
    return url if isinstance(url, str) and url.startswith("http://127.0.0.1:") else None
