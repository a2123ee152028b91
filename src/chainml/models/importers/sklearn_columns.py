"""scikit-learn preprocessing read as a :class:`~chainml.models.importers.encoding.ColumnEncoding`.

What a pipeline may do before its classifier, and how chainml represents it exactly:

- a ``OneHotEncoder`` over all raw columns, or a ``ColumnTransformer`` whose transformers are
  ``OneHotEncoder`` (any ``handle_unknown``, ``drop``, ``min_frequency``/``max_categories``),
  ``StandardScaler``, ``MinMaxScaler`` (no ``clip``), ``MaxAbsScaler``, ``RobustScaler``,
  ``"passthrough"`` or ``"drop"`` (its ``remainder`` too): one-hot columns become
  :class:`~chainml.models.importers.encoding.OneHotBlock` s, and scaled or passed-through
  columns :class:`~chainml.models.importers.encoding.NumberBlock` s whose affine map joins the
  model's standardization (``mean``, ``scale``);
- a ``SimpleImputer`` (``missing_values=NaN``, no indicator), alone or first in a nested
  ``Pipeline`` before one of those: its learned values fill blank cells
  (:class:`~chainml.models.importers.encoding.NumberBlock` ``fill``, ``OneHotBlock`` ``fill``);
- then, optionally, one of those scalers over every feature.

Anything else is refused with :class:`UnsupportedTransformerError` naming the transformer and
its columns. Each one-hot block is checked against the encoder itself on every category it
knows (and an unknown value) before it is used.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import numpy as np

from chainml.errors import InvalidInputError
from chainml.models.importers.encoding import (
    Block,
    Category,
    ColumnEncoding,
    NumberBlock,
    OneHotBlock,
)

FloatArray = np.ndarray[Any, np.dtype[np.float64]]
#: The scikit-learn types a ColumnTransformer may hold (besides "passthrough" and "drop").
SUPPORTED = ("OneHotEncoder", "StandardScaler", "MinMaxScaler", "MaxAbsScaler", "RobustScaler")


class UnsupportedTransformerError(InvalidInputError):
    """A pipeline step chainml cannot reproduce exactly; nothing was imported."""

    def __init__(self, transformer: str, columns: Sequence[str], reason: str) -> None:
        self.transformer = transformer
        self.columns = list(columns)
        shown = ", ".join(self.columns[:8]) + (", ..." if len(self.columns) > 8 else "")
        super().__init__(
            f"cannot import transformer {transformer} on column(s) {shown or '(none)'}: {reason}"
        )


def affine(step: Any, width: int) -> tuple[FloatArray, FloatArray] | None:
    """``(mean, scale)`` with ``step(x) = (x - mean) / scale``, for an affine scaler; else None."""
    from sklearn.preprocessing import MaxAbsScaler, MinMaxScaler, RobustScaler, StandardScaler

    zeros, ones = np.zeros(width), np.ones(width)
    if isinstance(step, StandardScaler):
        return (step.mean_ if step.with_mean else zeros), (step.scale_ if step.with_std else ones)
    if isinstance(step, RobustScaler):
        center = step.center_ if step.with_centering else zeros
        return center, (step.scale_ if step.with_scaling else ones)
    if isinstance(step, MaxAbsScaler):
        return zeros, np.asarray(step.scale_, dtype=np.float64)
    if isinstance(step, MinMaxScaler) and not step.clip:
        scale = 1.0 / np.asarray(step.scale_, dtype=np.float64)  # x * s + m = (x + m/s) / (1/s)
        return -np.asarray(step.min_, dtype=np.float64) * scale, scale
    return None


def compose(
    first: tuple[FloatArray, FloatArray], then: tuple[FloatArray, FloatArray]
) -> tuple[FloatArray, FloatArray]:
    """``(mean, scale)`` of ``then`` applied after ``first``."""
    (m1, s1), (m2, s2) = first, then
    return m1 + m2 * s1, s1 * s2


def _category(value: Any, numeric: bool) -> Category:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if numeric:
        return float(value)
    if not isinstance(value, str):
        raise InvalidInputError(f"category {value!r} is neither text nor a number")
    return value


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float | np.integer | np.floating | bool | np.bool_)


def one_hot_blocks(encoder: Any, columns: Sequence[str], where: str) -> list[OneHotBlock]:
    """The blocks of a fitted ``OneHotEncoder`` over ``columns`` (its input, in order)."""
    infrequent = getattr(encoder, "infrequent_categories_", None) or [None] * len(columns)
    drops = getattr(encoder, "drop_idx_", None)
    rule = encoder.handle_unknown
    blocks = []
    for j, (column, known) in enumerate(zip(columns, encoder.categories_, strict=True)):
        values = list(known)
        present = [v for v in values if v is not None and not (
            isinstance(v, float) and math.isnan(v))]  # fmt: skip
        numeric = known.dtype.kind in "biuf" or (bool(present) and all(map(_is_number, present)))
        if not numeric and not all(isinstance(v, str) for v in present):
            raise UnsupportedTransformerError(
                where, [column], "its categories mix text and numbers (fit it on one type)"
            )
        missing = None
        if any(v is None for v in values):
            missing = "none"
        elif len(present) < len(values):
            missing = "nan"
        rare = [] if infrequent[j] is None else list(infrequent[j])
        is_rare = [any(v is r or v == r or (_missing(v) and _missing(r)) for r in rare)
                   for v in values]  # fmt: skip
        frequent = [i for i, flag in enumerate(is_rare) if not flag]
        slots: list[int | None] = [None] * len(values)
        for slot, i in enumerate(frequent):
            slots[i] = slot
        width = len(frequent)
        bucket = None
        if rare:
            bucket = width
            width += 1
            for i, flag in enumerate(is_rare):
                if flag:
                    slots[i] = bucket
        drop = None if drops is None or drops[j] is None else int(drops[j])
        if drop is not None:
            gone = slots[drop]
            assert gone is not None
            slots = [None if s == gone else s if s is None or s < gone else s - 1 for s in slots]
            bucket = None if bucket == gone else bucket if bucket is None else bucket - 1
            width -= 1
        unknown, unknown_slot = "zeros", None
        if rule == "error":
            unknown = "error"
        elif rule in ("infrequent_if_exist", "warn") and bucket is not None:
            unknown, unknown_slot = "slot", bucket
        categories = tuple(_category(v, numeric) for v in values)
        boxed = known.dtype.kind == "O"  # fitted on objects: give it objects
        blocks.append(OneHotBlock(column, categories, tuple(slots), width, numeric, unknown,
                                  unknown_slot, missing, boxed))  # fmt: skip
    return blocks


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def check_one_hot(encoder: Any, blocks: Sequence[OneHotBlock], named: bool, where: str) -> None:
    """Refuse blocks that encode any known category (or an unknown value) unlike ``encoder``."""
    import warnings

    encoding = ColumnEncoding(tuple(blocks))
    longest = max(len(block.categories) for block in blocks) + 1  # + a row of unknowns
    raw = [[_probe_cell(block, i) for block in blocks] for i in range(longest)]
    if any(block.unknown == "error" for block in blocks):
        raw = raw[:-1]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "found unknown categories": the probe's last row
        library = encoder.transform(frame(encoding, np.array(raw, dtype=object), named))
    library = library.toarray() if hasattr(library, "toarray") else np.asarray(library)
    ours = encoding.transform(np.array(raw, dtype=object))
    if library.shape != ours.shape or not np.array_equal(library, ours):
        differ = [
            b.column
            for b, s, e in _spans(blocks)
            if not np.array_equal(library[:, s:e], ours[:, s:e])
        ]
        raise UnsupportedTransformerError(
            where, differ or [b.column for b in blocks],
            "chainml cannot reproduce its one-hot encoding of these columns exactly",
        )  # fmt: skip


def _spans(blocks: Sequence[OneHotBlock]) -> list[tuple[OneHotBlock, int, int]]:
    out, start = [], 0
    for block in blocks:
        out.append((block, start, start + block.width))
        start += block.width
    return out


def _probe_cell(block: OneHotBlock, i: int) -> object:
    """Row ``i`` of the probe: each known category in turn, then a value it never saw."""
    if i < len(block.categories):
        category = block.categories[i]
        return "" if category is None else category
    if block.numeric:
        present = [c for c in block.categories if isinstance(c, float)]
        return (max(present) if present else 0.0) + 1.0
    return "\x00unknown"


def frame(encoding: ColumnEncoding, raw: Any, named: bool) -> Any:
    """Raw rows as the library takes them (:meth:`ColumnEncoding.typed`).

    A DataFrame when it was fitted on one, else a matrix (of floats when every column is
    numeric).
    """
    columns = encoding.typed(raw)
    if named:
        import pandas as pd

        return pd.DataFrame(
            {name: pd.Series(values, dtype=dtype) for name, (values, dtype) in
             zip(encoding.columns, columns, strict=True)}
        )  # fmt: skip
    rows = np.array([values for values, _ in columns], dtype=object).T
    if all(dtype != "object" for _, dtype in columns):
        return rows.astype(np.float64)
    return rows


def _resolve(spec: Any, names: Sequence[str], where: str) -> list[str]:
    """A ColumnTransformer's column selection as raw column names."""
    if isinstance(spec, str):
        spec = [spec]
    elif isinstance(spec, int | np.integer):
        spec = [int(spec)]
    elif isinstance(spec, slice) and all(
        isinstance(x, int | None) for x in (spec.start, spec.stop, spec.step)
    ):
        return list(names[spec])
    items = list(np.asarray(spec).tolist()) if not isinstance(spec, list) else spec
    if items and all(isinstance(x, bool) for x in items) and len(items) == len(names):
        return [name for name, keep in zip(names, items, strict=True) if keep]
    if all(isinstance(x, str) for x in items):
        unknown = [x for x in items if x not in names]
        if unknown:
            raise UnsupportedTransformerError(where, unknown, "not among its input columns")
        return list(items)
    if all(isinstance(x, int) and not isinstance(x, bool) for x in items):
        return [names[x] for x in items]
    raise UnsupportedTransformerError(where, [], f"cannot read its column selection {spec!r}")


