"""Tabular schemas: each column's kind and preprocessing, and the encoding of raw values.

A :class:`Schema` says, for every column of a CSV, what it is (numeric, boolean, categorical,
datetime, id, ignore), whether it is a model feature, and how a raw value becomes numbers:

- numeric: the number; a blank becomes ``fill`` (the median) and, when blanks were seen, a
  ``NAME (missing)`` 0/1 indicator feature is added;
- boolean: 1.0 for a ``true_values`` token, 0.0 for a ``false_values`` token; blanks as numeric;
- categorical, ``onehot``: one 0/1 feature per kept category plus ``NAME=(other)``, following
  scikit-learn's ``OneHotEncoder(handle_unknown="infrequent_if_exist", min_frequency=...)``:
  infrequent and unknown values go to the other bucket. Unlike scikit-learn, the other bucket
  always exists, so every categorical column contributes exactly one 1 (unknown values are
  never silently all-zero). A blank is the value ``(missing)``: its own category when it was
  frequent, else other;
- categorical, ``ordinal``: the category's rank by frequency (0 = most frequent), other = the
  number of kept categories;
- datetime and id columns are never features unless the schema says ``feature = true``;
  a datetime feature is whole hours since 1970-01-01 UTC (``unit = "hours"``), a number
  float32 holds exactly until the year 3800: raw POSIX seconds do not survive float32 (the
  ONNX graph's input), and trees split between seconds that float32 cannot tell apart (issue
  20 had such a bug). A datetime feature without that unit is refused.

:meth:`Schema.encode_record` turns one raw record (column name -> raw value) into the model's
feature vector in :attr:`Schema.feature_names` order; :meth:`Schema.encode_columns` does the
same for whole columns of strings (training). Both name every bad field at once. The schema's
canonical JSON and its hash (:meth:`Schema.digest`) enter the dataset commitment and the model
card, so a receipt commits to exactly the encoding that was scored.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

import numpy as np
import numpy.typing as npt

from chainml.errors import InvalidInputError

SCHEMA_FORMAT = "chainml.schema/2"
KINDS = ("numeric", "boolean", "categorical", "datetime", "id", "ignore")
ENCODINGS = ("onehot", "ordinal")
#: Raw cells (stripped, lower-cased) read as "no value". Not "none": in data such as UCI
#: German credit it is a real category ("other debtors: none").
MISSING_TOKENS = frozenset({"", "na", "n/a", "nan", "null", "?"})
#: The category a blank categorical value becomes.
MISSING_CATEGORY = "(missing)"
OTHER = "(other)"
#: Datetime formats: POSIX seconds, POSIX milliseconds, ISO 8601 text (naive = UTC).
DATETIME_FORMATS = ("seconds", "milliseconds", "iso")
#: The units of a datetime feature, with their length in seconds: whole hours since the epoch.
DATETIME_UNITS = {"hours": 3600}

FloatArray = npt.NDArray[np.float64]


class SchemaError(InvalidInputError):
    """Values or a schema are bad; names every offending column at once, each with a hint."""

    def __init__(self, origin: str, problems: Mapping[str, str]) -> None:
        self.origin = origin
        self.problems = dict(problems)
        lines = "\n".join(f"  - {name}: {detail}" for name, detail in self.problems.items())
        count = len(self.problems)
        super().__init__(f"{origin}: {count} bad column{'s' if count > 1 else ''}:\n{lines}")


def is_missing(value: object) -> bool:
    """Whether a raw value means "no value" (None, NaN, or a blank/NA token)."""
    if value is None:
        return True
    if isinstance(value, float):
        return math.isnan(value)
    return isinstance(value, str) and value.strip().lower() in MISSING_TOKENS


@dataclass(frozen=True)
class Column:
    """One column: its kind, whether it is a feature, and what its encoding learned."""

    name: str
    kind: str
    feature: bool
    fill: float = 0.0  # numeric/boolean/datetime: the value of a blank (the median)
    indicator: bool = False  # numeric/boolean/datetime: add a "NAME (missing)" feature
    encoding: str = ""  # categorical: onehot | ordinal
    categories: tuple[str, ...] = ()  # categorical: kept categories, most frequent first
    true_values: tuple[str, ...] = ()  # boolean: lower-cased tokens read as 1
    false_values: tuple[str, ...] = ()  # boolean: lower-cased tokens read as 0
    format: str = ""  # datetime: seconds | milliseconds | iso
    unit: str = ""  # a datetime feature: hours (whole hours since 1970-01-01 UTC)

    def feature_names(self) -> tuple[str, ...]:
        """The features this column contributes, in order (none unless it is a feature)."""
        if not self.feature:
            return ()
        if self.kind == "categorical" and self.encoding == "onehot":
            return (*(f"{self.name}={c}" for c in self.categories), f"{self.name}={OTHER}")
        return (self.name, f"{self.name} (missing)") if self.indicator else (self.name,)

    def problems(self) -> list[str]:
        """What is inconsistent in this column's definition (empty when it is valid)."""
        found = []
        if self.kind not in KINDS:
            found.append(f"kind {self.kind!r} is not one of {', '.join(KINDS)}")
        if self.kind == "categorical":
            if self.encoding not in ENCODINGS:
                found.append(f"encoding {self.encoding!r} is not one of {', '.join(ENCODINGS)}")
            if len(set(self.categories)) != len(self.categories):
                found.append("categories repeat a value")
            if OTHER in self.categories:
                found.append(f"{OTHER!r} is the reserved other bucket, not a category")
        if self.kind == "boolean" and (
            not self.true_values or set(self.true_values) & set(self.false_values)
        ):
            found.append("true_values must be non-empty and disjoint from false_values")
        if self.kind == "datetime" and self.format not in DATETIME_FORMATS:
            found.append(f"format {self.format!r} is not one of {', '.join(DATETIME_FORMATS)}")
        if self.kind == "datetime" and self.feature and self.unit not in DATETIME_UNITS:
            found.append(
                'a datetime feature is whole hours since 1970 (unit = "hours"): raw POSIX '
                "seconds do not survive float32, the ONNX graph's input type"
            )
        if self.unit and not (self.kind == "datetime" and self.unit in DATETIME_UNITS):
            found.append(f'unit {self.unit!r}: only a datetime column has one ("hours")')
        if self.feature and self.kind in ("id", "ignore"):
            found.append(f"a {self.kind} column cannot be a feature (set kind to numeric or "
                         "categorical to use it)")  # fmt: skip
        if not math.isfinite(self.fill):
            found.append("fill must be a finite number")
        return found

    def encode(self, value: object) -> tuple[float, ...]:
        """The features of one raw value; raises ``ValueError`` with a hint when it is bad."""
        if self.kind == "categorical":
            return self._categorical(value)
        if is_missing(value):
            return (self.fill, 1.0) if self.indicator else (self.fill,)
        number = self.in_unit(self.number(value))
        return (number, 0.0) if self.indicator else (number,)

    def in_unit(self, number: float) -> float:
        """A present value's feature: the number, or whole hours for a datetime feature."""
        if self.unit:
            return float(math.floor(number / DATETIME_UNITS[self.unit]))
        return number

    def in_units(self, numbers: FloatArray) -> FloatArray:
        """:meth:`in_unit` of many numbers at once."""
        if self.unit:
            return np.floor(numbers / DATETIME_UNITS[self.unit])
        return numbers

    def number(self, value: object) -> float:
        """The number a present numeric, boolean or datetime value stands for."""
        if self.kind == "boolean":
            if isinstance(value, bool):
                return float(value)
            token = str(value).strip().lower()
            if token in self.true_values:
                return 1.0
            if token in self.false_values:
                return 0.0
            raise ValueError(f"{value!r} is not one of {', '.join(self.true_values)} (true) or "
                             f"{', '.join(self.false_values)} (false)")  # fmt: skip
        if self.kind == "datetime" and self.format == "iso":
            return parse_iso(value)
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            raise ValueError(f"{value!r} is not a number")
        try:
            number = float(value.strip() if isinstance(value, str) else value)
        except ValueError:
            raise ValueError(f"{value!r} is not a number") from None
        if not math.isfinite(number):
            raise ValueError(f"{value!r} is not a finite number")
        return number / 1000.0 if self.format == "milliseconds" else number

    def category(self, value: object) -> str:
        """The category text of a raw value: blanks are ``(missing)``; ints become text."""
        if is_missing(value):
            return MISSING_CATEGORY
        if isinstance(value, bool) or not isinstance(value, str | int):
            raise ValueError(f"{value!r} is not a category (send text)")
        return value.strip() if isinstance(value, str) else str(value)

    def _categorical(self, value: object) -> tuple[float, ...]:
        text = self.category(value)
        index = self.categories.index(text) if text in self.categories else len(self.categories)
        if self.encoding == "ordinal":
            return (float(index),)
        vector = [0.0] * (len(self.categories) + 1)
        vector[index] = 1.0
        return tuple(vector)


