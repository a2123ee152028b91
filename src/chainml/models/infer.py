"""Reading any CSV and inferring its :class:`~chainml.models.schema.Schema`.

:func:`read_table` sniffs the separator (``,``, ``;``, tab, ``|``), cleans the header (BOM,
quotes, spaces; empty names become ``column_N``, repeated ones get ``_2``...) and returns the
cells column by column. :func:`infer_schema` decides each column's kind from its name and
values, learns the encodings (medians, kept categories), applies the user's corrections (a
small TOML or JSON file, :func:`read_overrides`) and maps the label with ``positive``.
Nothing here is fitted on labels: medians and category counts ignore the label column.
"""

from __future__ import annotations

import csv
import math
import re
import tomllib
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from chainml import bounded_json
from chainml.errors import InvalidInputError
from chainml.models.schema import (
    MISSING_TOKENS,
    Column,
    Schema,
    SchemaError,
    column_fields,
    is_missing,
    parse_iso,
    plain_numbers,
)

#: A category is kept when at least this share of rows (and at least 2 rows) has it.
MIN_FREQUENCY_SHARE = 0.01
#: Categorical columns with more kept categories than this are ordinal-encoded.
MAX_ONEHOT = 30
#: Bytes of a --schema file, read before parsing.
MAX_SCHEMA_BYTES = 1 << 20
_DELIMITERS = ",;\t|"
_TIME_NAME = re.compile(r"^(time|timestamp|ts|date|datetime)$|(_|\b)(time|at|date|ts)$|timestamp$",
                        re.IGNORECASE)  # fmt: skip
_ID_NAME = re.compile(r"^(id|uuid|key|index|unnamed: ?\d+)$|[_ \-]id$|[a-z]I[Dd]$", re.IGNORECASE)
_TRUE = ("true", "yes", "y", "t")
_FALSE = ("false", "no", "n", "f")
_UNIX_SECONDS = (9.4e8, 4.2e9)  # 1999..2103


@dataclass(frozen=True)
class Table:
    """A CSV's cleaned header and its cells, column by column (all strings)."""

    path: Path
    header: tuple[str, ...]
    cells: dict[str, list[str]]
    delimiter: str

    @property
    def rows(self) -> int:
        """Number of data rows."""
        return len(self.cells[self.header[0]])


def clean_header(names: Sequence[str]) -> tuple[str, ...]:
    """Header names stripped of BOM, quotes and extra spaces; blanks named, repeats numbered."""
    cleaned: list[str] = []
    for i, raw in enumerate(names):
        name = " ".join(raw.replace("\ufeff", "").strip().strip("\"'").split())
        name = name or f"column_{i + 1}"
        base, n = name, 2
        while name in cleaned:
            name, n = f"{base}_{n}", n + 1
        cleaned.append(name)
    return tuple(cleaned)


def read_table(path: Path, delimiter: str | None = None) -> Table:
    """The cells of CSV ``path`` (separator sniffed unless given); names every ragged line."""
    path = Path(path)
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            sample = handle.read(1 << 16)
            handle.seek(0)
            delimiter = delimiter or _sniff(sample)
            reader = csv.reader(handle, delimiter=delimiter)
            first = next(reader, None)
            if first is None or not any(c.strip() for c in first):
                raise InvalidInputError(f"{path}: the file is empty (no header line)")
            header = clean_header(first)
            columns: list[list[str]] = [[] for _ in header]
            ragged: list[str] = []
            for cells in reader:
                if not cells or all(not c.strip() for c in cells):
                    continue  # blank line
                if len(cells) != len(header):
                    if len(ragged) < 5:
                        ragged.append(f"line {reader.line_num} has {len(cells)} cells")
                    continue
                for column, cell in zip(columns, cells, strict=True):
                    column.append(cell)
    except FileNotFoundError:
        raise InvalidInputError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError, csv.Error) as err:
        raise InvalidInputError(f"{path}: cannot read as CSV: {err}") from err
    if ragged:
        raise InvalidInputError(
            f"{path}: the header names {len(header)} columns (separator {delimiter!r}), but "
            f"{'; '.join(ragged)}; quote cells that contain the separator"
        )
    if not columns[0]:
        raise InvalidInputError(f"{path}: the file has a header but no rows")
    return Table(path, header, dict(zip(header, columns, strict=True)), delimiter)


def _sniff(sample: str) -> str:
    try:
        return csv.Sniffer().sniff(sample.split("\n", 20)[0], delimiters=_DELIMITERS).delimiter
    except csv.Error:
        return ","


