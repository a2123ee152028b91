"""chainml.files: a replaced file or directory is the old one or the new one, never a part."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from chainml import files
from chainml.files import atomic_directory, atomic_output, replace_file, write_atomic


class BoomError(Exception):
    pass


def _fsynced_directories(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """Record the directories fsync_directory is called on (and still fsync them)."""
    seen: list[Path] = []
    real = files.fsync_directory

    def spy(path: os.PathLike[str] | str) -> None:
        seen.append(Path(path))
        real(path)

    monkeypatch.setattr(files, "fsync_directory", spy)
    return seen


def test_write_atomic_replaces_the_file_and_fsyncs_file_and_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "deployments.json"
    target.write_text("old")
    fsynced: list[int] = []
    real_fsync = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (fsynced.append(fd), real_fsync(fd))[1])
    directories = _fsynced_directories(monkeypatch)
    write_atomic(target, "new ✓")
    assert target.read_text(encoding="utf-8") == "new ✓"
    assert directories == [tmp_path]  # the rename itself is made durable
    assert fsynced  # the file's data before the rename
    assert sorted(p.name for p in tmp_path.iterdir()) == ["deployments.json"]
    assert target.stat().st_mode & 0o777 == 0o644
    write_atomic(target, b"\x00bytes")
    assert target.read_bytes() == b"\x00bytes"


def test_a_failure_mid_write_leaves_the_old_file_and_no_temporary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "schema.json"
    target.write_text("old")
    with pytest.raises(BoomError), atomic_output(target) as out:
        out.write("half of the new")
        out.flush()
        raise BoomError
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["schema.json"]

    def failing_fsync(fd: int) -> None:  # the disk fails while the data is being synced
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(os, "fsync", failing_fsync)
    with pytest.raises(OSError, match="Input/output"):
        write_atomic(target, "new" * 1000)
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["schema.json"]


def test_a_failed_rename_removes_the_temporary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "out.txt"

    def failing_replace(src: object, dst: object) -> None:
        raise OSError(18, "Invalid cross-device link")

    monkeypatch.setattr(os, "replace", failing_replace)
    with pytest.raises(OSError, match="cross-device"):
        write_atomic(target, "new")
    assert list(tmp_path.iterdir()) == []


def test_a_new_file_is_created(tmp_path: Path) -> None:
    write_atomic(tmp_path / "fresh.txt", "x", mode=0o600)
    assert (tmp_path / "fresh.txt").read_text() == "x"
    assert (tmp_path / "fresh.txt").stat().st_mode & 0o777 == 0o600


def test_replace_file_moves_a_finished_file_durably(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    directories = _fsynced_directories(monkeypatch)
    finished = tmp_path / ".data.csv.part"
    finished.write_text("rows")
    replace_file(finished, tmp_path / "data.csv")
    assert (tmp_path / "data.csv").read_text() == "rows" and not finished.exists()
    assert directories == [tmp_path]


def test_atomic_directory_appears_whole_or_not_at_all(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    final = tmp_path / "0xmodel"
    with pytest.raises(BoomError), atomic_directory(final) as staging:
        (staging / "model.onnx").write_bytes(b"onnx")
        raise BoomError
    assert list(tmp_path.iterdir()) == []  # no model and no staging directory

    directories = _fsynced_directories(monkeypatch)
    with atomic_directory(final) as staging:
        (staging / "model.onnx").write_bytes(b"onnx")
        (staging / "card.json").write_text("{}")
        assert not final.exists()  # nothing visible before the end
    assert sorted(p.name for p in final.iterdir()) == ["card.json", "model.onnx"]
    assert final.stat().st_mode & 0o777 == 0o755
    assert directories[-1] == tmp_path  # the rename is made durable
    assert [p.name for p in tmp_path.iterdir()] == ["0xmodel"]


def test_atomic_directory_never_replaces_a_directory_with_content(tmp_path: Path) -> None:
    final = tmp_path / "0xmodel"
    final.mkdir()
    (final / "model.onnx").write_bytes(b"first")
    with pytest.raises(OSError), atomic_directory(final) as staging:
        (staging / "model.onnx").write_bytes(b"second")
    assert (final / "model.onnx").read_bytes() == b"first"
    assert [p.name for p in tmp_path.iterdir()] == ["0xmodel"]


def test_call_sites_leave_no_temporary_when_the_rename_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The demo report and the schema writer once leaked their temporary file on an error."""
    from chainml.apps.report import Report
    from chainml.governance.deployments import write_json_atomic

    def failing_replace(src: object, dst: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", failing_replace)
    with pytest.raises(OSError, match="No space"):
        Report("run").write(tmp_path / "report.html")
    with pytest.raises(OSError, match="No space"):
        write_json_atomic(tmp_path / "deployments.json", {"chains": {}})
    assert list(tmp_path.iterdir()) == []


def test_a_writer_killed_mid_write_leaves_a_temporary_that_the_sweep_removes(
    tmp_path: Path,
) -> None:
    import signal
    import subprocess
    import sys

    target = tmp_path / "state.bin"
    writer = subprocess.Popen(
        [sys.executable, "-c",
         "import sys, time; from chainml.files import atomic_output\n"
         f"with atomic_output({str(target)!r}, binary=True) as out:\n"
         "    out.write(b'half'); out.flush(); print('writing', flush=True); time.sleep(60)"],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert writer.stdout is not None and writer.stdout.readline().strip() == "writing"
    finally:
        writer.send_signal(signal.SIGKILL)
        writer.wait(10)
    [leftover] = tmp_path.glob(".state.bin.*.tmp")  # kill -9 skipped the clean-up
    with atomic_output(target, binary=True) as live:  # a live writer's temporary is kept
        [*ours] = (p for p in tmp_path.glob(".state.bin.*.tmp") if p != leftover)
        assert files.sweep_stale_temporaries(target) == [leftover]
        assert not leftover.exists() and all(p.exists() for p in ours) and ours
        live.write(b"whole")
    assert target.read_bytes() == b"whole" and not list(tmp_path.glob(".state.bin.*.tmp"))
