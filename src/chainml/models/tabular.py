"""CSV files: a fast, strict numeric reader, and any labelled CSV read through its schema.

:func:`read_numeric_csv` turns an all-numeric CSV (the ULB file) into a float64 matrix. It parses
with ``numpy.loadtxt`` (about 2 s for the 150 MB ULB file) and, only when that fails or finds a
NaN or an infinity, rescans the file with the :mod:`csv` module to name the exact line, column
and cell (:class:`DataFileError`). :func:`read_labelled_csv` builds a :class:`Dataset` from any
CSV (text categories, text labels, blanks) through a :class:`~chainml.models.schema.Schema`
inferred by :mod:`chainml.models.infer` or given. Schemas are stored by the SHA-256 of the file's
bytes (:func:`content_key`), so two files with the same name never share one, and only after a
successful training run (:func:`store_schema`), so a failed run leaves nothing behind.
"""

from __future__ import annotations

import csv
import hashlib
import math
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from chainml.config import ensure_directory
from chainml.errors import InvalidInputError
from chainml.files import write_atomic
from chainml.models.dataset import Dataset, FloatArray
from chainml.models.infer import infer_schema, read_document, read_overrides, read_table
from chainml.models.schema import Schema, SchemaError


class DataFileError(InvalidInputError):
    """A data file is malformed; names the file and, where known, the line and column."""

    def __init__(
        self, path: Path | str, detail: str, *, line: int | None = None, column: str | None = None
    ) -> None:
        self.path = str(path)
        self.detail = detail
        self.line = line
        self.column = column
        where = "".join(
            [f", line {line}" if line is not None else "", f", column {column!r}" if column else ""]
        )
        super().__init__(f"{path}{where}: {detail}")


def read_header(path: Path) -> tuple[str, ...]:
    """The column names in the first line of ``path`` (quotes removed, whitespace stripped)."""
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:  # tolerate a BOM
            first = next(csv.reader(handle), None)
    except FileNotFoundError:
        raise DataFileError(path, "no such file") from None
    except (OSError, UnicodeDecodeError, csv.Error) as err:
        raise DataFileError(path, f"cannot read: {err}") from err
    if first is None:
        raise DataFileError(path, "the file is empty")
    names = tuple(name.strip() for name in first)
    if not any(names):
        raise DataFileError(path, "the header line is empty", line=1)
    if "" in names:
        raise DataFileError(path, f"column {names.index('') + 1} has no name", line=1)
    duplicated = sorted({name for name in names if names.count(name) > 1})
    if duplicated:
        raise DataFileError(path, f"duplicate column name(s): {', '.join(duplicated)}", line=1)
    return names


def read_numeric_csv(path: Path) -> tuple[tuple[str, ...], FloatArray]:
    """Header and values of a CSV whose every cell is a finite number (quotes allowed).

    Raises :class:`DataFileError` for an empty file, a file without rows, a ragged row, a
    non-numeric cell or a NaN/infinite value, naming the line (1 = header) and the column.
    """
    header = read_header(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # "input contained no data"
            values = np.loadtxt(
                path,
                delimiter=",",
                skiprows=1,
                quotechar='"',
                comments=None,
                dtype=np.float64,
                ndmin=2,
                encoding="utf-8",
            )
    except ValueError as err:
        raise _locate_problem(path, header) or DataFileError(path, str(err)) from None
    except (OSError, UnicodeDecodeError) as err:
        raise DataFileError(path, f"cannot read: {err}") from err
    if values.shape[0] == 0:
        raise DataFileError(path, "the file has a header but no rows")
    if values.shape[1] != len(header):
        raise _locate_problem(path, header) or DataFileError(
            path, f"rows have {values.shape[1]} cells, the header names {len(header)} columns"
        )
    if not np.isfinite(values).all():
        raise _locate_problem(path, header) or DataFileError(path, "contains NaN or infinity")
    return header, values


def _locate_problem(path: Path, header: Sequence[str]) -> DataFileError | None:
    """Rescan ``path`` slowly and describe its first bad row or cell (None if none found)."""
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle)
        next(reader, None)
        for cells in reader:
            line = reader.line_num
            if not cells or all(not cell.strip() for cell in cells):
                continue
            if len(cells) != len(header):
                return DataFileError(
                    path,
                    f"{len(cells)} cells, but the header names {len(header)} columns",
                    line=line,
                )
            for name, cell in zip(header, cells, strict=True):
                try:
                    number = float(cell)
                except ValueError:
                    return DataFileError(
                        path, f"{cell.strip()!r} is not a number", line=line, column=name
                    )
                if not math.isfinite(number):
                    return DataFileError(
                        path, f"{cell.strip()!r} is NaN or infinite", line=line, column=name
                    )
    return None