def plain_numbers(column: Column, values: Sequence[str]) -> FloatArray | None:
    """The cells of a numeric (or numeric datetime) column as float64, parsed by numpy.

    None when any cell is blank, NaN, infinite or text: the per-cell path then decides.
    """
    if column.kind not in ("numeric", "datetime") or column.format == "iso":
        return None
    try:
        parsed = np.asarray(values, dtype=np.float64)
    except (ValueError, TypeError):
        return None
    if parsed.ndim != 1 or not np.isfinite(parsed).all():
        return None
    return parsed / 1000.0 if column.format == "milliseconds" else parsed


def parse_iso(value: object) -> float:
    """POSIX seconds of an ISO 8601 date or date-time (naive times are UTC)."""
    if not isinstance(value, str):
        raise ValueError(f"{value!r} is not an ISO 8601 date")
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        raise ValueError(f"{value!r} is not an ISO 8601 date (e.g. 2024-05-01T12:00:00)") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


@dataclass(frozen=True)
class Schema:
    """A CSV's columns with their encodings, its label (and positive value), its time column."""

    columns: tuple[Column, ...]
    target: str
    positive: str  # the raw label value that means class 1
    negatives: tuple[str, ...]  # the raw label values that mean class 0
    time: str | None = None  # the column that orders rows in time (for the time split)
    delimiter: str = ","
    format: str = SCHEMA_FORMAT
    _names: list[tuple[str, ...]] = field(default_factory=list, repr=False, compare=False)

    def __post_init__(self) -> None:
        problems: dict[str, str] = {}
        names = [c.name for c in self.columns]
        for name in sorted({n for n in names if names.count(n) > 1}):
            problems[name] = "the column is defined twice"
        for column in self.columns:
            if found := column.problems():
                problems[column.name] = "; ".join(found)
        for role, named in (("label", self.target), ("time", self.time)):
            if named is not None and named not in names:
                problems[named] = f"the {role} column is not among the columns"
        if self.target in names and self.column(self.target).feature:
            problems[self.target] = "the label column cannot be a feature"
        if self.positive in self.negatives:
            problems[self.target] = f"the positive label {self.positive!r} is also negative"
        if not any(c.feature for c in self.columns):
            problems["(features)"] = "no column is a feature"
        if self.format != SCHEMA_FORMAT:
            problems["(format)"] = f"format {self.format!r}, expected {SCHEMA_FORMAT!r}"
        if problems:
            raise SchemaError("schema", problems)

    def column(self, name: str) -> Column:
        """The column called ``name`` (``KeyError`` when there is none)."""
        for column in self.columns:
            if column.name == name:
                return column
        raise KeyError(name)

    @property
    def feature_columns(self) -> tuple[Column, ...]:
        """The columns that feed the model, in file order."""
        return tuple(c for c in self.columns if c.feature)

    @property
    def feature_names(self) -> tuple[str, ...]:
        """The model's input features, in order (what :meth:`encode_record` returns)."""
        if not self._names:
            self._names.append(tuple(n for c in self.feature_columns for n in c.feature_names()))
        return self._names[0]

    def encode_record(self, raw: Mapping[str, object]) -> tuple[float, ...]:
        """The feature vector of one raw record, in :attr:`feature_names` order.

        ``raw`` maps column names to raw values: numbers or numeric text for numeric columns,
        text (or integers) for categories, true/false tokens or bools for booleans, None or a
        blank for a missing value. Every feature column must be present; the label, time, id
        and ignored columns may be present and are skipped; any other key is refused. Raises
        :class:`SchemaError` naming every bad field at once.
        """
        known = {c.name for c in self.columns}
        problems = {key: "unknown field (not a column of the schema)" for key in raw
                    if key not in known}  # fmt: skip
        vector: list[float] = []
        for column in self.feature_columns:
            if column.name not in raw:
                problems[column.name] = "missing field (send null for a blank value)"
                continue
            try:
                vector.extend(column.encode(raw[column.name]))
            except ValueError as err:
                problems[column.name] = str(err)
        if problems:
            raise SchemaError("record", problems)
        return tuple(vector)

    def encode_columns(self, cells: Mapping[str, Sequence[str]], origin: str) -> FloatArray:
        """The feature matrix of whole columns of raw cells (one list per column name).

        Raises :class:`SchemaError` naming every column with a bad cell (the first bad line,
        the number of bad cells, and a hint). Line numbers count the header as line 1.
        """
        blocks: list[FloatArray] = []
        problems: dict[str, str] = {}
        for column in self.feature_columns:
            values = cells[column.name]
            fast = plain_numbers(column, values)
            if fast is not None:  # every cell a finite number: no Python loop per cell
                width = 2 if column.indicator else 1
                block = np.zeros((len(values), width), dtype=np.float64)
                block[:, 0] = column.in_units(fast)
                blocks.append(block)
                continue
            rows: list[tuple[float, ...]] = []
            bad: list[tuple[int, str]] = []
            seen: dict[str, tuple[float, ...]] = {}  # repeated cells (categories) encode once
            for row, value in enumerate(values):
                try:
                    encoded = seen.get(value)
                    if encoded is None:
                        encoded = column.encode(value)
                        if column.kind in ("categorical", "boolean"):
                            seen[value] = encoded
                    rows.append(encoded)
                except ValueError as err:
                    bad.append((row, str(err)))
            if bad:
                row, detail = bad[0]
                problems[column.name] = (
                    f"line {row + 2}: {detail}" + (f" (and {len(bad) - 1} more)" if len(bad) > 1
                                                   else "") + f"; {_hint(column)}"
                )  # fmt: skip
                continue
            width = len(column.feature_names())
            blocks.append(np.asarray(rows, dtype=np.float64).reshape(len(values), width))
        if problems:
            raise SchemaError(origin, problems)
        return np.ascontiguousarray(np.hstack(blocks))

    def times(self, values: Sequence[str], origin: str) -> FloatArray:
        """POSIX seconds (or the raw numbers) of the time column's cells; no blanks allowed."""
        assert self.time is not None
        column = self.column(self.time)
        fast = plain_numbers(column, values)
        if fast is not None:
            return fast
        out = np.empty(len(values), dtype=np.float64)
        bad: list[tuple[int, str]] = []
        for row, value in enumerate(values):
            try:
                if is_missing(value):
                    raise ValueError("the time is blank")
                out[row] = column.number(value)
            except ValueError as err:
                bad.append((row, str(err)))
        if bad:
            row, detail = bad[0]
            more = f" (and {len(bad) - 1} more)" if len(bad) > 1 else ""
            raise SchemaError(
                origin,
                {
                    self.time: f"line {row + 2}: {detail}{more}; every row "
                    "needs a time, or use another --split"
                },
            )
        return out

    def labels(self, values: Sequence[str], origin: str) -> npt.NDArray[np.int8]:
        """0/1 labels from raw label cells: ``positive`` is 1, ``negatives`` are 0."""
        positive = _label_key(self.positive)
        negatives = {_label_key(v) for v in self.negatives}
        out = np.zeros(len(values), dtype=np.int8)
        bad: list[tuple[int, str]] = []
        for row, value in enumerate(values):
            key = _label_key(value)
            if key == positive:
                out[row] = 1
            elif key not in negatives:
                bad.append((row, value))
        if bad:
            row, value = bad[0]
            more = f" (and {len(bad) - 1} more)" if len(bad) > 1 else ""
            raise SchemaError(origin, {self.target: (
                f"line {row + 2}: label {value!r} is neither the positive value "
                f"{self.positive!r} nor a negative one ({', '.join(self.negatives)}){more}; "
                "remove those rows or fix the labels"
            )})  # fmt: skip
        return out

    def with_columns(self, **changes: Column) -> Schema:
        """A copy with some columns replaced (by name)."""
        return replace(self, columns=tuple(changes.get(c.name, c) for c in self.columns),
                       _names=[])  # fmt: skip

    def to_dict(self) -> dict[str, Any]:
        """The schema as plain JSON-able data (its stored and carded form)."""
        data = asdict(self)
        del data["_names"]
        data["columns"] = [
            {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(c).items()
             if k != "unit" or v}  # no unit: the form (and digest) of schemas before units
            for c in self.columns
        ]  # fmt: skip
        data["negatives"] = list(self.negatives)
        data["feature_names"] = list(self.feature_names)
        return data

    def canonical_bytes(self) -> bytes:
        """Canonical JSON (sorted keys, no spaces): what :meth:`digest` hashes."""
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":")).encode()

    def digest(self) -> str:
        """``0x`` + SHA-256 of :meth:`canonical_bytes`: the encoding's identity."""
        return "0x" + hashlib.sha256(self.canonical_bytes()).hexdigest()

    def to_json(self) -> str:
        """Indented JSON for people and files."""
        return json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n"

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], origin: str = "schema") -> Schema:
        """Rebuild a schema from :meth:`to_dict` output; malformed data is a SchemaError."""
        try:
            columns = tuple(Column(**column_fields(c)) for c in data["columns"])
            schema = cls(
                columns=columns, target=str(data["target"]), positive=str(data["positive"]),
                negatives=tuple(str(v) for v in data["negatives"]),
                time=None if data.get("time") is None else str(data["time"]),
                delimiter=str(data.get("delimiter", ",")), format=str(data["format"]),
            )  # fmt: skip
        except SchemaError as err:
            raise SchemaError(origin, err.problems) from None
        except (KeyError, TypeError, ValueError) as err:
            raise SchemaError(origin, {"(schema)": f"not a chainml schema: {err!r}"}) from err
        stated = data.get("feature_names")
        if stated is not None and list(stated) != list(schema.feature_names):
            raise SchemaError(origin, {"(features)": "feature_names do not match the columns"})
        return schema


