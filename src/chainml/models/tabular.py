"""Numeric CSV files: a fast, strict reader, and any CSV with a label column plus its schema.

:func:`read_numeric_csv` is the one place that turns a CSV into a float64 matrix. It parses with
``numpy.loadtxt`` (about 2 s for the 150 MB ULB file) and, only when that fails or finds a NaN or
an infinity, rescans the file with the :mod:`csv` module to name the exact line, column and cell
(:class:`DataFileError`). :func:`read_labelled_csv` builds a :class:`Dataset` from any such CSV
with a 0/1 label column and infers a :class:`Schema` (columns, ranges, ordering column) that is
stored as JSON and enforced on later loads (:func:`load_labelled_csv`).
"""

from __future__ import annotations

import csv
import json
import math
import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from chainml.config import ensure_directory
from chainml.errors import InvalidInputError
from chainml.files import write_atomic
from chainml.models.dataset import Dataset, FloatArray

SCHEMA_VERSION = 1


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


@dataclass(frozen=True)
class Schema:
    """What a labelled CSV looks like: its columns, the label, the ordering key, value ranges.

    ``minimum``/``maximum`` are the ranges seen when the schema was inferred; they document the
    data (fixed-point scaling uses them) and are not enforced on later loads: new data may
    leave them. Column names, their order, the label and the ordering column are enforced.
    """

    name: str
    columns: tuple[str, ...]
    target: str
    order: str | None
    minimum: tuple[float, ...]
    maximum: tuple[float, ...]
    version: int = SCHEMA_VERSION

    @property
    def features(self) -> tuple[str, ...]:
        """The feature columns: every column except the label and the ordering column."""
        return tuple(c for c in self.columns if c not in (self.target, self.order))

    def to_json(self) -> str:
        """The schema as indented JSON (the stored form)."""
        return json.dumps(asdict(self), indent=2) + "\n"

    @classmethod
    def from_json(cls, text: str, origin: str = "schema") -> Schema:
        """Parse a stored schema; a malformed one is an :class:`InvalidInputError`."""
        try:
            raw = json.loads(text)
            schema = cls(
                name=str(raw["name"]),
                columns=tuple(str(c) for c in raw["columns"]),
                target=str(raw["target"]),
                order=None if raw["order"] is None else str(raw["order"]),
                minimum=tuple(float(v) for v in raw["minimum"]),
                maximum=tuple(float(v) for v in raw["maximum"]),
                version=int(raw["version"]),
            )
        except (json.JSONDecodeError, KeyError, TypeError, ValueError) as err:
            raise InvalidInputError(f"{origin} is not a valid chainml schema: {err}") from err
        if schema.version != SCHEMA_VERSION:
            raise InvalidInputError(f"{origin} has schema version {schema.version}, expected 1")
        if len(schema.minimum) != len(schema.features) or len(schema.maximum) != len(
            schema.features
        ):
            raise InvalidInputError(f"{origin}: ranges do not match the feature columns")
        return schema


def read_labelled_csv(
    path: Path,
    target: str,
    schema: Schema | None = None,
    *,
    order: str | None = None,
    name: str | None = None,
) -> tuple[Dataset, Schema]:
    """A dataset from any numeric CSV with a 0/1 label column ``target``.

    Without ``schema`` one is inferred (``order`` names an optional time column, excluded from
    the features). With ``schema`` the file must have exactly its columns in its order, and
    ``target``/``order`` must agree with it.
    """
    path = Path(path)
    header = read_header(path)
    if schema is not None:
        _check_against_schema(path, header, schema, target, order)
        order = schema.order
    else:
        if target not in header:
            raise DataFileError(
                path, f"no label column {target!r}; columns are {', '.join(header)}", line=1
            )
        if order is not None and order not in header:
            raise DataFileError(
                path, f"no ordering column {order!r}; columns are {', '.join(header)}", line=1
            )
        if order == target:
            raise InvalidInputError("the label column cannot also be the ordering column")
    header, values = read_numeric_csv(path)
    labels = _labels(path, values[:, header.index(target)], target)
    feature_columns = [i for i, c in enumerate(header) if c not in (target, order)]
    if not feature_columns:
        raise DataFileError(path, "no feature columns besides the label and ordering columns")
    features = np.ascontiguousarray(values[:, feature_columns])
    names = tuple(header[i] for i in feature_columns)
    dataset = Dataset(
        name=name or path.stem,
        features=features,
        labels=labels,
        feature_names=names,
        order=None if order is None else np.ascontiguousarray(values[:, header.index(order)]),
        source=f"csv:{path.name}",
    )
    if schema is None:
        schema = Schema(
            name=dataset.name,
            columns=header,
            target=target,
            order=order,
            minimum=tuple(float(v) for v in features.min(axis=0)),
            maximum=tuple(float(v) for v in features.max(axis=0)),
        )
    return dataset, schema


