"""The source of another commit, to run as a benchmark's baseline beside the code checked out.

``source_tree(commit)`` unpacks the commit's ``src/`` (``git archive``: no worktree, nothing
recorded in the repository) into a temporary directory; ``with_pythonpath(tree)`` makes the
servers and processes a benchmark starts import ``chainml`` from it. Both sides then run in the
same run, on the same machine and data, so a noisy machine shifts them together.
"""

from __future__ import annotations

import contextlib
import io
import os
import subprocess
import tarfile
import tempfile
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


@contextlib.contextmanager
def source_tree(commit: str) -> Iterator[Path]:
    """A temporary directory holding ``commit``'s ``src/`` (SystemExit if git cannot give it)."""
    try:
        archive = subprocess.run(
            ["git", "-C", str(REPO), "archive", "--format=tar", commit, "src"],
            check=True,
            capture_output=True,
        ).stdout
    except (OSError, subprocess.CalledProcessError) as err:
        detail = getattr(err, "stderr", b"") or b""
        raise SystemExit(f"cannot read commit {commit}: {err} {detail.decode()}") from err
    with tempfile.TemporaryDirectory(prefix=f"chainml-baseline-{commit[:10]}-") as tmp:
        with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
            tar.extractall(tmp, filter="data")
        yield Path(tmp)


@contextlib.contextmanager
def with_pythonpath(tree: Path | None) -> Iterator[None]:
    """Child processes started inside import ``chainml`` from ``tree`` (None: unchanged)."""
    if tree is None:
        yield
        return
    before = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = str(tree / "src")
    try:
        yield
    finally:
        if before is None:
            del os.environ["PYTHONPATH"]
        else:
            os.environ["PYTHONPATH"] = before


def commit_of(ref: str) -> str:
    """The short hash ``ref`` names (for the tables)."""
    out = subprocess.run(
        ["git", "-C", str(REPO), "rev-parse", "--short", ref],
        check=True,
        capture_output=True,
        text=True,
    )
    return out.stdout.strip()
