"""A labelled tabular dataset held in memory, and its commitment (the hash of its exact bytes).

Every loader (the ULB credit-card CSV, any CSV with a label column, the payments simulator)
returns a :class:`Dataset`; training and evaluation take nothing else. The commitment is what a
model card records as "trained on exactly this data": it covers the feature names, the values,
the labels and the ordering key, in a canonical little-endian layout, and, for a CSV read
through a :class:`~chainml.models.schema.Schema`, the digest of that schema: the encoding that
turned raw cells into these numbers is part of what was committed.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from chainml.errors import InvalidInputError

if TYPE_CHECKING:
    from chainml.models.schema import Schema

COMMITMENT_DOMAIN = b"chainml.dataset/1\x00"

FloatArray = npt.NDArray[np.float64]
LabelArray = npt.NDArray[np.int8]


@dataclass(frozen=True, eq=False)
class Dataset:
    """Features (float64, finite, one row per example), binary labels and an ordering key.

    ``order`` is the time key of a time-ordered split (``Time`` for the ULB data, the
    simulator's timestamps); when None, row order is time order. ``schema`` is the encoding
    of a CSV read through one (committed to); ``groups`` are the group codes of a
    ``group:COLUMN`` split (they steer the split, which the model card records, and are not
    committed to).
    """

    name: str
    features: FloatArray
    labels: LabelArray
    feature_names: tuple[str, ...]
    order: FloatArray | None = None
    source: str = ""
    schema: Schema | None = None
    groups: npt.NDArray[np.int64] | None = None
    _commitment: list[str] = field(default_factory=list, repr=False, compare=False)

    def __post_init__(self) -> None:
        rows = self.features.shape[0] if self.features.ndim == 2 else -1
        if self.features.ndim != 2 or self.features.shape[1] != len(self.feature_names):
            raise InvalidInputError(
                f"dataset {self.name!r}: features have shape {self.features.shape}, expected "
                f"(rows, {len(self.feature_names)}) for {len(self.feature_names)} named features"
            )
        if self.labels.shape != (rows,):
            raise InvalidInputError(
                f"dataset {self.name!r}: {self.labels.shape[0]} labels for {rows} rows"
            )
        if self.order is not None and self.order.shape != (rows,):
            raise InvalidInputError(
                f"dataset {self.name!r}: ordering key has {self.order.shape[0]} values "
                f"for {rows} rows"
            )
        if rows == 0:
            raise InvalidInputError(f"dataset {self.name!r} has no rows")
        if not np.isfinite(self.features).all():
            row, column = np.argwhere(~np.isfinite(self.features))[0]
            raise InvalidInputError(
                f"dataset {self.name!r}: row {row}, column {self.feature_names[column]!r} "
                "is NaN or infinite"
            )
        bad_labels = np.setdiff1d(np.unique(self.labels), [0, 1])
        if bad_labels.size:
            raise InvalidInputError(
                f"dataset {self.name!r}: labels must be 0 or 1, found {bad_labels[:5].tolist()}"
            )

    @property
    def rows(self) -> int:
        """Number of examples."""
        return int(self.features.shape[0])

    @property
    def positives(self) -> int:
        """Number of examples labelled 1 (fraud)."""
        return int(self.labels.sum())

    def commitment(self) -> str:
        """SHA-256 (hex, ``0x``-prefixed) of the canonical bytes of exactly this data."""
        if not self._commitment:
            digest = hashlib.sha256(COMMITMENT_DOMAIN)
            header = {"features": list(self.feature_names), "rows": self.rows}
            header["ordered"] = self.order is not None
            if self.schema is not None:  # absent otherwise: older commitments stay the same
                header["schema"] = self.schema.digest()
            digest.update(json.dumps(header, sort_keys=True).encode() + b"\x00")
            digest.update(np.ascontiguousarray(self.features, dtype="<f8").tobytes())
            digest.update(np.ascontiguousarray(self.labels, dtype="u1").tobytes())
            if self.order is not None:
                digest.update(np.ascontiguousarray(self.order, dtype="<f8").tobytes())
            self._commitment.append("0x" + digest.hexdigest())
        return self._commitment[0]

    def take(self, rows: npt.NDArray[np.intp] | slice, name: str | None = None) -> Dataset:
        """The subset of ``rows`` (an index array or a slice), as a new dataset."""
        return Dataset(
            name=name or self.name,
            features=self.features[rows],
            labels=self.labels[rows],
            feature_names=self.feature_names,
            order=None if self.order is None else self.order[rows],
            source=self.source,
            schema=self.schema,
            groups=None if self.groups is None else self.groups[rows],
        )
