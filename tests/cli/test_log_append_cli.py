"""``chainml log append``: all or nothing, input read once, strict lines, read-only copies.

"Unchanged" is checked on the bytes of the log file after the command has exited (every
connection closed, so SQLite has folded its write-ahead log back into the file) and on the
tree head read back through a fresh connection.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import stat
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chainml.log.decision_log import LOG_FILE, DecisionLog
from chainml.log.jsonl import parse_line
from chainml.log.record import commit_features
from tests.cli.test_cli import clean_env, flat, isolated, run  # noqa: F401  (autouse fixture)
from tests.cli.test_log_cli import MODEL, line


def lines(start: int, count: int) -> list[str]:
    return [line(i) for i in range(start, start + count)]


def write(path: Path, rows: list[str]) -> Path:
    path.write_text("\n".join(rows) + "\n")
    return path


def snapshot(data_dir: Path) -> tuple[bytes, int, bytes]:
    """The log file's bytes and its tree head, as another process would find them."""
    with DecisionLog.open(data_dir, read_only=True) as log:
        head = log.head()
    return (data_dir / LOG_FILE).read_bytes(), head.size, head.root


@pytest.fixture
def data(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    """A data directory whose log already holds decisions 0..4."""
    data_dir = tmp_path / "data"
    code, _, err = run(capsys, "--data-dir", str(data_dir), "log", "append", str(
        write(tmp_path / "first.jsonl", lines(0, 5))
    ))  # fmt: skip
    assert code == 0, err
    return data_dir


def append(capsys: pytest.CaptureFixture[str], data: Path, *args: str) -> tuple[int, str, str]:
    return run(capsys, "--data-dir", str(data), "log", "append", *args)


# -- all or nothing ---------------------------------------------------------------------------

BAD_LAST_LINES = {
    "label -1": ({"label": -1}, "label"),
    "score 2**300": ({"score": 2**300}, "score"),
    "timestamp 2**64": ({"timestamp_ms": 2**64}, "timestamp_ms"),
    "commitment of other features": (
        {"input_commitment": "0x" + commit_features([1, 2, 3]).hex()},
        "input_commitment",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_LAST_LINES))
def test_a_bad_last_line_of_10001_appends_nothing_and_the_fixed_file_goes_in(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, data: Path, case: str
) -> None:
    change, field = BAD_LAST_LINES[case]
    good = lines(5, 10_000)  # more than one write batch
    before = snapshot(data)
    path = write(tmp_path / "big.jsonl", [*good, line(10_005, **change)])
    code, _, err = append(capsys, data, str(path))
    assert code == 2 and "line 10001" in err and field in err, err
    assert snapshot(data) == before
    write(path, [*good, line(10_005)])  # fixed: every line goes in, none "already logged"
    code, out, err = append(capsys, data, str(path))
    assert code == 0, err
    assert "appended 10001 decisions; log size 10006" in flat(out)


def test_a_request_id_repeated_in_the_file_or_already_logged_appends_nothing(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, data: Path
) -> None:
    before = snapshot(data)
    repeated = write(tmp_path / "twice.jsonl", [*lines(5, 30), line(17, score=1), *lines(35, 3)])
    code, _, err = append(capsys, data, str(repeated))
    assert code == 2 and "line 31" in err and "repeats the request id of line 13" in flat(err)
    known = write(tmp_path / "known.jsonl", [*lines(5, 30), line(3)])
    code, _, err = append(capsys, data, str(known))
    assert code == 2 and "line 31" in err and "already logged (decision 3)" in flat(err)
    assert snapshot(data) == before


# -- the input is read once: pipes and stdin ------------------------------------------------------


@pytest.mark.parametrize("name", ["-", "/dev/stdin"])
def test_piped_input_appends_exactly_its_lines(tmp_path: Path, data: Path, name: str) -> None:
    text = "\n".join(lines(5, 3)) + "\n\n"  # a blank line is no decision
    done = subprocess.run(
        [sys.executable, "-m", "chainml.cli.main", "--data-dir", str(data), "log", "append", name],
        input=text,
        capture_output=True,
        text=True,
        env=clean_env(),
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "appended 3 decisions; log size 8" in flat(done.stdout)
    with DecisionLog.open(data) as log:
        assert [log.record(i).score for i in range(5, 8)] == [-995, -994, -993]


def test_stdin_in_process(
    capsys: pytest.CaptureFixture[str], data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import io

    stdin = io.TextIOWrapper(io.BytesIO(("\n".join(lines(5, 4)) + "\n").encode()))
    monkeypatch.setattr(sys, "stdin", stdin)
    code, out, err = append(capsys, data, "-")
    assert code == 0 and "log size 9" in flat(out), err


# -- strict lines: every bad value is exit 2, naming the line and field -------------------------

STRICT = {
    "features as a string": (line(5, features="123"), "features"),
    "a feature as a float": (line(5, features=[1, 1.0]), "features[1]"),
    "a feature as a boolean": (line(5, features=[True]), "features[0]"),
    "request_id null": (line(5, request_id=None), "request_id"),
    "request_id a number": (line(5, request_id=5), "request_id"),
    "request_id empty": (line(5, request_id=""), "request_id"),
    "score 1.5": (line(5, score=1.5), "score"),
    "score '12'": (line(5, score="12"), "score"),
    "score true": (line(5, score=True), "score"),
    "score missing": (json.dumps({"request_id": "x", "model_id": MODEL, "label": 0}), "score"),
    "label 256": (line(5, label=256), "label"),
    "model_id null": (line(5, model_id=None), "model_id"),
    "model_id short": (line(5, model_id="0xab"), "model_id"),
    "metadata a list": (line(5, metadata=[1]), "metadata"),
    "an unknown field": (line(5, feature=[1]), "feature"),
    "not an object": ("[1, 2]", "object"),
    "not JSON": ('{"request_id": ', "not JSON"),
    "a 5,000-digit integer": (line(5).replace("-995", "9" * 5000), "digits"),
    "1e400": (line(5).replace("-995", "1e400"), "overflows"),
    "a lone surrogate": (line(5).replace("order-5", "\\ud800"), "surrogate"),
    "nested 100,000 deep": (
        line(5).replace('{"merchant": "m2"}', "[" * 100_000 + "]" * 100_000),
        "nested",
    ),
    "NaN": (line(5).replace("-995", "NaN"), "NaN"),
    "a key given twice": (line(5).replace('"label": 1', '"label": 1, "label": 0'), "twice"),
}


@pytest.mark.parametrize("case", sorted(STRICT))
def test_strict_lines_exit_2_naming_line_and_field(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, data: Path, case: str
) -> None:
    bad, named = STRICT[case]
    before = snapshot(data)
    path = tmp_path / "strict.jsonl"
    path.write_text("\n".join([*lines(5, 2), bad, line(8)]) + "\n")
    code, _, err = append(capsys, data, str(path))
    assert code == 2, err
    assert "line 3" in err and named in err
    assert snapshot(data) == before


def test_a_line_over_the_limit_is_refused_without_reading_it_whole(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, data: Path
) -> None:
    path = tmp_path / "long.jsonl"
    path.write_text(line(5) + "\n" + line(6, metadata={"x": "y" * (1 << 20)}) + "\n")
    code, _, err = append(capsys, data, str(path))
    assert code == 2 and "line 2" in err and "longer than 1,048,576 bytes" in flat(err)


def test_an_unreadable_input_is_exit_2(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, data: Path
) -> None:
    code, _, err = append(capsys, data, str(tmp_path / "missing.jsonl"))
    assert code == 2 and "cannot read" in err
    code, _, err = append(capsys, data, str(tmp_path))  # a directory
    assert code == 2 and "cannot read" in err


# -- fuzz: mutated lines only ever exit 0 or 2, and 2 changes nothing -------------------------


_MUTATION_ALPHABET = '0123456789-+.eE"\\{}[]:,untrfalse \x00\u00e9\ud800'


@st.composite
def mutated_line(draw: st.DrawFn) -> str:
    text = line(draw(st.integers(0, 10**6)))
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(text)))
        kind = draw(st.sampled_from(["insert", "delete", "replace"]))
        char = draw(st.sampled_from(_MUTATION_ALPHABET))
        if kind == "insert":
            text = text[:at] + char + text[at:]
        elif kind == "delete":
            text = text[:at] + text[at + 1 :]
        else:
            text = text[:at] + char + text[at + 1 :]
    return text


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(mutated=st.lists(mutated_line(), min_size=1, max_size=3))
def test_fuzzed_lines_exit_0_or_2_and_2_changes_nothing(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, data: Path, mutated: list[str]
) -> None:
    before = snapshot(data)
    path = tmp_path / "fuzz.jsonl"
    path.write_bytes(("\n".join(mutated) + "\n").encode("utf-8", "surrogatepass"))
    code, _, err = append(capsys, data, str(path))
    assert code in (0, 2), err
    after = snapshot(data)
    if code == 2:
        assert after == before
    else:
        assert before[1] < after[1] <= before[1] + len(mutated)


# -- durability reaches the log -------------------------------------------------------------------


@pytest.mark.parametrize("level", ["normal", "full"])
def test_the_durability_setting_reaches_the_log(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    level: str,
) -> None:
    opened: list[int] = []
    real_open = DecisionLog.open.__func__  # type: ignore[attr-defined]

    def spying(cls: type[DecisionLog], *args: object, **kwargs: object) -> DecisionLog:
        log = real_open(cls, *args, **kwargs)
        conn = log.store._conn  # type: ignore[attr-defined]
        opened.append(conn.execute("PRAGMA synchronous").fetchone()[0])
        return log

    monkeypatch.setattr(DecisionLog, "open", classmethod(spying))
    monkeypatch.setenv("CHAINML_DURABILITY", level)
    path = write(tmp_path / "a.jsonl", lines(0, 2))
    code, _, err = run(capsys, "--data-dir", str(tmp_path / "d"), "log", "append", str(path))
    assert code == 0, err
    assert opened == [{"normal": 1, "full": 2}[level]]  # SQLite's synchronous=NORMAL / FULL


# -- a read-only copy of a data directory ---------------------------------------------------------


@contextmanager
def read_only(directory: Path) -> Iterator[None]:
    """Make ``directory`` and its files read-only for the duration."""
    paths = [directory, *directory.iterdir()]
    for path in paths:
        path.chmod(0o555 if path.is_dir() else 0o444)
    try:
        yield
    finally:
        for path in paths:
            path.chmod(stat.S_IRWXU)


def unprivileged(*args: str) -> subprocess.CompletedProcess[str]:
    """Run the CLI bound by file permissions (as root: without the capabilities that skip them)."""
    command = [sys.executable, "-m", "chainml.cli.main", *args]
    if os.geteuid() == 0:
        setpriv = shutil.which("setpriv")
        if setpriv is None:
            pytest.skip("running as root without setpriv: permissions cannot be enforced")
        drop = "--bounding-set=-dac_override,-dac_read_search,-fowner"
        command = [setpriv, drop, *command]
    return subprocess.run(
        command, capture_output=True, text=True, env=clean_env(), timeout=120, check=False
    )


def copy_while_open(source: Path, target: Path) -> None:
    """Copy a data directory while the log is open: decisions 5 and 6 only in its -wal file."""
    with DecisionLog.open(source) as log:
        log.append([parse_line(text, 1) for text in lines(5, 2)])
        shutil.copytree(source, target)
    assert (target / f"{LOG_FILE}-wal").stat().st_size > 0


@pytest.mark.parametrize("copy", ["clean", "with its write-ahead log"])
def test_a_read_only_copy_can_be_read_and_audited_but_not_appended_to(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, data: Path, copy: str
) -> None:
    copied = tmp_path / "copy"
    if copy == "clean":
        shutil.copytree(data, copied)
    else:
        copy_while_open(data, copied)
    write(tmp_path / "more.jsonl", lines(10, 2))
    with read_only(copied):
        files = sorted(p.name for p in copied.iterdir())
        head = unprivileged("--data-dir", str(copied), "log", "head", "--json")
        assert head.returncode == 0, head.stderr
        assert json.loads(head.stdout)["size"] == (5 if copy == "clean" else 7)
        audit = unprivileged("--data-dir", str(copied), "log", "audit", "--offline")
        assert audit.returncode == 0 and "audit passed" in audit.stdout, audit.stderr
        prove = unprivileged("--data-dir", str(copied), "log", "prove", "3")
        assert prove.returncode == 0, prove.stderr
        assert json.loads(prove.stdout)["leaf_index"] == 3
        refused = unprivileged(
            "--data-dir", str(copied), "log", "append", str(tmp_path / "more.jsonl")
        )
        assert refused.returncode == 6, refused.stderr
        assert "read-only" in refused.stderr and "internal error" not in refused.stderr
        assert sorted(p.name for p in copied.iterdir()) == files  # nothing created


def test_a_write_ahead_log_without_its_shm_in_a_read_only_copy_is_exit_6(
    tmp_path: Path, data: Path
) -> None:
    copied = tmp_path / "copy"
    copy_while_open(data, copied)
    (copied / f"{LOG_FILE}-shm").unlink()
    with read_only(copied):
        done = unprivileged("--data-dir", str(copied), "log", "head")
    assert done.returncode == 6, done.stderr
    assert "-shm" in done.stderr


def test_a_data_directory_that_cannot_be_created_is_exit_6_for_writers_only(
    tmp_path: Path,
) -> None:
    parent = tmp_path / "locked"
    parent.mkdir()
    path = write(tmp_path / "a.jsonl", lines(0, 1))
    with read_only(parent):
        head = unprivileged("--data-dir", str(parent / "data"), "log", "head", "--json")
        refused = unprivileged("--data-dir", str(parent / "data"), "log", "append", str(path))
    assert head.returncode == 0 and json.loads(head.stdout)["size"] == 0, head.stderr
    assert refused.returncode == 6 and "read-only" in refused.stderr, refused.stderr
    assert not (parent / "data").exists()


def test_an_anchored_read_only_copy_is_audited_and_verified_on_chain(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, data: Path
) -> None:
    def cli(*args: str) -> str:
        code, out, err = run(capsys, "--data-dir", str(data), *args)
        assert code == 0, err
        return out

    cli("log", "anchor")
    cli("log", "append", str(write(tmp_path / "more.jsonl", lines(5, 2))))
    cli("log", "anchor")
    identity = json.loads(cli("log", "identity", "--json"))
    receipt = tmp_path / "receipt.json"
    receipt.write_text(cli("log", "prove", "6"))
    copied = tmp_path / "copy"
    shutil.copytree(data, copied)
    # as after a crash between the second anchor and its bookkeeping: the chain holds a head
    # the copy has not recorded, which an audit finds (and, on a writable log, records)
    with sqlite3.connect(copied / LOG_FILE) as db:
        db.execute("DELETE FROM anchors WHERE size = 7")
    with read_only(copied):
        files = {p.name: p.read_bytes() for p in copied.iterdir() if p.is_file()}
        audit = unprivileged("--data-dir", str(copied), "log", "audit")  # on chain, not --offline
        assert audit.returncode == 0, audit.stderr
        assert "1 anchored heads (1 checked on chain)" in audit.stdout
        pinned = f"{identity['chain_id']}:{identity['contract']}"
        verify = unprivileged(
            "--data-dir", str(copied), "log", "verify", str(receipt), "--log", pinned
        )
        assert verify.returncode == 0, verify.stderr
        assert {p.name: p.read_bytes() for p in copied.iterdir() if p.is_file()} == files
