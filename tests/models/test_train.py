"""Training: the scikit-learn contract, determinism, class-imbalance choices, the recipe."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn.base import clone

from chainml.errors import InvalidInputError
from chainml.models import metrics
from chainml.models.dataset import Dataset
from chainml.models.split import TimeSplit, time_split
from chainml.models.train import KINDS, integer_decisions, make_estimator, train_model
from chainml.models.train_lgbm import PRESETS
from tests.models.synthetic import synthetic_dataset

FAST = {
    "lr": {},
    "mlp": {"max_epochs": 40, "learning_rate": 0.01},
    "lgbm": {"n_estimators": 40, "preset": "compact"},
}


@pytest.fixture(scope="module")
def data() -> tuple[Dataset, TimeSplit]:
    dataset = synthetic_dataset()
    return dataset, time_split(dataset)


@pytest.mark.parametrize("kind", list(KINDS))
def test_init_only_stores_parameters(kind: str) -> None:
    estimator = make_estimator(kind, seed=3)
    assert estimator.get_params()["seed"] == 3
    assert not [name for name in vars(estimator) if name.endswith("_")]
    copy = clone(estimator)
    assert copy.get_params() == estimator.get_params() and copy is not estimator
    with pytest.raises(ValueError, match="Invalid parameter"):  # scikit-learn's own check
        estimator.set_params(bogus=1)
    with pytest.raises(InvalidInputError, match="no parameter"):
        make_estimator(kind, bogus=1)


@pytest.mark.parametrize("kind", list(KINDS))
def test_same_seed_same_model_and_logits_from_the_native_file(kind: str, data) -> None:
    dataset, split = data
    first, second = (
        train_model(dataset, kind, seed=5, params=dict(FAST[kind]), resamples=50, split=split)
        for _ in range(2)
    )
    assert first.estimator.native_files() == second.estimator.native_files()
    assert first.threshold == second.threshold
    assert first.metrics["pr_auc"] == second.metrics["pr_auc"] > 0.3
    fitted = [n for n in vars(first.estimator) if n.endswith("_")]
    assert fitted, "fitted state ends in _"


def _by_hand(params: dict, x: np.ndarray) -> np.ndarray:
    z = (x - np.array(params["mean"])) / np.array(params["scale"])
    if params["kind"] == "logistic_regression":
        return z @ np.array(params["coef"]) + params["intercept"]
    for layer, act in zip(params["layers"], params["activations"], strict=True):
        z = z @ np.array(layer["weights"]) + np.array(layer["bias"])
        z = np.maximum(z, 0) if act == "relu" else z
    return z[:, 0]


@pytest.mark.parametrize("kind", ["lr", "mlp"])
def test_params_json_recomputes_the_logit_exactly(kind: str, data) -> None:
    dataset, split = data
    estimator = train_model(
        dataset, kind, params=dict(FAST[kind]), resamples=20, split=split
    ).estimator
    params = json.loads(estimator.native_files()["params.json"])
    assert params["feature_names"] == list(dataset.feature_names)
    assert np.array_equal(
        _by_hand(params, split.test.features), estimator.decision_function(split.test.features)
    )
    if kind == "mlp":
        shapes = [np.array(layer["weights"]).shape for layer in params["layers"]]
        assert shapes == [(6, 16), (16, 1)]
        assert params["activations"] == ["relu", "identity"]


def test_logistic_class_weight_is_chosen_on_validation(data) -> None:
    dataset, split = data
    estimator = train_model(dataset, "lr", resamples=20, split=split).estimator
    selection = estimator.selection_
    assert set(selection) == {"none", "balanced"}
    assert estimator.class_weight_ == max(selection, key=selection.get)
    fixed = make_estimator("lr", class_weight="balanced").fit(split.fit.features, split.fit.labels)
    assert fixed.class_weight_ == "balanced"
    with pytest.raises(InvalidInputError, match="validation"):
        make_estimator("lr").fit(split.fit.features, split.fit.labels)


def test_lightgbm_early_stops_and_keeps_the_best_prefix(data) -> None:
    dataset, split = data
    params = {"n_estimators": 300, "learning_rate": 0.3, "early_stopping_rounds": 10}
    estimator = train_model(dataset, "lgbm", params=params, resamples=20, split=split).estimator
    best = estimator.best_iteration_
    assert 1 <= best < 300
    assert estimator.booster_.num_trees() == best
    assert json.loads(estimator.native_files()["params.json"])["num_trees"] == best
    assert "compact" in PRESETS and PRESETS["compact"]["n_estimators"] == 50


def test_the_recipe_picks_the_threshold_on_validation_and_measures(data) -> None:
    dataset, split = data
    steps: list[str] = []

    def reporter(description: str):
        steps.append(description)
        return lambda done, total: None

    trained = train_model(
        dataset, "lr", threshold_rule="fpr:0.01", resamples=30, split=split, steps=reporter
    )
    validation = trained.estimator.decision_function(split.validation.features)
    float_cut = metrics.choose_threshold("fpr:0.01", split.validation.labels, validation)
    policy = trained.policy
    assert policy is not None and policy.proven
    flagged = integer_decisions(policy, split.validation.features)
    assert flagged == (validation >= float_cut).tolist()  # the same validation rows flagged
    # ... by a threshold between two validation scores, farther than twice the proven error
    assert policy.below is not None and policy.above is not None
    assert policy.below < policy.threshold <= policy.above
    assert policy.margin >= 2 * policy.error_bound + 1
    assert trained.threshold == policy.threshold / policy.score_scale
    # the card's numbers at the threshold count the integer decisions of record
    decisions = integer_decisions(policy, split.test.features)
    assert trained.metrics["at_threshold"]["confusion"] == metrics.confusion_of(
        split.test.labels, decisions
    )
    assert trained.metrics["rows"] == split.test.rows
    assert trained.validation_metrics["rows"] == split.validation.rows
    assert trained.training.seconds > 0 and trained.training.peak_rss_bytes > 2**20
    assert 0 < trained.threshold_probability < 1
    assert steps == ["training logistic_regression", "bootstrap interval"]


def test_bad_requests_are_refused(data) -> None:
    dataset, _ = data
    with pytest.raises(InvalidInputError, match="unknown model kind"):
        train_model(dataset, "svm")
    with pytest.raises(InvalidInputError, match="threshold rule"):
        train_model(dataset, "lr", threshold_rule="best")
    with pytest.raises(InvalidInputError, match="unknown preset"):
        make_estimator("lgbm", preset="huge")
    with pytest.raises(InvalidInputError, match="class_weight"):
        train_model(dataset, "mlp", params={"class_weight": "heavy"})
