"""Replacing files and directories atomically: readers and crashes see the old or the new one.

Every file chainml replaces goes through here. A file is written to a temporary file in the
same directory (a rename is only atomic within one file system), flushed and fsynced, renamed
over the target, and the directory is fsynced so the rename itself survives a power cut. On any
error the temporary file is removed and the target is untouched. A directory (a stored model)
is built in a temporary sibling directory, every file in it fsynced, and renamed into place.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any, Literal, overload

__all__ = [
    "atomic_directory",
    "atomic_output",
    "fsync_directory",
    "replace_file",
    "write_atomic",
]

StrPath = str | os.PathLike[str]


def fsync_directory(path: StrPath) -> None:
    """Make the entries of directory ``path`` (a rename, a new file) durable."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@overload
def atomic_output(
    path: StrPath,
    binary: Literal[False] = False,
    *,
    mode: int = 0o644,
    encoding: str = "utf-8",
    newline: str | None = None,
    sync: bool = True,
) -> contextlib.AbstractContextManager[IO[str]]: ...
@overload
def atomic_output(
    path: StrPath,
    binary: Literal[True],
    *,
    mode: int = 0o644,
    encoding: str = "utf-8",
    newline: str | None = None,
    sync: bool = True,
) -> contextlib.AbstractContextManager[IO[bytes]]: ...
def atomic_output(
    path: StrPath,
    binary: bool = False,
    *,
    mode: int = 0o644,
    encoding: str = "utf-8",
    newline: str | None = None,
    sync: bool = True,
) -> contextlib.AbstractContextManager[IO[str]] | contextlib.AbstractContextManager[IO[bytes]]:
    """A file handle whose contents replace ``path`` when the ``with`` block ends without error.

    For writers that stream (a CSV writer, a download). ``mode`` is the new file's permission
    bits; ``binary`` opens the handle in bytes. On an error the temporary file is removed.
    ``sync=False`` skips both fsyncs: still atomic for readers, durable only after the caller's
    own ``os.sync()`` (for many files at once, made durable together before a file naming them).
    """
    return _atomic_output(Path(path), binary, mode, encoding, newline, sync)


@contextlib.contextmanager
def _atomic_output(
    path: Path, binary: bool, mode: int, encoding: str, newline: str | None, sync: bool
) -> Iterator[IO[Any]]:
    # the process id in the name lets sweep_stale_temporaries tell a killed writer's leftover
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=_temporary_prefix(path), suffix=".tmp")
    try:
        try:
            os.fchmod(fd, mode)
            handle: IO[Any] = (
                os.fdopen(fd, "wb")
                if binary
                else os.fdopen(fd, "w", encoding=encoding, newline=newline)
            )
        except BaseException:
            os.close(fd)  # the handle never took it over
            raise
        with handle:
            yield handle
            handle.flush()
            if sync:
                os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    if sync:
        fsync_directory(path.parent)


def _temporary_prefix(path: Path, pid: int | None = None) -> str:
    return f".{path.name}.{os.getpid() if pid is None else pid}."


def sweep_stale_temporaries(path: StrPath) -> list[Path]:
    """Remove the temporary files of atomic writes of ``path`` whose writer was killed.

    kill -9 skips the clean-up; the temporary's name carries its process id, so one whose
    process is gone is removed, and one whose process lives (or whose id was reused) is left.
    For a writer that replaces the same file again and again (call it once when it starts).
    """
    path = Path(path)
    removed = []
    for leftover in path.parent.glob(f".{path.name}.*.tmp"):
        pid = leftover.name.removeprefix(f".{path.name}.").split(".", 1)[0]
        if pid.isdigit() and not process_alive(int(pid)):
            leftover.unlink(missing_ok=True)
            removed.append(leftover)
    return removed


def process_alive(pid: int) -> bool:
    """Whether a process ``pid`` exists (one of another user's counts as alive)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def write_atomic(path: StrPath, data: bytes | str, *, mode: int = 0o644, sync: bool = True) -> None:
    """Replace the file ``path`` by ``data`` (text is UTF-8): old or new, never a mix.

    ``sync=False``: see :func:`atomic_output`.
    """
    if isinstance(data, str):
        with atomic_output(path, mode=mode, sync=sync) as text:
            text.write(data)
    else:
        with atomic_output(path, binary=True, mode=mode, sync=sync) as raw:
            raw.write(data)


def replace_file(finished: StrPath, path: StrPath) -> None:
    """Move the finished file ``finished`` (same directory) over ``path``, durably.

    For a file another function must write by name (and that is checked before it counts):
    it is fsynced, renamed, and the directory fsynced. ``finished`` is removed on an error.
    """
    try:
        with open(finished, "rb") as handle:
            os.fsync(handle.fileno())
        os.replace(finished, path)
    except BaseException:
        Path(finished).unlink(missing_ok=True)
        raise
    fsync_directory(Path(path).parent)


@contextlib.contextmanager
def atomic_directory(path: StrPath, *, mode: int = 0o755) -> Iterator[Path]:
    """A staging directory that becomes ``path`` when the ``with`` block ends without error.

    Write the files into the yielded directory. On success every file in it is fsynced, the
    directory gets ``mode`` and is renamed to ``path`` (which must not exist, or be empty), and
    the parent is fsynced. On an error, or when ``path`` appeared meanwhile, the staging
    directory is removed (the latter raises ``FileExistsError``/``OSError``, with ``path``
    left as the other writer made it).
    """
    final = Path(path)
    staging = Path(tempfile.mkdtemp(prefix=f".{final.name}.", suffix=".tmp", dir=final.parent))
    try:
        yield staging
        for item in staging.rglob("*"):
            if item.is_file():
                with item.open("rb") as handle:
                    os.fsync(handle.fileno())
        fsync_directory(staging)
        staging.chmod(mode)
        os.rename(staging, final)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    fsync_directory(final.parent)
