"""Metrics against hand-computed values and scikit-learn; thresholds; the fast bootstrap."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn.metrics import average_precision_score, roc_auc_score

from chainml.errors import InvalidInputError
from chainml.models import metrics

# 4 positives, 6 negatives; by descending score: P N P P N N P N N N
LABELS = np.array([1, 0, 1, 1, 0, 0, 1, 0, 0, 0])
SCORES = np.array([9.0, 8.0, 7.0, 6.0, 5.0, 4.0, 3.0, 2.0, 1.0, 0.0])


def test_average_precision_by_hand() -> None:
    # precision at each positive: 1/1, 2/3, 3/4, 4/7; each adds recall 1/4
    expected = (1 + 2 / 3 + 3 / 4 + 4 / 7) / 4
    assert metrics.average_precision(LABELS, SCORES) == pytest.approx(expected, abs=1e-15)


def test_roc_auc_by_hand() -> None:
    # pairs (positive above negative): 6 + 5 + 5 + 3 = 19 of 24
    assert metrics.roc_auc(LABELS, SCORES) == pytest.approx(19 / 24)


def test_operating_points_by_hand() -> None:
    # with 6 negatives, FPR <= 1/6 allows one false positive: the best is P N P P -> 3/4
    assert metrics.recall_at_fpr(LABELS, SCORES, 1 / 6) == 0.75
    assert metrics.recall_at_fpr(LABELS, SCORES, 0.1) == 0.25  # no false positive allowed
    # recall >= 0.75 first reached at P N P P: precision 3/4
    assert metrics.precision_at_recall(LABELS, SCORES, 0.75) == 0.75
    assert metrics.precision_at_recall(LABELS, SCORES, 1.0) == 4 / 7
    assert metrics.confusion(LABELS, SCORES, 6.0) == {"tp": 3, "fp": 1, "tn": 5, "fn": 1}


def test_agrees_with_scikit_learn_with_ties() -> None:
    rng = np.random.default_rng(3)
    labels = (rng.random(5000) < 0.03).astype(int)
    scores = np.round(rng.normal(size=5000) + 2 * labels, 1)  # many ties
    assert metrics.average_precision(labels, scores) == pytest.approx(
        average_precision_score(labels, scores), abs=1e-12
    )
    assert metrics.roc_auc(labels, scores) == pytest.approx(roc_auc_score(labels, scores))


def test_threshold_rules() -> None:
    # F1 by threshold: 9 -> 2/5, 7 -> 4/7, 6 -> 6/8, 3 -> 8/11: best at 6
    assert metrics.choose_threshold("f1", LABELS, SCORES) == 6.0
    assert metrics.choose_threshold("fpr:0.2", LABELS, SCORES) == 6.0  # one FP of 6 allowed
    assert metrics.choose_threshold("recall:0.5", LABELS, SCORES) == 7.0
    assert metrics.choose_threshold("probability:0.5", LABELS, SCORES) == 0.0
    assert metrics.choose_threshold("probability:0.9", LABELS, SCORES) == pytest.approx(math.log(9))
    nothing = metrics.choose_threshold("fpr:0.01", [0, 1, 0], [3.0, 2.0, 1.0])
    assert nothing > 3.0  # the top score is a negative: flag nothing


@pytest.mark.parametrize("rule", ["f2", "fpr", "fpr:0", "recall:1.5", "probability:x", "f1:3"])
def test_bad_rules_are_refused(rule: str) -> None:
    with pytest.raises(InvalidInputError, match="threshold rule"):
        metrics.choose_threshold(rule, LABELS, SCORES)


def test_bad_inputs_are_refused() -> None:
    with pytest.raises(InvalidInputError, match="both classes"):
        metrics.average_precision([0, 0], [1.0, 2.0])
    with pytest.raises(InvalidInputError, match="NaN"):
        metrics.average_precision([0, 1], [1.0, math.nan])
    with pytest.raises(InvalidInputError, match="labels for"):
        metrics.average_precision([0, 1, 1], [1.0, 2.0])


def test_bootstrap_matches_a_row_level_bootstrap() -> None:
    rng = np.random.default_rng(1)
    labels = (rng.random(3000) < 0.02).astype(int)
    scores = np.round(rng.normal(size=3000) + 2.5 * labels, 2)
    low, high = metrics.bootstrap_average_precision(labels, scores, resamples=2000, seed=5)
    assert low < metrics.average_precision(labels, scores) < high
    assert (low, high) == metrics.bootstrap_average_precision(
        labels, scores, resamples=2000, seed=5
    )
    slow = np.random.default_rng(9)
    values = [
        average_precision_score(
            labels, scores, sample_weight=np.bincount(slow.integers(0, 3000, 3000), minlength=3000)
        )
        for _ in range(400)
    ]
    reference = np.quantile(values, [0.025, 0.975])
    assert low == pytest.approx(reference[0], abs=0.03)
    assert high == pytest.approx(reference[1], abs=0.03)


def test_evaluate_reports_every_metric() -> None:
    report = metrics.evaluate(LABELS, SCORES, 6.0, resamples=100)
    assert report["rows"] == 10 and report["positives"] == 4
    assert report["at_threshold"]["confusion"] == {"tp": 3, "fp": 1, "tn": 5, "fn": 1}
    assert report["at_threshold"]["precision"] == 0.75
    assert report["at_threshold"]["f1"] == 0.75
    assert set(report["recall_at_fpr"]) == {"0.001", "0.01"}
    assert report["pr_auc_interval"]["resamples"] == 100


def test_the_roc_auc_interval_agrees_with_a_bootstrap() -> None:
    from chainml.models.metrics import roc_auc, roc_auc_interval

    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, 400)
    s = np.round(y * 0.7 + rng.normal(size=400), 1)  # ties too
    low, high = roc_auc_interval(y, s)
    draws = [roc_auc(y[i], s[i]) for i in rng.integers(0, 400, (1000, 400))]
    b_low, b_high = np.quantile(draws, [0.025, 0.975])
    assert low < roc_auc(y, s) < high
    assert abs(low - b_low) < 0.015 and abs(high - b_high) < 0.015
