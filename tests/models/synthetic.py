"""A seeded, imbalanced synthetic dataset with a time key, shared by the model tests."""

from __future__ import annotations

import numpy as np

from chainml.models.dataset import Dataset


def synthetic_dataset(rows: int = 3000, features: int = 6, seed: int = 0) -> Dataset:
    """About 5% positives, learnable (linear plus one interaction), rows shuffled in time."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, features))
    signal = 1.5 * x[:, 0] - x[:, 1] + 0.8 * x[:, 2] * x[:, 3] + 0.7 * rng.normal(size=rows)
    labels = (signal > np.quantile(signal, 0.95)).astype(np.int8)
    order = rng.permutation(rows).astype(np.float64)  # time is not row order
    names = tuple(f"f{i}" for i in range(features))
    return Dataset("synthetic", x, labels, names, order=order, source="tests")
