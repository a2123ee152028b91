"""A generated CSV as users bring them: categories, text labels, blanks, rows sorted by class."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

COLUMNS = ("amount", "age", "purpose", "housing", "label")


def write_loans_csv(path: Path, rows: int = 1200, seed: int = 0) -> list[dict[str, str]]:
    """Write the CSV (label ``bad``/``good``; class-sorted) and return its rows as read back."""
    rng = np.random.default_rng(seed)
    amount = rng.gamma(2.0, 1500.0, rows)
    age = rng.integers(19, 75, rows)
    purpose = rng.choice(["car", "tv", "education", "business", "repairs"], rows)
    housing = rng.choice(["own", "rent", "free"], rows, p=[0.6, 0.3, 0.1])
    logit = (
        0.0004 * (amount - 3000) - 0.04 * (age - 40) - 1.0
        + np.select([purpose == "education", purpose == "tv"], [1.2, -0.8], 0.0)
        + np.where(housing == "rent", 0.9, 0.0)
    )  # fmt: skip
    bad = rng.random(rows) < 1 / (1 + np.exp(-logit))
    table = [
        {"amount": "" if i % 37 == 0 else f"{amount[i]:.2f}", "age": str(age[i]),
         "purpose": str(purpose[i]), "housing": str(housing[i]),
         "label": "bad" if bad[i] else "good"}
        for i in range(rows)
    ]  # fmt: skip
    table.sort(key=lambda row: row["label"])  # a class-sorted file: no time order to split by
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(table)
    return table