def _is_passthrough(step: Any) -> bool:
    from sklearn.preprocessing import FunctionTransformer

    if isinstance(step, str):
        return step == "passthrough"
    return isinstance(step, FunctionTransformer) and step.func is None  # the remainder's form


def one_hot_encoder(
    encoder: Any, columns: tuple[str, ...]
) -> tuple[ColumnEncoding, tuple[FloatArray, FloatArray]]:
    """A fitted ``OneHotEncoder`` over all raw columns, as an encoding (``mean`` 0, ``scale`` 1).

    Its columns are the names it was fitted with (``feature_names_in_``, from a DataFrame),
    else ``columns``, the data's, by position.
    """
    named = getattr(encoder, "feature_names_in_", None)
    if named is not None:  # fitted on a DataFrame: it names the columns it takes
        columns = tuple(str(name) for name in named)
    if len(encoder.categories_) != len(columns):
        raise InvalidInputError(
            f"the OneHotEncoder takes {len(encoder.categories_)} unnamed columns, the data has "
            f"{len(columns)}; fit it on a DataFrame (pandas.read_csv(path), without the label) "
            "so that it names the columns it takes"
        )
    blocks = one_hot_blocks(encoder, columns, "'OneHotEncoder'")
    check_one_hot(encoder, blocks, named is not None, "'OneHotEncoder'")
    encoding = ColumnEncoding(tuple(blocks))
    width = len(encoding.feature_names)
    return encoding, (np.zeros(width), np.ones(width))