def read_document(path: Path) -> dict[str, Any]:
    """A TOML (or, for ``*.json``, JSON) table from ``path``, size-bounded before parsing."""
    try:
        data = Path(path).read_bytes()[: MAX_SCHEMA_BYTES + 1]
    except OSError as err:
        raise InvalidInputError(f"{path}: cannot read the schema file: {err}") from err
    if len(data) > MAX_SCHEMA_BYTES:
        raise InvalidInputError(f"{path}: the schema file exceeds {MAX_SCHEMA_BYTES} bytes")
    if str(path).endswith(".json"):
        parsed = bounded_json.loads(data, what=str(path), max_bytes=MAX_SCHEMA_BYTES)
    else:
        try:
            parsed = tomllib.loads(data.decode("utf-8"))
        except (UnicodeDecodeError, tomllib.TOMLDecodeError) as err:
            raise InvalidInputError(f"{path}: not valid TOML: {err}") from err
    if not isinstance(parsed, dict):
        raise InvalidInputError(f"{path}: a schema file holds a table/object at the top")
    return parsed


def read_overrides(path: Path) -> dict[str, Any]:
    """A user's schema corrections from a TOML or JSON file (size-bounded before parsing).

    Shape: top-level ``target``, ``positive``, ``time`` (optional), and ``[columns."NAME"]``
    tables with any :class:`~chainml.models.schema.Column` field (``kind``, ``feature``,
    ``encoding``, ``categories``, ``fill``, ``indicator``, ...). A full schema written by
    ``chainml data schema --json`` is accepted too.
    """
    parsed = read_document(path)
    columns = parsed.get("columns", {})
    if isinstance(columns, list):  # the full JSON form lists columns
        columns = {str(c.get("name")): c for c in columns if isinstance(c, dict)}
    if not isinstance(columns, dict) or not all(isinstance(v, dict) for v in columns.values()):
        raise InvalidInputError(f"{path}: 'columns' must map column names to tables")
    problems: dict[str, str] = {}
    for name, spec in columns.items():
        try:
            column_fields(spec)
        except ValueError as err:
            problems[name] = str(err)
    if problems:
        raise SchemaError(str(path), problems)
    return {**parsed, "columns": columns}


