"""Splitting the training rows among participants: iid, Dirichlet label skew, or by a column.

``partition(labels, n, spec, seed, column=...)`` returns one sorted index array per participant;
together they cover every row exactly once. ``dirichlet:ALPHA`` draws each class's shares from
Dirichlet(ALPHA) (small ALPHA: each participant sees mostly one class, the usual non-IID
benchmark); ``column:COL`` gives each participant a contiguous range of the column's sorted
values (by time when COL is a time column, as banks would hold different periods).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from chainml.errors import InvalidInputError

Index = npt.NDArray[np.intp]


@dataclass(frozen=True)
class PartitionSpec:
    """A parsed ``--partition``: ``iid``, ``dirichlet`` (with ``alpha``) or ``column``."""

    method: str
    alpha: float = 0.0
    column: str = ""

    def __str__(self) -> str:
        if self.method == "dirichlet":
            return f"dirichlet:{self.alpha:g}"
        if self.method == "column":
            return f"column:{self.column}"
        return self.method


def parse_partition(text: str) -> PartitionSpec:
    """``iid`` | ``dirichlet:ALPHA`` (ALPHA > 0) | ``column:COL``."""
    method, _, argument = text.partition(":")
    if method == "iid" and not argument:
        return PartitionSpec("iid")
    if method == "dirichlet":
        try:
            alpha = float(argument)
        except ValueError:
            alpha = -1.0
        if alpha > 0 and np.isfinite(alpha):
            return PartitionSpec("dirichlet", alpha=alpha)
    if method == "column" and argument:
        return PartitionSpec("column", column=argument)
    raise InvalidInputError(
        f"--partition {text!r}: use iid, dirichlet:ALPHA (ALPHA > 0) or column:COL"
    )


def partition(
    labels: npt.ArrayLike,
    participants: int,
    spec: PartitionSpec,
    *,
    seed: int = 0,
    key: npt.ArrayLike | None = None,
    min_rows: int = 2,
) -> list[Index]:
    """Row indices of each participant (sorted; disjoint; together all rows).

    ``key`` is the column of a ``column:COL`` partition. Each participant gets at least
    ``min_rows`` rows (Dirichlet draws are repeated, up to 100 times, until they do).
    """
    y = np.asarray(labels)
    rows = y.shape[0]
    if participants < 1:
        raise InvalidInputError(f"a federation needs at least 1 participant, got {participants}")
    if rows < participants * min_rows:
        raise InvalidInputError(
            f"{rows} training rows cannot give {participants} participants {min_rows} rows each"
        )
    rng = np.random.default_rng(seed)
    if spec.method == "iid":
        return [np.sort(part) for part in np.array_split(rng.permutation(rows), participants)]
    if spec.method == "column":
        if key is None:
            raise InvalidInputError(f"--partition column:{spec.column} needs that column")
        order = np.argsort(np.asarray(key, dtype=np.float64), kind="stable")
        return [np.sort(part) for part in np.array_split(order, participants)]
    for _ in range(100):
        parts = _dirichlet(y, participants, spec.alpha, rng)
        if min(len(p) for p in parts) >= min_rows:
            return parts
    raise InvalidInputError(
        f"dirichlet:{spec.alpha:g} left a participant with fewer than {min_rows} rows in 100 "
        "draws; use a larger ALPHA or fewer participants"
    )


def _dirichlet(
    y: npt.NDArray[np.generic], participants: int, alpha: float, rng: np.random.Generator
) -> list[Index]:
    chunks: list[list[Index]] = [[] for _ in range(participants)]
    for value in np.unique(y):
        members = rng.permutation(np.flatnonzero(y == value))
        shares = rng.dirichlet(np.full(participants, alpha))
        cuts = (np.cumsum(shares)[:-1] * len(members)).astype(np.intp)
        for owner, part in enumerate(np.split(members, cuts)):
            chunks[owner].append(part)
    return [np.sort(np.concatenate(parts)).astype(np.intp) for parts in chunks]
