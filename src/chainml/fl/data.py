"""Federation data: the bundled breast-cancer set, participant files and their reading.

``load_task_dataset("breast_cancer", ...)`` is scikit-learn's Wisconsin diagnostic set (bundled
with scikit-learn, no download), malignant = 1; any other spec goes to
:func:`chainml.models.sources.load_dataset` (``creditcard``, ``simulated[:N]``, a CSV).
A participant file is a CSV of the features and a last column ``label`` (0/1).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from chainml.errors import InvalidInputError
from chainml.files import write_atomic
from chainml.models.dataset import Dataset, FloatArray

BREAST_CANCER = "breast_cancer"
LABEL = "label"


def load_task_dataset(spec: str, data_dir: Path, *, fetch: bool = False) -> Dataset:
    """The dataset named by ``spec`` (``breast_cancer`` or a chainml dataset spec)."""
    if spec == BREAST_CANCER:
        from sklearn.datasets import load_breast_cancer

        bunch = load_breast_cancer()
        names = tuple(str(n).replace(" ", "_") for n in bunch.feature_names)
        return Dataset(
            name=BREAST_CANCER,
            features=np.asarray(bunch.data, dtype=np.float64),
            labels=(np.asarray(bunch.target) == 0).astype(np.int8),  # 0 is malignant there
            feature_names=names,
            source="scikit-learn breast cancer Wisconsin (diagnostic), malignant = 1",
        )
    from chainml.models.sources import load_dataset

    return load_dataset(spec, data_dir, fetch=fetch)


def write_participant_file(path: Path, part: Dataset) -> str:
    """Write ``part`` as a participant CSV; return ``0x`` + SHA-256 of the file's bytes."""
    header = ",".join([*part.feature_names, LABEL])
    rows = np.column_stack([part.features, part.labels.astype(np.float64)])
    lines = [header] + [",".join(repr(float(v)) for v in row) for row in rows]
    data = ("\n".join(lines) + "\n").encode()
    write_atomic(path, data)
    return "0x" + hashlib.sha256(data).hexdigest()


def read_participant_file(path: Path) -> tuple[tuple[str, ...], FloatArray, FloatArray]:
    """Feature names, features and 0/1 labels of a participant CSV."""
    from chainml.models.tabular import read_numeric_csv

    header, values = read_numeric_csv(path)
    if not header or header[-1] != LABEL:
        raise InvalidInputError(f"{path}: the last column must be {LABEL!r}")
    labels = values[:, -1]
    if not np.isin(labels, (0.0, 1.0)).all():
        raise InvalidInputError(f"{path}: labels must be 0 or 1")
    return header[:-1], values[:, :-1], labels
