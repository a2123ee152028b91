"""Evaluating a scoring model: ranking metrics, operating points, thresholds, bootstrap intervals.

Scores are logits (or LightGBM raw scores); a row is flagged when ``score >= threshold``. Every
function takes labels (0/1) and scores of the same rows. The curves are built once from the rows
sorted by descending score, grouping tied scores (a threshold cannot split a tie), so the average
precision here equals scikit-learn's ``average_precision_score`` and the bootstrap can reuse the
sort for each resample.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from chainml.errors import InvalidInputError

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

#: The operating points reported for every model.
FPR_POINTS = (0.001, 0.01)
RECALL_POINTS = (0.8,)
THRESHOLD_RULES = "f1 | fpr:RATE | recall:RATE | probability:P"


@dataclass(frozen=True)
class _Curve:
    """Cumulative (weighted) true and false positives at each distinct score, high to low."""

    thresholds: FloatArray  # the distinct scores, descending
    tps: FloatArray
    fps: FloatArray

    @property
    def positives(self) -> float:
        return float(self.tps[-1])

    @property
    def negatives(self) -> float:
        return float(self.fps[-1])


def _check(labels: npt.ArrayLike, scores: npt.ArrayLike) -> tuple[IntArray, FloatArray]:
    y = np.asarray(labels).astype(np.int64).ravel()
    s = np.asarray(scores, dtype=np.float64).ravel()
    if y.shape != s.shape or y.size == 0:
        raise InvalidInputError(f"{y.size} labels for {s.size} scores")
    if not np.isfinite(s).all():
        raise InvalidInputError("scores contain NaN or infinity")
    if np.unique(y).size != 2:
        raise InvalidInputError("evaluation needs both classes among the labels")
    return y, s


def _sorted(y: IntArray, s: FloatArray) -> tuple[IntArray, IntArray]:
    """The descending-score order and the index of the last row of each tie group."""
    order = np.argsort(-s, kind="stable")
    ordered = s[order]
    ends = np.flatnonzero(np.diff(ordered) != 0)
    return order, np.append(ends, s.size - 1)


def _curve(y: IntArray, s: FloatArray) -> _Curve:
    order, ends = _sorted(y, s)
    tps = np.cumsum(y[order])[ends].astype(np.float64)
    fps = (ends + 1 - tps).astype(np.float64)
    return _Curve(s[order][ends], tps, fps)


def _ap(tps: FloatArray, fps: FloatArray) -> FloatArray:
    """Average precision along the last axis: sum over thresholds of d(recall) * precision."""
    total = tps[..., -1:]
    flagged = tps + fps
    precision = np.divide(tps, flagged, out=np.zeros_like(tps), where=flagged > 0)
    gained = np.diff(tps, axis=-1, prepend=0.0)
    return np.asarray((gained * precision).sum(axis=-1) / total[..., 0], dtype=np.float64)


def average_precision(labels: npt.ArrayLike, scores: npt.ArrayLike) -> float:
    """PR-AUC as average precision (scikit-learn's definition, no interpolation)."""
    curve = _curve(*_check(labels, scores))
    return float(_ap(curve.tps, curve.fps))


def roc_auc(labels: npt.ArrayLike, scores: npt.ArrayLike) -> float:
    """Area under the ROC curve (ties count one half)."""
    y, s = _check(labels, scores)
    from scipy.stats import rankdata

    ranks = rankdata(s)
    positives = int(y.sum())
    negatives = y.size - positives
    return float((ranks[y == 1].sum() - positives * (positives + 1) / 2) / (positives * negatives))


def roc_auc_interval(
    labels: npt.ArrayLike, scores: npt.ArrayLike, level: float = 0.95
) -> tuple[float, float]:
    """DeLong's interval for the ROC-AUC (normal approximation, clipped to [0, 1]).

    DeLong, DeLong and Clarke-Pearson (1988): the AUC's variance from the placement values of
    each positive (share of negatives it outranks) and each negative; O(n log n) with midranks,
    so it costs the same on 57,000 test rows as the AUC itself (a bootstrap would cost 1,000x).
    """
    y, s = _check(labels, scores)
    from scipy.stats import norm, rankdata

    positives, negatives = s[y == 1], s[y == 0]
    p, n = positives.size, negatives.size
    overall = rankdata(s)
    placement_pos = (overall[y == 1] - rankdata(positives)) / n  # negatives below each positive
    placement_neg = 1.0 - (overall[y == 0] - rankdata(negatives)) / p
    auc = float(placement_pos.mean())
    variance = (placement_pos.var(ddof=1) if p > 1 else 0.0) / p + (
        placement_neg.var(ddof=1) if n > 1 else 0.0
    ) / n
    half = float(norm.ppf((1 + level) / 2)) * float(np.sqrt(variance))
    return max(0.0, auc - half), min(1.0, auc + half)


def recall_at_fpr(labels: npt.ArrayLike, scores: npt.ArrayLike, fpr: float) -> float:
    """The highest recall of any threshold whose false-positive rate is at most ``fpr``."""
    curve = _curve(*_check(labels, scores))
    allowed = curve.fps <= fpr * curve.negatives
    return float(curve.tps[allowed].max() / curve.positives) if allowed.any() else 0.0


def precision_at_recall(labels: npt.ArrayLike, scores: npt.ArrayLike, recall: float) -> float:
    """The highest precision of any threshold whose recall is at least ``recall``."""
    curve = _curve(*_check(labels, scores))
    reached = curve.tps >= recall * curve.positives
    precision = curve.tps[reached] / (curve.tps[reached] + curve.fps[reached])
    return float(precision.max())


def confusion(labels: npt.ArrayLike, scores: npt.ArrayLike, threshold: float) -> dict[str, int]:
    """True/false positives/negatives when rows with ``score >= threshold`` are flagged."""
    y, s = _check(labels, scores)
    flagged = s >= threshold
    tp = int((flagged & (y == 1)).sum())
    fp = int((flagged & (y == 0)).sum())
    return {"tp": tp, "fp": fp, "tn": int((y == 0).sum()) - fp, "fn": int(y.sum()) - tp}


def confusion_of(labels: npt.ArrayLike, flagged: npt.ArrayLike) -> dict[str, int]:
    """True/false positives/negatives of given decisions (one bool per row)."""
    y = np.asarray(labels)
    f = np.asarray(flagged, dtype=bool)
    if f.shape != y.shape:
        raise InvalidInputError(f"{f.size} decisions for {y.size} labels")
    tp = int((f & (y == 1)).sum())
    fp = int((f & (y == 0)).sum())
    return {"tp": tp, "fp": fp, "tn": int((y == 0).sum()) - fp, "fn": int((y == 1).sum()) - tp}


def parse_rule(rule: str) -> tuple[str, float | None]:
    """Validate a threshold rule (``f1``, ``fpr:0.01``, ``recall:0.8``, ``probability:0.5``)."""
    name, _, value = rule.partition(":")
    if name == "f1" and not value:
        return name, None
    if name in ("fpr", "recall", "probability"):
        try:
            number = float(value)
        except ValueError:
            number = math.nan
        if 0.0 < number < 1.0:
            return name, number
    raise InvalidInputError(
        f"threshold rule {rule!r} is not one of {THRESHOLD_RULES} (0 < RATE < 1)"
    )


def choose_threshold(rule: str, labels: npt.ArrayLike, scores: npt.ArrayLike) -> float:
    """The score threshold (logit) that ``rule`` selects on these (validation) rows.

    ``f1``: the threshold with the best F1 (the highest one on ties); ``fpr:R``: the lowest
    threshold whose false-positive rate is at most R; ``recall:R``: the highest threshold whose
    recall is at least R; ``probability:P``: the logit of P, whatever the data.
    """
    name, value = parse_rule(rule)
    if name == "probability":
        assert value is not None
        return math.log(value / (1.0 - value))
    curve = _curve(*_check(labels, scores))
    if name == "f1":
        f1 = 2 * curve.tps / (curve.tps + curve.fps + curve.positives)
        return float(curve.thresholds[int(np.argmax(f1))])
    assert value is not None
    if name == "fpr":
        allowed = np.flatnonzero(curve.fps <= value * curve.negatives)
        if allowed.size == 0:  # even the top score is too many false positives: flag nothing
            return float(np.nextafter(curve.thresholds[0], np.inf))
        return float(curve.thresholds[allowed[-1]])
    return float(curve.thresholds[int(np.argmax(curve.tps >= value * curve.positives))])


def bootstrap_average_precision(
    labels: npt.ArrayLike,
    scores: npt.ArrayLike,
    *,
    resamples: int = 1000,
    seed: int = 0,
    level: float = 0.95,
) -> tuple[float, float]:
    """A percentile bootstrap interval for the average precision (rows resampled with replacement).

    The average precision of a resample depends only on how many copies it draws of the
    positives of each tied-score group holding positives and of the negatives ranked up to that
    group (since the previous one). Drawing n rows with replacement and counting them by these
    cells is one multinomial draw over the cells, so a resample costs O(positives), not O(rows),
    and follows exactly the distribution of the row-level bootstrap.
    """
    y, s = _check(labels, scores)
    if resamples < 1:
        raise InvalidInputError(f"resamples must be positive, got {resamples}")
    curve = _curve(y, s)
    with_positives = np.flatnonzero(np.diff(curve.tps, prepend=0.0) > 0)
    positives = np.diff(curve.tps[with_positives], prepend=0.0)
    negatives = np.diff(curve.fps[with_positives], prepend=0.0)
    cells = np.column_stack([negatives, positives]).ravel()  # neg_1, pos_1, neg_2, pos_2, ...
    cells = np.append(cells, y.size - cells.sum())  # the rows ranked below the last positive
    draws = np.random.default_rng(seed).multinomial(y.size, cells / y.size, size=resamples)
    counts = draws[:, :-1].reshape(resamples, -1, 2).astype(np.float64)
    tps = np.cumsum(counts[:, :, 1], axis=1)
    fps = np.cumsum(counts[:, :, 0], axis=1)
    drawn = tps[:, -1] > 0  # a resample without positives has no AP; (almost) never happens
    values = _ap(tps[drawn], fps[drawn])
    low, high = np.quantile(values, [(1 - level) / 2, (1 + level) / 2])
    return float(low), float(high)


def evaluate(
    labels: npt.ArrayLike,
    scores: npt.ArrayLike,
    threshold: float,
    *,
    resamples: int = 1000,
    seed: int = 0,
    flagged: npt.ArrayLike | None = None,
) -> dict[str, Any]:
    """Every reported metric of one split, as a JSON-ready dict.

    ``flagged`` (one bool per row), when given, is the decision of record at the threshold
    (the integer model's) and the ``at_threshold`` numbers count it instead of
    ``score >= threshold``; the ranking metrics always come from ``scores``.
    """
    y, s = _check(labels, scores)
    low, high = bootstrap_average_precision(y, s, resamples=resamples, seed=seed)
    cells = confusion(y, s, threshold) if flagged is None else confusion_of(y, flagged)
    raised = cells["tp"] + cells["fp"]
    precision = cells["tp"] / raised if raised else 0.0
    recall = cells["tp"] / (cells["tp"] + cells["fn"])
    return {
        "rows": int(y.size),
        "positives": int(y.sum()),
        "pr_auc": average_precision(y, s),
        "pr_auc_interval": {"low": low, "high": high, "level": 0.95, "resamples": resamples},
        "roc_auc": roc_auc(y, s),
        "roc_auc_interval": dict(
            zip(("low", "high"), roc_auc_interval(y, s), strict=True), level=0.95, method="DeLong"
        ),
        "recall_at_fpr": {str(f): recall_at_fpr(y, s, f) for f in FPR_POINTS},
        "precision_at_recall": {str(r): precision_at_recall(y, s, r) for r in RECALL_POINTS},
        "at_threshold": {
            "confusion": cells,
            "precision": precision,
            "recall": recall,
            "f1": 2 * precision * recall / (precision + recall) if precision + recall else 0.0,
            "fpr": cells["fp"] / (cells["fp"] + cells["tn"]),
        },
    }