def column_transformer(
    transformer: Any, columns: tuple[str, ...]
) -> tuple[ColumnEncoding, tuple[FloatArray, FloatArray]]:
    """A fitted ``ColumnTransformer`` as an encoding and the ``(mean, scale)`` of its features.

    Its input columns are the names it was fitted with (a DataFrame's), else ``columns``, the
    data's, by position.
    """
    named = getattr(transformer, "feature_names_in_", None)
    names = tuple(str(n) for n in named) if named is not None else columns
    if named is None and transformer.n_features_in_ != len(columns):
        raise InvalidInputError(
            f"the ColumnTransformer takes {transformer.n_features_in_} unnamed columns, the data "
            f"has {len(columns)}; fit it on a DataFrame so that it names the columns it takes"
        )
    blocks: list[Block] = []
    means: list[FloatArray] = []
    scales: list[FloatArray] = []
    for name, step, spec in transformer.transformers_:
        where = f"{name!r} ({type(step).__name__ if not isinstance(step, str) else step})"
        selected = _resolve(spec, names, where)
        if step == "drop" or not selected:
            continue
        found, (mean, scale) = _step_blocks(step, selected, where)
        blocks.extend(found)
        means.append(np.asarray(mean, dtype=np.float64))
        scales.append(np.asarray(scale, dtype=np.float64))
    if not blocks:
        raise UnsupportedTransformerError("ColumnTransformer", names, "it keeps no column")
    encoding = ColumnEncoding(tuple(blocks))
    return encoding, (np.concatenate(means), np.concatenate(scales))


