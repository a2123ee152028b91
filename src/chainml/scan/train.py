"""Training the scan model: per category, a random forest on unit features, calibrated out of fold.

A unit is positive for a category when an annotated line of that category lies inside it.
Platt calibration and the decision threshold are fitted on grouped out-of-fold scores, so a
file and its near-duplicates never score themselves.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from chainml.scan.categories import CATEGORIES
from chainml.scan.corpus import CorpusFile
from chainml.scan.model import MODEL_FORMAT, ScanModel
from chainml.scan.units import FEATURES

MIN_POSITIVE_FILES = 5  # below this a category is not modelled (SmartBugs' short_addresses, other)
TARGET_PRECISION = 0.8
PRECISION_MARGIN = 0.02  # out-of-fold precision is optimistic for the threshold it picked


@dataclass
class Matrix:
    """Units of a corpus as arrays: features, unit labels, file index and group per unit."""

    x: NDArray[np.float64]
    y: NDArray[np.bool_]
    file: NDArray[np.int64]
    group: NDArray[np.str_]


def matrix(files: Sequence[CorpusFile], groups: Sequence[str]) -> Matrix:
    """Stack every unit of ``files`` (log1p features) with its labels and group."""
    rows, labels, owner, group = [], [], [], []
    for index, item in enumerate(files):
        for unit in item.units:
            rows.append([math.log1p(max(v, 0.0)) for v in unit.vector()])
            found = item.unit_labels(unit)
            labels.append([c in found for c in CATEGORIES])
            owner.append(index)
            group.append(groups[index])
    return Matrix(
        np.array(rows, dtype=float).reshape(-1, len(FEATURES)),
        np.array(labels, dtype=bool).reshape(-1, len(CATEGORIES)),
        np.array(owner, dtype=np.int64),
        np.array(group),
    )


def modelled(files: Sequence[CorpusFile]) -> list[str]:
    """The categories with enough annotated files to learn."""
    counts = {c: sum(c in f.categories for f in files) for c in CATEGORIES}
    return [c for c in CATEGORIES if counts[c] >= MIN_POSITIVE_FILES]


def fit(
    files: Sequence[CorpusFile],
    groups: Sequence[str],
    *,
    trees: int = 60,
    seed: int = 0,
    max_depth: int | None = None,
) -> bytes:
    """Train on ``files``; return the model file's bytes (JSON).

    Deterministic: the same files, groups and parameters give the same bytes.
    """
    m = matrix(files, groups)
    categories = modelled(files)
    oof = _out_of_fold(m, categories, trees, seed, max_depth)
    doc: dict[str, Any] = {"format": MODEL_FORMAT, "features": list(FEATURES), "categories": {}}
    calibrated = np.zeros(oof.shape)
    platts: dict[str, tuple[float, float]] = {}
    for k, name in enumerate(CATEGORIES):
        if name in categories:
            platts[name] = _platt(oof[:, k], m.y[:, k])
            a, b = platts[name]
            calibrated[:, k] = 1.0 / (1.0 + np.exp(-(a * oof[:, k] + b)))
    threshold = _threshold(calibrated, m, [CATEGORIES.index(c) for c in categories], len(files))
    for k, name in enumerate(CATEGORIES):
        if name not in categories:
            continue
        forest = _forest(m.x, m.y[:, k], trees, seed, max_depth)
        doc["categories"][name] = {
            "platt": [round(platts[name][0], 6), round(platts[name][1], 6)],
            "threshold": round(threshold, 6),
            "trees": [_export(e) for e in forest.estimators_],
        }
    doc["info"] = {
        "units": len(m.x),
        "files": len(files),
        "positive_units": {c: int(m.y[:, k].sum()) for k, c in enumerate(CATEGORIES)},
        "trees": trees,
    }
    return json.dumps(doc, separators=(",", ":"), sort_keys=True).encode()


def file_scores(model: ScanModel, files: Sequence[CorpusFile]) -> list[dict[str, float]]:
    """Per file, the highest calibrated score of each category over its units."""
    result = []
    for item in files:
        best: dict[str, float] = dict.fromkeys(model.categories, 0.0)
        for unit in item.units:
            for name, score in model.scores(unit.vector()).items():
                best[name] = max(best[name], score)
        result.append(best)
    return result


def _forest(
    x: NDArray[np.float64], y: NDArray[np.bool_], trees: int, seed: int, max_depth: int | None
) -> Any:
    from sklearn.ensemble import RandomForestClassifier

    forest = RandomForestClassifier(
        n_estimators=trees,
        min_samples_leaf=2,
        max_features=0.5,
        max_depth=max_depth,
        random_state=seed,
        n_jobs=2,
    )
    return forest.fit(x, y)


def _out_of_fold(
    m: Matrix, categories: list[str], trees: int, seed: int, max_depth: int | None
) -> NDArray[np.float64]:
    from sklearn.model_selection import StratifiedGroupKFold

    oof = np.zeros(m.y.shape)
    # stratified by the unit's first label (or none), so each category is in every fold
    strata = np.where(m.y.any(axis=1), m.y.argmax(axis=1), -1)
    for train, test in StratifiedGroupKFold(n_splits=4).split(m.x, strata, m.group):
        for k, name in enumerate(CATEGORIES):
            if name in categories and m.y[train, k].any():
                forest = _forest(m.x[train], m.y[train, k], trees, seed, max_depth)
                oof[test, k] = forest.predict_proba(m.x[test])[:, 1]
    return oof


def _platt(raw: NDArray[np.float64], y: NDArray[np.bool_]) -> tuple[float, float]:
    from sklearn.linear_model import LogisticRegression

    if y.all() or not y.any():
        return 1.0, 0.0
    lr = LogisticRegression(C=1e4, max_iter=1000).fit(raw.reshape(-1, 1), y)
    return float(lr.coef_[0][0]), float(lr.intercept_[0])


def _threshold(scores: NDArray[np.float64], m: Matrix, columns: list[int], n_files: int) -> float:
    """The lowest threshold shared by all categories (their scores are calibrated).

    Chosen so that out-of-fold file-level precision over all categories reaches the target
    plus a margin.
    """
    best = np.zeros((n_files, len(CATEGORIES)))
    truth = np.zeros((n_files, len(CATEGORIES)), dtype=bool)
    np.maximum.at(best, m.file, scores)
    np.logical_or.at(truth, m.file, m.y)
    best, truth = best[:, columns], truth[:, columns]
    for t in np.unique(np.round(best, 3)):
        if t < 0.1:
            continue
        flagged = best >= t
        if (truth & flagged).sum() >= (TARGET_PRECISION + PRECISION_MARGIN) * max(flagged.sum(), 1):
            return float(t)
    return 0.5


def _export(tree: Any) -> dict[str, list[float] | list[int]]:
    t = tree.tree_
    value = t.value[:, 0, :]
    total = value.sum(axis=1)
    positive = value[:, 1] if value.shape[1] > 1 else np.zeros(len(value))
    return {
        "f": [
            int(f) if left >= 0 else -1 for f, left in zip(t.feature, t.children_left, strict=True)
        ],
        "t": [round(float(v), 4) for v in t.threshold],
        "l": [int(v) for v in t.children_left],
        "r": [int(v) for v in t.children_right],
        "p": [round(float(p / s), 4) if s else 0.0 for p, s in zip(positive, total, strict=True)],
    }