# -- any CSV with a label column -----------------------------------------------------------


def read_labelled_csv(
    path: Path,
    target: str | None,
    schema: Schema | None = None,
    *,
    order: str | None = None,
    positive: str | None = None,
    overrides: Mapping[str, Any] | None = None,
    group: str | None = None,
    name: str | None = None,
) -> tuple[Dataset, Schema]:
    """A dataset from any CSV with a label column, encoded by ``schema`` or an inferred one.

    Without ``schema`` one is inferred (:func:`chainml.models.infer.infer_schema`: ``order``
    names the time column, ``positive`` the label value of class 1, ``overrides`` the user's
    corrections). With ``schema`` (a model's), the file must hold its feature, label and time
    columns (by name, in any order). ``group`` names the column of a ``group:COLUMN`` split.
    """
    path = Path(path)
    table = read_table(path, delimiter=None if schema is None else schema.delimiter)
    where = str(path)
    if schema is None:
        schema = infer_schema(table, target, positive=positive, time=order, overrides=overrides)
    else:
        needed = [c.name for c in schema.feature_columns] + [schema.target]
        needed += [schema.time] if schema.time else []
        missing = {n: "the schema needs this column; the file lacks it" for n in needed
                   if n not in table.cells}  # fmt: skip
        if target is not None and target != schema.target:
            missing[target] = f"the schema's label column is {schema.target!r}"
        if missing:
            raise SchemaError(where, missing)
    if group is not None and group not in table.cells:
        raise SchemaError(where, {group: f"no such group column; columns are "
                                         f"{', '.join(table.header)}"})  # fmt: skip
    features = schema.encode_columns(table.cells, where)
    labels = schema.labels(table.cells[schema.target], where)
    times = None
    if schema.time is not None:
        times = schema.times(table.cells[schema.time], where)
    groups = None
    if group is not None:
        groups = np.unique(np.asarray(table.cells[group], dtype=object), return_inverse=True)[1]
    dataset = Dataset(
        name=name or path.stem, features=features, labels=labels,
        feature_names=schema.feature_names, order=times, source=f"csv:{path.name}",
        schema=schema, groups=None if groups is None else groups.astype(np.int64),
    )  # fmt: skip
    return dataset, schema


# -- stored schemas ------------------------------------------------------------------------


def content_key(path: Path) -> str:
    """SHA-256 (hex) of the bytes of ``path``: what a stored schema is keyed by."""
    digest = hashlib.sha256()
    try:
        with Path(path).open("rb") as handle:
            while block := handle.read(1 << 20):
                digest.update(block)
    except OSError as err:
        raise DataFileError(path, f"cannot read: {err}") from err
    return digest.hexdigest()


def schema_path(data_dir: Path, key: str) -> Path:
    """The stored schema of the file whose content key is ``key``."""
    return Path(data_dir) / "datasets" / f"{key}.schema.json"


def datasets_dir(data_dir: Path) -> Path:
    """``<data_dir>/datasets``, created on first use (the data directory's parent must exist)."""
    ensure_directory(Path(data_dir))
    folder = Path(data_dir) / "datasets"
    ensure_directory(folder)
    return folder


def store_schema(data_dir: Path, path: Path, schema: Schema) -> Path:
    """Store ``schema`` for the file ``path`` (by its content); returns where it went."""
    stored = schema_path(datasets_dir(data_dir).parent, content_key(path))
    write_atomic(stored, schema.to_json())
    return stored


def load_labelled_csv(
    path: Path,
    data_dir: Path,
    target: str | None,
    *,
    order: str | None = None,
    positive: str | None = None,
    schema_file: Path | None = None,
    schema: Schema | None = None,
    group: str | None = None,
) -> tuple[Dataset, Schema]:
    """Read a labelled CSV through ``schema``, the user's ``schema_file``, or an inferred schema.

    With neither a schema nor a target, the schema stored for exactly this file's content is
    used (``chainml model train`` stores it). Nothing is written here.
    """
    path = Path(path)
    overrides = read_overrides(schema_file) if schema_file is not None else None
    if schema is None and target is None and not (overrides or {}).get("target"):
        stored = schema_path(data_dir, content_key(path))
        if not stored.is_file():
            raise InvalidInputError(
                f"{path}: name the label column with --target (no schema stored for this file)"
            )
        schema = Schema.from_dict(read_document(stored), origin=str(stored))
    return read_labelled_csv(path, target, schema, order=order, positive=positive,
                             overrides=overrides, group=group)  # fmt: skip