_FIELD_TYPES: dict[str, type | tuple[type, ...]] = {
    "name": str, "kind": str, "feature": bool, "fill": (int, float), "indicator": bool,
    "encoding": str, "categories": list, "true_values": list, "false_values": list, "format": str,
    "unit": str,
}  # fmt: skip


def column_fields(spec: Mapping[str, Any]) -> dict[str, Any]:
    """:class:`Column` keyword arguments from JSON/TOML data, each value's type checked.

    Raises ``ValueError`` naming the unknown keys and the values of the wrong type.
    """
    unknown = sorted(set(spec) - set(_FIELD_TYPES))
    if unknown:
        raise ValueError(f"unknown key(s) {', '.join(unknown)}; known: {', '.join(_FIELD_TYPES)}")
    out: dict[str, Any] = {}
    for key, value in spec.items():
        expected = _FIELD_TYPES[key]
        if isinstance(value, tuple):
            value = list(value)
        if not isinstance(value, expected) or (key != "feature" and key != "indicator"
                                               and isinstance(value, bool)):  # fmt: skip
            raise ValueError(f"{key} = {value!r} has the wrong type")
        if isinstance(value, list):
            if not all(isinstance(v, str) for v in value):
                raise ValueError(f"{key} must be a list of strings")
            value = tuple(value)
        out[key] = float(value) if key == "fill" else value
    return out


def _label_key(value: str) -> str:
    """Labels compare as numbers when they are numbers (``1`` equals ``1.0``), else as text."""
    text = value.strip()
    try:
        return repr(float(text))
    except ValueError:
        return text


def _hint(column: Column) -> str:
    if column.kind in ("numeric", "datetime"):
        return (f"fix the cells, or declare the column categorical in a --schema file "
                f"([columns.\"{column.name}\"] kind = \"categorical\")")  # fmt: skip
    if column.kind == "boolean":
        return "declare the column categorical in a --schema file"
    return "send text values"
