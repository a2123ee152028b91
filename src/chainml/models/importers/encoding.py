"""One-hot encoding of raw columns, read from a fitted scikit-learn ``OneHotEncoder``.

A scikit-learn pipeline that encodes its own categories takes raw columns; chainml's integer
model (and the contract) takes the encoded 0/1 features, so the encoding runs off chain and
is recorded in the model card (columns, categories, what an unknown value does). The feature
names are ``column=value``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from chainml.errors import InvalidInputError

UNKNOWN = ("ignore", "error")  # an unknown value: all zeros, or refused


@dataclass(frozen=True)
class OneHotEncoding:
    """Raw columns to one 0/1 feature per (column, category), in scikit-learn's order."""

    columns: tuple[str, ...]
    categories: tuple[tuple[str, ...], ...]
    unknown: str = "ignore"

    @property
    def feature_names(self) -> tuple[str, ...]:
        """``column=value`` for every category of every column."""
        return tuple(
            f"{column}={value}"
            for column, values in zip(self.columns, self.categories, strict=True)
            for value in values
        )

    def transform(self, raw: npt.ArrayLike) -> npt.NDArray[np.float64]:
        """Encode rows of raw values (one per column); every unknown value is named at once."""
        rows = np.asarray(raw, dtype=object)
        if rows.ndim != 2 or rows.shape[1] != len(self.columns):
            raise InvalidInputError(
                f"expected rows of {len(self.columns)} columns, got {rows.shape}"
            )
        parts, unknown = [], []
        for j, (column, values) in enumerate(zip(self.columns, self.categories, strict=True)):
            cells = np.array([str(v) for v in rows[:, j]], dtype=object)
            encoded = np.stack([cells == value for value in values], axis=1)
            missing = ~encoded.any(axis=1)
            if missing.any():
                unknown.append(f"{column!r}: {sorted(set(cells[missing].tolist()))[:5]}")
            parts.append(encoded)
        if unknown and self.unknown == "error":
            raise InvalidInputError(
                "unknown categories (the encoder refuses them): " + "; ".join(unknown)
            )
        return np.asarray(np.concatenate(parts, axis=1), dtype=np.float64)

    def document(self) -> dict[str, Any]:
        """What the card records."""
        return {
            "method": "one-hot",
            "columns": list(self.columns),
            "categories": [list(values) for values in self.categories],
            "unknown": "all zeros" if self.unknown == "ignore" else "refused",
            "features": list(self.feature_names),
        }

    @classmethod
    def from_document(cls, document: dict[str, Any]) -> OneHotEncoding:
        """The encoding a card records (:meth:`document`), to encode raw rows again."""
        unknown = "error" if document["unknown"] == "refused" else "ignore"
        categories = tuple(tuple(values) for values in document["categories"])
        return cls(tuple(document["columns"]), categories, unknown)


def from_sklearn(encoder: Any, columns: tuple[str, ...]) -> OneHotEncoding:
    """The encoding of a fitted ``OneHotEncoder`` (no drop, no infrequent categories).

    Its columns are the names it was fitted with (``feature_names_in_``, from a DataFrame),
    else ``columns``, the data's, by position.
    """
    if getattr(encoder, "drop_idx_", None) is not None:
        raise InvalidInputError("a OneHotEncoder with drop= is not supported; use drop=None")
    infrequent = getattr(encoder, "infrequent_categories_", None)
    if infrequent is not None and any(c is not None for c in infrequent):
        raise InvalidInputError("a OneHotEncoder with infrequent categories is not supported yet")
    named = getattr(encoder, "feature_names_in_", None)
    if named is not None:  # fitted on a DataFrame: it names the columns it takes
        columns = tuple(str(name) for name in named)
    if len(encoder.categories_) != len(columns):
        raise InvalidInputError(
            f"the OneHotEncoder takes {len(encoder.categories_)} unnamed columns, the data has "
            f"{len(columns)}; fit it on a DataFrame (pandas.read_csv(path, dtype=str), without "
            "the label) so that it names the columns it takes"
        )
    unknown = "error" if encoder.handle_unknown == "error" else "ignore"
    categories = tuple(tuple(str(v) for v in values) for values in encoder.categories_)
    return OneHotEncoding(columns, categories, unknown)
