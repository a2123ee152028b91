"""Raw columns to model features, as an imported scikit-learn pipeline encodes them.

A pipeline that encodes its own raw columns (a ``OneHotEncoder``, or a ``ColumnTransformer``
of one-hot encoders, scalers and passthrough columns) takes raw values; chainml's integer
model (and the contract) takes the encoded features, so the encoding runs off chain and is
recorded in the model card. A :class:`ColumnEncoding` is a list of blocks, in the pipeline's
output order:

- :class:`OneHotBlock`: one raw column to 0/1 features, exactly as the fitted encoder maps
  each of its categories (frequent ones, the infrequent bucket, a dropped category) and an
  unknown value (all zeros, the infrequent bucket, or refused). Categories compare as the
  encoder compares them: as text when it was fitted on text, as numbers when it was fitted on
  numbers (the cell ``3``, ``3.0`` and the category ``3`` are one value), and a blank cell is
  the encoder's missing category (``None``/``NaN``) when it has one;
- :class:`NumberBlock`: one numeric column, the number itself (a scaler's affine map is
  folded into the model's standardization, so the feature is in the column's own units).

Feature names are ``column=value`` for one-hot features (``column=(infrequent)`` for the
infrequent bucket, ``column=(missing)`` for a missing category) and the column's name for a
number.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np
import numpy.typing as npt

from chainml.errors import InvalidInputError
from chainml.models.schema import SchemaError, is_missing

#: A category as the document records it: text, a number, or None (the missing category).
Category = str | float | None
INFREQUENT = "(infrequent)"
MISSING = "(missing)"
UNKNOWN = ("zeros", "error", "slot")  # an unknown value: all zeros, refused, or one feature


def parse_number(value: object) -> float:
    """The number a raw cell stands for (``true``/``false`` are 1 and 0); ValueError if none."""
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, int | float):
        number = float(value)
    else:
        text = str(value).strip()
        lowered = text.lower()
        if lowered in ("true", "false"):
            return 1.0 if lowered == "true" else 0.0
        try:
            number = float(text)
        except ValueError:
            raise ValueError(f"{value!r} is not a number") from None
    if not math.isfinite(number):
        raise ValueError(f"{value!r} is not a finite number")
    return number


def category_text(value: Category) -> str:
    """How a category shows in a feature name (``3`` for 3.0, ``(missing)`` for None)."""
    if value is None:
        return MISSING
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    return value


@dataclass(frozen=True)
class OneHotBlock:
    """One raw column to 0/1 features, as a fitted ``OneHotEncoder`` maps it."""

    column: str
    categories: tuple[Category, ...]  # every known category, in the encoder's order
    slots: tuple[int | None, ...]  # each category's feature (None: dropped, all zeros)
    width: int  # features this column contributes
    numeric: bool  # categories compare as numbers (else as text)
    unknown: str = "zeros"  # zeros | error | slot
    unknown_slot: int | None = None  # the feature of an unknown value (unknown == "slot")
    missing: str | None = None  # the encoder's missing marker: "none" or "nan" (None: no such)
    boxed: bool = False  # fitted on an object column: the library takes its numbers as objects
    imputed: bool = False  # a SimpleImputer before the encoder: a blank cell is ``fill``
    fill: Category = None

    def __post_init__(self) -> None:
        if self.unknown not in UNKNOWN:
            raise InvalidInputError(f"unknown-value rule {self.unknown!r}, not one of {UNKNOWN}")
        if len(self.slots) != len(self.categories):
            raise InvalidInputError(f"column {self.column!r}: one slot per category expected")
        if (self.unknown == "slot") != (self.unknown_slot is not None):
            raise InvalidInputError(f"column {self.column!r}: unknown_slot needs unknown='slot'")
        used = [s for s in (*self.slots, self.unknown_slot) if s is not None]
        if any(not 0 <= s < self.width for s in used):
            raise InvalidInputError(f"column {self.column!r}: a slot is outside the features")

    def feature_names(self) -> tuple[str, ...]:
        """``column=value`` per feature; a feature several categories share is the bucket."""
        members: list[list[Category]] = [[] for _ in range(self.width)]
        for category, slot in zip(self.categories, self.slots, strict=True):
            if slot is not None:
                members[slot].append(category)
        names = []
        for slot, shared in enumerate(members):
            bucket = len(shared) != 1 or slot == self.unknown_slot
            names.append(f"{self.column}={INFREQUENT if bucket else category_text(shared[0])}")
        return tuple(names)

    @cached_property
    def index(self) -> dict[Category, int]:
        """Category -> position in :attr:`categories` (None: the missing category)."""
        return {category: i for i, category in enumerate(self.categories)}

    def key(self, cell: object) -> Category:
        """The category a raw cell is, compared as the encoder compares (ValueError if bad)."""
        if self.numeric:
            key: Category = None if is_missing(cell) else parse_number(cell)
        elif cell is None or (isinstance(cell, float) and math.isnan(cell)):
            key = None
        else:
            text = str(cell)
            # a blank cell: the missing category, when the encoder has one
            key = text if text in self.index or not is_missing(text) else None
        return self.fill if key is None and self.imputed else key

    @cached_property
    def integers(self) -> bool:
        """Whether every category is a whole number (the encoder was fitted on integers)."""
        present = [c for c in self.categories if c is not None]
        return self.numeric and all(isinstance(c, float) and c.is_integer() for c in present)

    def typed(self, cell: object) -> object:
        """The cell as the library takes it: a number, text, or the encoder's missing marker.

        A number is an int when every category is a whole number (as the encoder saw them).
        """
        key = self.key(cell)
        if key is None:
            return None if self.missing == "none" else math.nan
        if self.integers and isinstance(key, float) and key.is_integer():
            return int(key)
        return key

    def encode(self, cells: Sequence[object]) -> tuple[npt.NDArray[np.float64], list[str], str]:
        """Features of a column of cells; the unknown values and the first bad cell's error."""
        out = np.zeros((len(cells), self.width), dtype=np.float64)
        unknown: list[str] = []
        bad = ""
        seen: dict[object, tuple[int | None, str | None]] = {}  # repeated cells: looked up once
        for row, cell in enumerate(cells):
            if isinstance(cell, str) and cell in seen:
                slot, unseen = seen[cell]
            else:
                try:
                    slot, unseen = self._slot(cell)
                except ValueError as err:
                    bad = bad or f"row {row + 1}: {err}"
                    continue
                if isinstance(cell, str):
                    seen[cell] = (slot, unseen)
            if unseen is not None:
                unknown.append(unseen)
            if slot is not None:
                out[row, slot] = 1.0
        return out, unknown, bad

    def _slot(self, cell: object) -> tuple[int | None, str | None]:
        """The feature a cell sets (None: none) and, for an unknown value, its text."""
        key = self.key(cell)
        position = self.index.get(key)
        if position is None:
            return self.unknown_slot, category_text(key)
        return self.slots[position], None

    def document(self) -> dict[str, Any]:
        """What the card records."""
        return {
            "type": "one-hot", "column": self.column, "categories": list(self.categories),
            "slots": list(self.slots), "width": self.width,
            "values": "number" if self.numeric else "text", "unknown": self.unknown,
            "unknown_slot": self.unknown_slot, "missing": self.missing, "boxed": self.boxed,
            "imputed": self.imputed, "fill": self.fill,
        }  # fmt: skip