def _check_against_schema(
    path: Path, header: tuple[str, ...], schema: Schema, target: str, order: str | None
) -> None:
    if target != schema.target:
        raise InvalidInputError(
            f"{path}: the stored schema {schema.name!r} has label {schema.target!r}, "
            f"not {target!r} (delete the schema file to infer a new one)"
        )
    if order is not None and order != schema.order:
        raise InvalidInputError(
            f"{path}: the stored schema {schema.name!r} orders by {schema.order!r}, not {order!r}"
        )
    missing = [c for c in schema.columns if c not in header]
    extra = [c for c in header if c not in schema.columns]
    if missing or extra:
        parts = [f"missing column(s) {', '.join(missing)}" if missing else ""]
        parts.append(f"extra column(s) {', '.join(extra)}" if extra else "")
        detail = "; ".join(p for p in parts if p)
        raise DataFileError(path, f"{detail} (schema {schema.name!r})", line=1)
    if header != schema.columns:
        raise DataFileError(
            path, f"columns are in a different order than schema {schema.name!r}", line=1
        )


def _labels(
    path: Path, column: FloatArray, target: str
) -> np.ndarray[tuple[int], np.dtype[np.int8]]:
    bad = np.flatnonzero((column != 0) & (column != 1))
    if bad.size:
        row = int(bad[0])
        raise DataFileError(
            path,
            f"labels must be 0 or 1, found {column[row]:g} (data row {row + 1})",
            column=target,
        )
    labels = column.astype(np.int8)
    if labels.min() == labels.max():
        raise DataFileError(
            path,
            f"the label has only one class ({int(labels[0])}); need both 0 and 1",
            column=target,
        )
    return labels


# -- stored schemas ------------------------------------------------------------------------


def schema_path(data_dir: Path, name: str) -> Path:
    """The stored schema of dataset ``name``: ``<data_dir>/datasets/<name>.schema.json``."""
    return Path(data_dir) / "datasets" / f"{name}.schema.json"


def datasets_dir(data_dir: Path) -> Path:
    """``<data_dir>/datasets``, created on first use (the data directory's parent must exist)."""
    ensure_directory(Path(data_dir))
    folder = Path(data_dir) / "datasets"
    ensure_directory(folder)
    return folder


def load_labelled_csv(
    path: Path, data_dir: Path, target: str | None, *, order: str | None = None
) -> tuple[Dataset, Schema]:
    """Read a labelled CSV, enforcing its stored schema, or inferring and storing one.

    ``target`` may be None only when a schema for this file name is already stored.
    """
    path = Path(path)
    stored = schema_path(data_dir, path.stem)
    schema = None
    if stored.is_file():
        schema = Schema.from_json(stored.read_text(encoding="utf-8"), origin=str(stored))
    if target is None:
        if schema is None:
            raise InvalidInputError(
                f"{path}: name the label column with --target (no stored schema for {path.stem!r})"
            )
        target = schema.target
    dataset, inferred = read_labelled_csv(path, target, schema, order=order)
    if schema is None:
        write_atomic(schema_path(datasets_dir(data_dir).parent, path.stem), inferred.to_json())
    return dataset, inferred
