"""JSON Lines decisions: strict parsing, the record's own checks, and the all-or-nothing append."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chainml.errors import DataDirectoryError, InvalidInputError
from chainml.log.decision_log import Decision, DecisionLog
from chainml.log.jsonl import INT256, UINT8, UINT64, LineError, metadata_hash, parse_line
from chainml.log.jsonl_append import SPOOL_PREFIX, append_jsonl, numbered_lines
from chainml.log.record import ZERO32, DecisionRecord, commit_features, request_id_from

MODEL = "0x" + "cd" * 32


def text(**fields: object) -> str:
    item: dict[str, object] = {"request_id": "r-1", "model_id": MODEL, "score": 5, "label": 1}
    item.update(fields)
    return json.dumps({k: v for k, v in item.items() if v is not _DROP})


_DROP = object()


def test_a_full_line_becomes_its_decision() -> None:
    commitment = "0x" + commit_features([1, -2]).hex()
    decision = parse_line(
        text(
            features=[1, -2],
            input_commitment=commitment,
            metadata={"b": [1, "é"], "a": None},
            timestamp_ms=2**64 - 1,
            score=-(2**255),
            label=255,
        ),
        7,
    )
    assert decision == Decision(
        model_id=bytes.fromhex("cd" * 32),
        score=-(2**255),
        label=255,
        request_id=request_id_from("r-1"),
        features=(1, -2),
        input_commitment=bytes.fromhex(commitment[2:]),
        metadata_hash=metadata_hash({"a": None, "b": [1, "é"]}),
        timestamp_ms=2**64 - 1,
    )


def test_defaults_and_the_default_model() -> None:
    decision = parse_line(text(model_id=_DROP), 1, default_model=b"\x01" * 32)
    assert decision.model_id == b"\x01" * 32
    assert decision.features == () and decision.input_commitment is None
    assert decision.metadata_hash == ZERO32 and decision.timestamp_ms is None
    with pytest.raises(LineError, match="line 4, model_id: is missing"):
        parse_line(text(model_id=_DROP), 4)


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"score": "12"}, "score"),
        ({"score": 12.0}, "score"),
        ({"score": True}, "score"),
        ({"score": None}, "score"),
        ({"score": 2**255}, "score"),
        ({"label": -1}, "label"),
        ({"label": 256}, "label"),
        ({"label": False}, "label"),
        ({"timestamp_ms": -1}, "timestamp_ms"),
        ({"timestamp_ms": 2**64}, "timestamp_ms"),
        ({"timestamp_ms": None}, "timestamp_ms"),
        ({"features": "123"}, "features"),
        ({"features": [1, "2"]}, "features[1]"),
        ({"features": [-(2**255) - 1]}, "features[0]"),
        ({"features": None}, "features"),
        ({"request_id": None}, "request_id"),
        ({"request_id": 17}, "request_id"),
        ({"request_id": ""}, "request_id"),
        ({"request_id": _DROP}, "request_id"),
        ({"model_id": "0x" + "zz" * 32}, "model_id"),
        ({"model_id": None}, "model_id"),
        ({"input_commitment": ""}, "input_commitment"),
        ({"features": [1], "input_commitment": "0x" + "00" * 32}, "input_commitment"),
        ({"metadata": "note"}, "metadata"),
        ({"metadata": None}, "metadata"),
        ({"Score": 1}, "unknown field 'Score'"),
    ],
)
def test_every_bad_value_names_its_line_and_field(fields: dict[str, object], field: str) -> None:
    with pytest.raises(LineError) as caught:
        parse_line(text(**fields), 12)
    assert isinstance(caught.value, InvalidInputError) and caught.value.line == 12
    assert str(caught.value).startswith("line 12") and field in str(caught.value)


@pytest.mark.parametrize(
    "line",
    [
        "[]",
        "17",
        '"text"',
        "{",
        text().replace('"r-1"', '"\\udc00"'),
        text().replace("5", "1e400"),
        text().replace("5", "9" * 1001),
        text().replace("5", "Infinity"),
        '{"request_id": "a"' + ', "metadata": ' + "[" * 40 + "]" * 40 + "}",
        b'{"request_id": "\xff"}',
    ],
)
def test_lines_that_are_no_json_object_are_line_errors(line: str | bytes) -> None:
    with pytest.raises(LineError, match=r"^line 3"):
        parse_line(line, 3)


_values = st.one_of(
    st.integers(-(2**256), 2**256),
    st.sampled_from([INT256[0], INT256[1], UINT64[1], UINT8[1], -1, 0, 2**64, 256]),
)


@settings(max_examples=300, deadline=None)
@given(
    score=_values,
    label=_values,
    timestamp=_values,
    features=st.lists(_values, max_size=3),
    commit_own=st.booleans(),
)
def test_a_line_parses_exactly_when_its_record_can_be_written(
    score: int, label: int, timestamp: int, features: list[int], commit_own: bool
) -> None:
    """Whatever the line passes, writing accepts; whatever writing refuses, the line refuses."""
    fields: dict[str, object] = {"score": score, "label": label, "timestamp_ms": timestamp}
    fields["features"] = features
    try:
        record_commitment = commit_features(features)
    except InvalidInputError:
        record_commitment = None
    if commit_own and record_commitment is not None:
        fields["input_commitment"] = "0x" + record_commitment.hex()
    try:
        DecisionRecord(
            sequence=0,
            timestamp_ms=timestamp,
            model_id=bytes(32),
            input_commitment=record_commitment or bytes(32),
            score=score,
            label=label,
            request_id=bytes(32),
            features=tuple(features),
        )
        writable = True
    except InvalidInputError:
        writable = False
    try:
        decision = parse_line(text(**fields), 1)
    except LineError:
        assert not writable
    else:
        assert writable
        record = decision.to_record(2**64 - 1, 0)  # the largest sequence the record allows
        assert DecisionRecord.decode(record.encode()) == record


# -- reading lines ---------------------------------------------------------------------------


def test_numbered_lines_skips_blank_lines_and_bounds_each_line() -> None:
    stream = io.BytesIO(b'{"a": 1}\r\n\n   \n{"b": 2}')
    assert list(numbered_lines(stream, "s")) == [(1, b'{"a": 1}'), (4, b'{"b": 2}')]
    exact = b"x" * 10
    assert list(numbered_lines(io.BytesIO(exact + b"\r\n" + exact), "s", 10)) == [
        (1, exact),
        (2, exact),
    ]
    for long in (b"x" * 11, b"x" * 11 + b"\n", b" " * 20 + b"{}\n"):
        with pytest.raises(LineError, match="line 1: is longer than 10 bytes"):
            list(numbered_lines(io.BytesIO(long), "s", 10))


# -- the append ---------------------------------------------------------------------------------


def jsonl(*numbers: int) -> io.BytesIO:
    return io.BytesIO(
        b"".join(text(request_id=f"r-{n}", score=n).encode() + b"\n" for n in numbers)
    )


@pytest.fixture
def log(tmp_path: Path) -> DecisionLog:
    with DecisionLog.open(tmp_path / "data", durability="normal") as opened:
        yield opened


def test_append_jsonl_appends_in_order_with_progress(log: DecisionLog, tmp_path: Path) -> None:
    checked: list[int] = []
    written: list[int] = []
    count = append_jsonl(
        log, jsonl(*range(25)), data_dir=tmp_path, on_checked=checked.append,
        on_written=written.append,
    )  # fmt: skip
    assert count == 25 and log.head().size == 25
    assert [log.record(i).score for i in range(25)] == list(range(25))
    assert sum(checked) == sum(written) == 25
    assert append_jsonl(log, io.BytesIO(b"\n\n"), data_dir=tmp_path) == 0
    assert list(tmp_path.iterdir()) == [tmp_path / "data"]  # the spool is gone


def test_an_append_sweeps_the_spool_a_killed_append_left(log: DecisionLog, tmp_path: Path) -> None:
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], check=True,
                          capture_output=True, text=True)  # fmt: skip
    stale = tmp_path / f"{SPOOL_PREFIX}{int(gone.stdout)}-abc"  # its process exited
    live = tmp_path / f"{SPOOL_PREFIX}{os.getpid()}-def"  # another append of this process
    for spool in (stale, live):
        spool.mkdir()
        (spool / "spool.sqlite").write_bytes(b"x" * 1000)
    assert append_jsonl(log, jsonl(1), data_dir=tmp_path) == 1
    assert not stale.exists() and (live / "spool.sqlite").exists()


def test_a_request_id_logged_by_another_writer_meanwhile_appends_nothing(
    log: DecisionLog, tmp_path: Path
) -> None:
    """The check pass passed, then another writer took a request id: the write refuses all."""
    append_jsonl(log, jsonl(0, 1), data_dir=tmp_path)
    before = log.head()

    class Racing(io.BytesIO):
        def readline(self, size: int | None = -1) -> bytes:
            read = super().readline(size)
            if not read:  # at the end of the input, another process logs r-7
                with DecisionLog.open(tmp_path / "data") as other:
                    other.append([parse_line(text(request_id="r-7"), 1)])
            return read

    stream = Racing(jsonl(*range(2, 10)).getvalue())
    with pytest.raises(LineError, match=r"line 6, request_id: is already logged \(decision 2\)"):
        append_jsonl(log, stream, data_dir=tmp_path)
    assert log.head().size == before.size + 1  # only the other writer's decision
    assert log.index_of(request_id_from("r-7")) == 2
    assert append_jsonl(log, jsonl(2, 3), data_dir=tmp_path) == 2


def test_a_read_only_log_refuses_before_reading(tmp_path: Path) -> None:
    with DecisionLog.open(tmp_path / "data") as log:
        append_jsonl(log, jsonl(0), data_dir=tmp_path)
    with DecisionLog.open(tmp_path / "data", read_only=True) as log:
        stream = jsonl(1)
        with pytest.raises(DataDirectoryError, match="read-only"):
            append_jsonl(log, stream, data_dir=tmp_path)
        assert stream.tell() == 0
        with pytest.raises(DataDirectoryError, match="read-only"):
            log.append([parse_line(text(request_id="r-2"), 1)])
        with pytest.raises(DataDirectoryError, match="read-only"):
            log.store.set_meta("note", "x")
        assert log.head().size == 1 and log.record(0).score == 0


def test_a_missing_log_opened_read_only_is_empty_and_not_created(tmp_path: Path) -> None:
    with DecisionLog.open(tmp_path / "nothing", read_only=True) as log:
        assert log.head().size == 0 and log.audit().ok
    assert not (tmp_path / "nothing").exists()