@dataclass(frozen=True)
class NumberBlock:
    """One numeric raw column, the number itself (a scaler is folded into the model)."""

    column: str
    fill: float | None = None  # a SimpleImputer's value for a blank cell (None: no imputer)

    def feature_names(self) -> tuple[str, ...]:
        """The column's name."""
        return (self.column,)

    def typed(self, cell: object) -> object:
        """The cell as a float (NaN when blank and not imputed)."""
        if is_missing(cell):
            return math.nan if self.fill is None else self.fill
        return parse_number(cell)

    def encode(self, cells: Sequence[object]) -> tuple[npt.NDArray[np.float64], list[str], str]:
        """The numbers; a blank or text cell is the first bad cell's error."""
        out = np.zeros((len(cells), 1), dtype=np.float64)
        for row, cell in enumerate(cells):
            try:
                if is_missing(cell) and self.fill is None:
                    raise ValueError("blank (the pipeline has no imputer for this column)")
                out[row, 0] = self.fill if is_missing(cell) else parse_number(cell)
            except ValueError as err:
                return out, [], f"row {row + 1}: {err}"
        return out, [], ""

    def document(self) -> dict[str, Any]:
        """What the card records."""
        return {"type": "number", "column": self.column, "fill": self.fill}


Block = OneHotBlock | NumberBlock


