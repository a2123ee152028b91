"""Splits into fit, validation and test parts: by time, at random, stratified, or by group.

``time`` (the default when the data has a time column): rows are sorted by the dataset's
ordering key (stable, so equal times keep their file order); the last ``test_fraction`` of
rows is the test split, and the last ``validation_fraction`` of the training period before it
is the validation slice used for early stopping, model selection and the decision threshold.
Models are fitted on what precedes it, so nothing from the validation or test period leaks
into the fitted parameters.

Without a time column the default is ``stratified``: rows are shuffled (seeded) within each
class and each part gets the same share of every class, so a class-sorted file splits fine.
``random`` shuffles all rows; ``group:COLUMN`` shuffles the groups (e.g. customers) and keeps
each group's rows in one part, so no group is seen both in fitting and in testing.
:func:`make_split` picks by name; the name is recorded in the model card.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from chainml.errors import InvalidInputError
from chainml.models.dataset import Dataset

TEST_FRACTION = 0.2
VALIDATION_FRACTION = 0.1


@dataclass(frozen=True)
class TimeSplit:
    """The three consecutive periods of a time-ordered split."""

    fit: Dataset
    validation: Dataset
    test: Dataset
    test_fraction: float
    validation_fraction: float
    method: str = "time"  # time | random | stratified | group:COLUMN
    seed: int = 0

    def parts(self) -> dict[str, Dataset]:
        """The parts by name, in time order."""
        return {"fit": self.fit, "validation": self.validation, "test": self.test}

    def summary(self) -> dict[str, dict[str, int]]:
        """Rows and positives per part (what a model card records)."""
        return {
            name: {"rows": part.rows, "positives": part.positives}
            for name, part in self.parts().items()
        }


def time_split(
    dataset: Dataset,
    test_fraction: float = TEST_FRACTION,
    validation_fraction: float = VALIDATION_FRACTION,
) -> TimeSplit:
    """Split ``dataset`` by its ordering key (row order when it has none).

    Raises :class:`InvalidInputError` when a fraction is out of range or when a part is empty or
    holds a single class (a model cannot be fitted, tuned or evaluated on it).
    """
    for name, value in (
        ("test_fraction", test_fraction),
        ("validation_fraction", validation_fraction),
    ):
        if not 0.0 < value < 1.0:
            raise InvalidInputError(f"{name} must be between 0 and 1, got {value}")
    rows = dataset.rows
    order = np.arange(rows) if dataset.order is None else np.argsort(dataset.order, kind="stable")
    train_end = round(rows * (1.0 - test_fraction))
    fit_end = round(train_end * (1.0 - validation_fraction))
    bounds = {"fit": (0, fit_end), "validation": (fit_end, train_end), "test": (train_end, rows)}
    parts = {}
    for name, (start, end) in bounds.items():
        if end <= start:
            raise InvalidInputError(
                f"dataset {dataset.name!r}: the {name} part of the time split is empty "
                f"({rows} rows are too few)"
            )
        classes = np.unique(dataset.labels[order[start:end]])
        if classes.size < 2:
            raise InvalidInputError(
                f"dataset {dataset.name!r}: the {name} part of the time split (rows {start} to "
                f"{end - 1} in time order) holds only class {int(classes[0])}; it needs both "
                "classes (more data, or positives spread over time)"
            )
        parts[name] = dataset.take(order[start:end], name=f"{dataset.name}[{name}]")
    return TimeSplit(
        fit=parts["fit"], validation=parts["validation"], test=parts["test"],
        test_fraction=test_fraction, validation_fraction=validation_fraction,
    )  # fmt: skip


#: The split every model kind uses unless told otherwise.
Split = TimeSplit
METHODS = ("time", "random", "stratified", "group")


def default_method(dataset: Dataset) -> str:
    """``time`` when the dataset has a time column, else ``stratified``."""
    return "time" if dataset.order is not None else "stratified"


def parse_method(text: str) -> tuple[str, str | None]:
    """``(method, column)`` from ``time[:COLUMN] | random | stratified | group:COLUMN``."""
    method, _, column = text.partition(":")
    if method not in METHODS or (method == "group" and not column) or (
        method in ("random", "stratified") and column
    ):  # fmt: skip
        raise InvalidInputError(
            f"--split {text!r}: use time, time:COLUMN, random, stratified or group:COLUMN"
        )
    return method, column or None


def split_columns(split: str | None, order: str | None) -> tuple[str | None, str | None]:
    """``(order, group)``: the columns a dataset must be loaded with for ``split``.

    ``time:COLUMN`` orders by that column (``order`` may name the same one), ``group:COLUMN``
    groups by it; other methods change nothing.
    """
    if split is None:
        return order, None
    method, column = parse_method(split)
    if method == "time" and column is not None:
        if order is not None and order != column:
            raise InvalidInputError(f"--split {split} and --order {order} name different columns")
        return column, None
    return order, column if method == "group" else None


def make_split(
    dataset: Dataset,
    method: str | None = None,
    *,
    seed: int = 0,
    test_fraction: float = TEST_FRACTION,
    validation_fraction: float = VALIDATION_FRACTION,
) -> Split:
    """Split ``dataset`` by ``method`` (default :func:`default_method`); see the module docs."""
    method = method or default_method(dataset)
    kind, _ = parse_method(method)
    if kind == "time":
        split = time_split(dataset, test_fraction, validation_fraction)
        return replace(split, method=method, seed=seed)
    rng = np.random.default_rng(seed)
    test_mask = _draw(dataset, kind, rng, test_fraction)
    train = np.flatnonzero(~test_mask)
    validation_mask = _draw(dataset.take(train), kind, rng, validation_fraction)
    parts = {
        "fit": train[~validation_mask],
        "validation": train[validation_mask],
        "test": np.flatnonzero(test_mask),
    }
    taken = {}
    for name, rows in parts.items():
        classes = np.unique(dataset.labels[rows])
        if rows.size == 0 or classes.size < 2:
            raise InvalidInputError(
                f"dataset {dataset.name!r}: the {name} part of the {method} split has "
                f"{rows.size} rows and {classes.size} class(es); it needs both classes (more "
                "data, or another --split)"
            )
        taken[name] = dataset.take(np.sort(rows), name=f"{dataset.name}[{name}]")
    return TimeSplit(
        fit=taken["fit"], validation=taken["validation"], test=taken["test"],
        test_fraction=test_fraction, validation_fraction=validation_fraction,
        method=method, seed=seed,
    )  # fmt: skip


def _draw(
    dataset: Dataset, kind: str, rng: np.random.Generator, fraction: float
) -> np.ndarray[tuple[int], np.dtype[np.bool_]]:
    """A mask of about ``fraction`` of the rows, drawn as ``kind`` says."""
    if not 0.0 < fraction < 1.0:
        raise InvalidInputError(f"split fractions must be between 0 and 1, got {fraction}")
    mask = np.zeros(dataset.rows, dtype=np.bool_)
    if kind == "group":
        if dataset.groups is None:
            raise InvalidInputError("a group split needs the group column's values")
        groups = rng.permutation(np.unique(dataset.groups))
        sizes = np.array([np.count_nonzero(dataset.groups == g) for g in groups])
        chosen = groups[: int(np.searchsorted(np.cumsum(sizes), fraction * dataset.rows)) + 1]
        return np.isin(dataset.groups, chosen)
    strata = [np.arange(dataset.rows)] if kind == "random" else [
        np.flatnonzero(dataset.labels == c) for c in (0, 1)
    ]  # fmt: skip
    for rows in strata:
        mask[rng.permutation(rows)[: round(fraction * rows.size)]] = True
    return mask


def describe(method: str, seed: int, test_fraction: float, time_column: str | None = None) -> str:
    """The split in words, for tables and cards (no "in time" unless it is by time)."""
    share = f"{100 * test_fraction:.0f}%"
    kind, column = parse_method(method)
    if kind == "time":
        by = column or time_column
        return f"by time ({by or 'row order'}): test = the last {share} in time"
    if kind == "stratified":
        return f"stratified (seed {seed}): test = {share} of each class"
    if kind == "random":
        return f"random (seed {seed}): test = {share} of the rows"
    return f"by group {column} (seed {seed}): test = about {share} of the rows, whole groups"