def infer_schema(
    table: Table,
    target: str | None,
    *,
    positive: str | None = None,
    time: str | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Schema:
    """The schema of ``table``: kinds from names and values, encodings learned, corrections applied.

    ``target``/``positive``/``time`` given here win over the ``overrides`` file's. Raises
    :class:`SchemaError` naming every bad column (unknown names, mostly-numeric columns with
    stray text, labels that do not map) at once.
    """
    overrides = overrides or {}
    target = target or overrides.get("target")
    positive = positive if positive is not None else overrides.get("positive")
    time = time or overrides.get("time")
    where = str(table.path)
    problems: dict[str, str] = {}
    if target is None:
        raise InvalidInputError(f"{where}: name the label column with --target "
                                f"(columns: {', '.join(table.header)})")  # fmt: skip
    for role, name in (("label", target), ("time", time)):
        if name is not None and name not in table.cells:
            problems[name] = f"no such {role} column; columns are {', '.join(table.header)}"
    column_overrides: Mapping[str, Mapping[str, Any]] = overrides.get("columns", {})
    for name in column_overrides:
        if name not in table.cells:
            problems[name] = f"the --schema file names a column the file does not have; " \
                             f"columns are {', '.join(table.header)}"  # fmt: skip
    if time is not None and time == target:
        problems[time] = "the label column cannot also be the time column"
    if problems:
        raise SchemaError(where, problems)
    assert target is not None
    columns, problems = _columns(table, target, time, column_overrides)
    label: tuple[str, tuple[str, ...]] | None = None
    try:
        label = _label_values(target, table.cells[target], positive)
    except ValueError as err:
        problems[target] = str(err)
    if problems or label is None:
        raise SchemaError(where, problems)
    positive, negatives = label
    if time is None:
        time = next((c.name for c in columns if c.kind == "datetime"), None)
    try:
        schema = Schema(columns=tuple(columns), target=target, positive=positive,
                        negatives=negatives, time=time, delimiter=table.delimiter)  # fmt: skip
    except SchemaError as err:
        raise SchemaError(where, err.problems) from None
    return schema


def infer_columns(table: Table, overrides: Mapping[str, Any] | None = None) -> tuple[Column, ...]:
    """Every column's inferred kind and encoding, before a label is chosen (``data schema``)."""
    columns, problems = _columns(table, None, None, (overrides or {}).get("columns", {}))
    if problems:
        raise SchemaError(str(table.path), problems)
    return columns


def _columns(
    table: Table, target: str | None, time: str | None, forced: Mapping[str, Mapping[str, Any]]
) -> tuple[tuple[Column, ...], dict[str, str]]:
    columns: list[Column] = []
    problems: dict[str, str] = {}
    for name in table.header:
        if name == target:
            columns.append(Column(name=name, kind="ignore", feature=False))
            continue
        try:
            column = _infer_column(name, table.cells[name], forced=forced.get(name, {}))
        except ValueError as err:
            problems[name] = str(err)
            continue
        if name == time and column.kind != "datetime":
            column = replace(column, kind="datetime", feature=False,
                             format="iso" if column.kind == "categorical" else "seconds",
                             encoding="", categories=(), indicator=False)  # fmt: skip
        columns.append(column)
    return tuple(columns), problems


def _label_values(
    target: str, cells: Sequence[str], positive: str | None
) -> tuple[str, tuple[str, ...]]:
    """The positive label value and the negative ones; ``ValueError`` with a hint if unclear."""
    counts = Counter(c.strip() for c in cells)
    blanks = sum(n for v, n in counts.items() if is_missing(v))
    if blanks:
        raise ValueError(f"{blanks} row(s) have no label; remove them")
    values = sorted(counts)
    shown = ", ".join(map(repr, values[:10])) + (", ..." if len(values) > 10 else "")
    numeric = all(_is_number(v) for v in values)
    if len(values) < 2:
        raise ValueError(f"the label has only one class ({shown}); need both classes")
    if positive is None:
        ones = [v for v in values if numeric and float(v) == 1.0]
        if not (numeric and {float(v) for v in values} <= {0.0, 1.0} and ones):
            raise ValueError(
                f"the label has values {shown}; say which one is the positive class (class 1) "
                f"with --positive VALUE, e.g. --positive {values[0]}"
            )
        positive = ones[0]
    wanted = positive.strip()
    if numeric and _is_number(wanted):
        matching = [v for v in values if float(v) == float(wanted)]
    else:
        matching = [v for v in values if v == wanted]
    if not matching:
        raise ValueError(f"no row has the positive label {positive!r}; values are {shown}")
    negatives = tuple(v for v in values if v not in matching)
    if not negatives:
        raise ValueError(f"every row has label {positive!r}; need both classes")
    return matching[0], negatives


def _is_number(text: str) -> bool:
    try:
        return math.isfinite(float(text))
    except ValueError:
        return False


def _infer_column(name: str, cells: Sequence[str], forced: Mapping[str, Any]) -> Column:
    """One column's kind and learned encoding; ``forced`` fields (from the user) win."""
    forced = column_fields(forced)
    present = [p for p in (c.strip() for c in cells) if p.lower() not in MISSING_TOKENS]
    kind = forced.get("kind") or _guess_kind(name, present, len(cells))
    column = Column(name=name, kind=str(kind), feature=kind in ("numeric", "boolean",
                                                                "categorical"))  # fmt: skip
    if kind == "datetime":
        column = replace(column, format=str(forced.get("format") or _datetime_format(present)))
    if kind == "boolean":
        lowered = {p.lower() for p in present}
        column = replace(
            column,
            true_values=tuple(t for t in _TRUE if t in lowered) or ("true",),
            false_values=tuple(f for f in _FALSE if f in lowered) or ("false",),
        )
    if forced.get("name", name) != name:
        raise ValueError(f"the --schema file renames the column to {forced['name']!r}; "
                         "rename it in the CSV header instead")  # fmt: skip
    learned: dict[str, Any] = {
        k: v for k, v in forced.items() if k not in ("kind", "format", "name")
    }
    column = replace(column, **learned)
    if column.kind == "datetime" and column.feature and "unit" not in forced:
        column = replace(column, unit="hours")  # epoch seconds do not survive float32
    if column.kind == "categorical":
        return _learn_categories(column, cells, forced)
    if column.kind in ("numeric", "boolean", "datetime") and column.feature:
        return _learn_fill(column, cells, forced)
    return column


def _guess_kind(name: str, present: Sequence[str], rows: int) -> str:
    if not present or (len(set(present)) == 1 and len(present) == rows and rows > 1):
        return "ignore"  # no values, or one constant value: nothing to learn
    fast = plain_numbers(Column(name, "numeric", True), present)
    numbers = fast.tolist() if fast is not None else [float(p) for p in present if _is_number(p)]
    all_numeric = len(numbers) == len(present)
    if _ID_NAME.search(name):
        return "id"
    if all_numeric:
        if _TIME_NAME.search(name):
            return "datetime"
        if _looks_like_unix_time(numbers) or _is_row_index(numbers):
            return "datetime" if _looks_like_unix_time(numbers) else "id"
        return "numeric"
    if len(numbers) >= 0.95 * len(present) and len(set(present)) > 20:
        strays = sorted({p for p in present if not _is_number(p)})
        raise ValueError(
            f"{len(numbers)} of {len(present)} values are numbers, but also "
            f"{', '.join(map(repr, strays[:3]))}; fix those cells, or declare the column in a "
            f'--schema file: [columns."{name}"] kind = "categorical"'
        )
    if {p.lower() for p in present} <= set(_TRUE + _FALSE):
        return "boolean"
    if all(_is_iso(p) for p in present[:200]) and all(_is_iso(p) for p in present):
        return "datetime"
    if len(set(present)) == len(present) and len(present) >= 20:
        return "id"  # every value distinct: a key or free text, nothing a model can learn
    return "categorical"


def _looks_like_unix_time(numbers: Sequence[float]) -> bool:
    low, high = _UNIX_SECONDS
    return all(low <= n <= high and n == int(n) for n in numbers) or all(
        low * 1000 <= n <= high * 1000 and n == int(n) for n in numbers
    )


def _is_row_index(numbers: Sequence[float]) -> bool:
    return len(numbers) >= 20 and all(n == i + numbers[0] for i, n in enumerate(numbers)) and \
        numbers[0] in (0.0, 1.0)  # fmt: skip


def _is_iso(text: str) -> bool:
    if not re.match(r"^\d{4}-\d{2}-\d{2}", text):
        return False
    try:
        parse_iso(text)
    except ValueError:
        return False
    return True


def _datetime_format(present: Sequence[str]) -> str:
    if not all(_is_number(p) for p in present):
        return "iso"
    return "milliseconds" if present and float(present[0]) > _UNIX_SECONDS[1] else "seconds"


def _learn_fill(column: Column, cells: Sequence[str], forced: Mapping[str, Any]) -> Column:
    integral = column.kind == "boolean" or bool(column.unit)  # a fill like the values
    fast = plain_numbers(column, cells)
    if fast is not None:  # no blanks: the median is only a fallback for blanks at scoring time
        median = float(np.median(column.in_units(fast)))
        median = float(round(median)) if integral else median
        fill = float(forced["fill"]) if "fill" in forced else median
        return replace(column, fill=fill, indicator=bool(forced.get("indicator", False)))
    values: list[float] = []
    bad: list[str] = []
    missing = 0
    for cell in cells:
        if is_missing(cell):
            missing += 1
            continue
        try:
            values.append(column.in_unit(column.number(cell)))
        except ValueError:
            bad.append(cell.strip())
    if bad:
        raise ValueError(
            f"{len(bad)} value(s) such as {bad[0]!r} do not fit kind "
            f"{column.kind!r}; fix them or declare the column categorical"
        )
    fill = float(forced["fill"]) if "fill" in forced else (
        _median(values, integral=integral) if values else 0.0)  # fmt: skip
    indicator = bool(forced.get("indicator", missing > 0))
    return replace(column, fill=fill, indicator=indicator)


def _median(values: Sequence[float], integral: bool) -> float:
    ordered = sorted(values)
    middle = len(ordered) // 2
    median = ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2
    return float(round(median)) if integral else float(median)


def _learn_categories(column: Column, cells: Sequence[str], forced: Mapping[str, Any]) -> Column:
    counts = Counter(column.category(c) for c in cells)
    if "categories" in forced:
        kept = tuple(str(c) for c in forced["categories"])
    else:
        floor = max(2, math.ceil(MIN_FREQUENCY_SHARE * len(cells)))
        ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
        kept = tuple(value for value, n in ranked if n >= floor)
    encoding = str(forced.get("encoding") or ("onehot" if len(kept) <= MAX_ONEHOT else "ordinal"))
    # rare blanks, like rare values, share the other bucket (infrequent_if_exist)
    return replace(column, categories=kept, encoding=encoding)