@dataclass(frozen=True)
class ColumnEncoding:
    """Raw columns to the model's features: blocks in the pipeline's output order."""

    blocks: tuple[Block, ...]

    def __post_init__(self) -> None:
        seen = [block.column for block in self.blocks]
        twice = sorted({column for column in seen if seen.count(column) > 1})
        if twice:
            raise InvalidInputError(
                f"column(s) {', '.join(twice)} feed more than one transformer; chainml encodes "
                "each raw column once"
            )
        names = self.feature_names
        clash = sorted({name for name in names if names.count(name) > 1})
        if clash:
            raise InvalidInputError(f"the encoding names two features {', '.join(clash)}")

    @property
    def columns(self) -> tuple[str, ...]:
        """The raw columns it reads, in order."""
        return tuple(block.column for block in self.blocks)

    @property
    def feature_names(self) -> tuple[str, ...]:
        """The model's features, in order."""
        return tuple(name for block in self.blocks for name in block.feature_names())

    @property
    def one_hot(self) -> tuple[OneHotBlock, ...]:
        """The one-hot encoded columns."""
        return tuple(block for block in self.blocks if isinstance(block, OneHotBlock))

    def _rows(self, raw: npt.ArrayLike) -> npt.NDArray[Any]:
        rows = np.asarray(raw, dtype=object)
        if rows.ndim != 2 or rows.shape[1] != len(self.blocks):
            raise InvalidInputError(
                f"expected rows of {len(self.blocks)} columns, got {rows.shape}"
            )
        return rows

    def transform(self, raw: npt.ArrayLike) -> npt.NDArray[np.float64]:
        """Encode rows of raw values (one per column); every bad column is named at once.

        Raises :class:`~chainml.models.schema.SchemaError` for cells that are not numbers where
        numbers are needed (or blank without an imputer), and for unknown categories of an
        encoder that refuses them.
        """
        rows = self._rows(raw)
        parts, problems = [], {}
        for j, block in enumerate(self.blocks):
            encoded, unknown, bad = block.encode(rows[:, j].tolist())
            if bad:
                problems[block.column] = bad
            elif unknown and isinstance(block, OneHotBlock) and block.unknown == "error":
                shown = sorted(set(unknown))
                problems[block.column] = (
                    f"unknown categories (the encoder refuses them): {shown[:5]}"
                    + (f" and {len(shown) - 5} more" if len(shown) > 5 else "")
                )
            parts.append(encoded)
        if problems:
            raise SchemaError("records", problems)
        return np.asarray(np.concatenate(parts, axis=1), dtype=np.float64)

    def typed(self, raw: npt.ArrayLike) -> list[tuple[list[object], str]]:
        """Each column's cells as the library takes them, with the column's numpy dtype.

        Numbers are ``float64`` (``int64`` for an encoder fitted on integers), text and
        missing markers ``object``, as are the numbers of an encoder fitted on objects.
        """
        rows = self._rows(raw)
        out = []
        for j, block in enumerate(self.blocks):
            values = [block.typed(cell) for cell in rows[:, j].tolist()]
            if isinstance(block, OneHotBlock) and (block.boxed or not block.numeric):
                dtype = "object"
            elif all(isinstance(v, int) for v in values):
                dtype = "int64"
            else:
                dtype = "float64" if all(isinstance(v, float) for v in values) else "object"
            out.append((values, dtype))
        return out

    def describe(self) -> str:
        """One line for people (the card's markdown)."""
        parts = []
        one_hot = [block.column for block in self.one_hot]
        if one_hot:
            rule = {"zeros": "all zeros", "error": "refused", "slot": INFREQUENT}
            by_rule: dict[str, list[str]] = {}
            for block in self.one_hot:
                by_rule.setdefault(rule[block.unknown], []).append(block.column)
            unknown = (
                next(iter(by_rule)) if len(by_rule) == 1
                else ", ".join(f"{r} for {', '.join(cs)}" for r, cs in by_rule.items())
            )  # fmt: skip
            parts.append(f"one-hot of {', '.join(one_hot)}; an unknown value is {unknown}")
        numbers = [block.column for block in self.blocks if isinstance(block, NumberBlock)]
        if numbers:
            parts.append(f"numbers {', '.join(numbers)} (scaling folded into the model)")
        return "; ".join(parts)

    def document(self) -> dict[str, Any]:
        """What the card records."""
        return {
            "method": "columns",
            "columns": list(self.columns),
            "blocks": [block.document() for block in self.blocks],
            "features": list(self.feature_names),
            "summary": self.describe(),
        }

    @classmethod
    def from_document(cls, document: dict[str, Any]) -> ColumnEncoding:
        """The encoding a card records (:meth:`document`), to encode raw rows again.

        Also reads the first format (``method: one-hot``: text categories, no drop, no
        infrequent bucket).
        """
        if document.get("method") == "one-hot":
            unknown = "error" if document["unknown"] == "refused" else "zeros"
            return cls(tuple(
                OneHotBlock(column, tuple(values), tuple(range(len(values))), len(values),
                            numeric=False, unknown=unknown)
                for column, values in zip(document["columns"], document["categories"],
                                          strict=True)
            ))  # fmt: skip
        blocks: list[Block] = []
        for block in document["blocks"]:
            if block["type"] == "number":
                fill = block.get("fill")
                blocks.append(NumberBlock(block["column"], None if fill is None else float(fill)))
                continue
            numeric = block["values"] == "number"
            blocks.append(OneHotBlock(
                block["column"],
                tuple(None if c is None else float(c) if numeric else str(c)
                      for c in block["categories"]),
                tuple(block["slots"]), int(block["width"]), numeric, str(block["unknown"]),
                block["unknown_slot"], block["missing"], bool(block.get("boxed", False)),
                bool(block.get("imputed", False)), _fill(block.get("fill"), numeric),
            ))  # fmt: skip
        encoding = cls(tuple(blocks))
        if list(encoding.feature_names) != list(document["features"]):
            raise InvalidInputError("the card's encoding does not give its own feature names")
        return encoding


def _fill(value: Any, numeric: bool) -> Category:
    if value is None:
        return None
    return float(value) if numeric else str(value)


#: The name the service reads cards with (one class: every imported encoding is a
#: :class:`ColumnEncoding`, a one-hot-only one included).
OneHotEncoding = ColumnEncoding