def _step_blocks(
    step: Any, selected: list[str], where: str
) -> tuple[list[Block], tuple[FloatArray, FloatArray]]:
    """The blocks of one ColumnTransformer entry and the ``(mean, scale)`` of its features.

    ``step`` is a supported transformer, a ``SimpleImputer``, or a ``Pipeline`` of a
    ``SimpleImputer`` and then one supported transformer.
    """
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder

    fills: list[Any] | None = None
    if isinstance(step, Pipeline):
        inner = [s for _, s in step.steps if s is not None and s != "passthrough"]
        if len(inner) == 2 and isinstance(inner[0], SimpleImputer):
            fills, step = imputed_values(inner[0], selected, where), inner[1]
        elif len(inner) == 1:
            step = inner[0]
        else:
            raise UnsupportedTransformerError(
                where, selected, "a nested Pipeline is read when it is a SimpleImputer and then "
                f"one of {', '.join(SUPPORTED)}",
            )  # fmt: skip
    elif isinstance(step, SimpleImputer):
        fills, step = imputed_values(step, selected, where), "passthrough"
    if isinstance(step, OneHotEncoder):
        named = getattr(step, "feature_names_in_", None) is not None
        found = one_hot_blocks(step, selected, where)
        check_one_hot(step, found, named, where)
        if fills is not None:
            found = [replace(block, imputed=True, fill=_category(fill, block.numeric))
                     for block, fill in zip(found, fills, strict=True)]  # fmt: skip
        width = sum(block.width for block in found)
        return list(found), (np.zeros(width), np.ones(width))
    if _is_passthrough(step):
        scaling: tuple[FloatArray, FloatArray] = (np.zeros(len(selected)), np.ones(len(selected)))
    else:
        reason = _unsupported(step)
        found_affine = affine(step, len(selected)) if not reason else None
        if found_affine is None:
            raise UnsupportedTransformerError(where, selected, reason or "not affine")
        scaling = found_affine
    numbers: list[Block] = [
        NumberBlock(column, None if fills is None else _number_fill(fill, column, where))
        for column, fill in zip(selected, fills or [None] * len(selected), strict=True)
    ]
    return numbers, scaling


def imputed_values(imputer: Any, selected: list[str], where: str) -> list[Any]:
    """A fitted ``SimpleImputer``'s value for a blank cell of each column (NaN is a blank)."""
    missing = imputer.missing_values
    if imputer.add_indicator or not (isinstance(missing, float) and math.isnan(missing)):
        raise UnsupportedTransformerError(
            where, selected, "a SimpleImputer is read with missing_values=NaN and no indicator"
        )
    values = list(imputer.statistics_)
    if len(values) != len(selected) or any(_missing(v) for v in values):
        raise UnsupportedTransformerError(
            where, selected, "its SimpleImputer learned no value for a column (all blank)"
        )
    return values


def _number_fill(value: Any, column: str, where: str) -> float:
    if not _is_number(value):
        raise UnsupportedTransformerError(where, [column], f"imputes text {value!r} in numbers")
    return float(value)


def _unsupported(step: Any) -> str:
    """Why ``step`` is not a supported scaler ('' when it is)."""
    kind = type(step).__name__
    if kind == "MinMaxScaler" and step.clip:
        return "MinMaxScaler(clip=True) is not affine; use clip=False"
    if kind in SUPPORTED:
        return ""
    return (
        f"chainml represents {', '.join(SUPPORTED)}, SimpleImputer, 'passthrough' and 'drop' "
        f"exactly, not "
        f"{kind}; encode these columns with one of them, or leave them out"
    )
