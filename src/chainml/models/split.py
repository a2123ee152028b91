"""The time-ordered split: fit on the past, pick thresholds on the recent past, test on the future.

Rows are sorted by the dataset's ordering key (stable, so equal times keep their file order);
the last ``test_fraction`` of rows is the test split, and the last ``validation_fraction`` of the
training period before it is the validation slice used for early stopping, model selection and
the decision threshold. Models are fitted on what precedes it, so nothing from the validation or
test period leaks into the fitted parameters.
"""

from __future__ import annotations

from dataclasses import dataclass

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
    return TimeSplit(**parts, test_fraction=test_fraction, validation_fraction=validation_fraction)
