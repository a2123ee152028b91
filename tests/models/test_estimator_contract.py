"""The estimators keep scikit-learn's contract: check_estimator passes, skips listed with why."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.utils.estimator_checks import check_estimator

from chainml.errors import InvalidInputError
from chainml.models.train_base import Estimator
from chainml.models.train_lgbm import BoostedTreesModel
from chainml.models.train_linear import LogisticModel
from chainml.models.train_mlp import MLPModel

# class_weight is a named strategy ("auto", "balanced", "sqrt", "none"), chosen on the validation
# slice; scikit-learn's check gives a {class: weight} dict, which these models do not take.
CLASS_WEIGHT = {
    "check_class_weight_classifiers": "class_weight names a strategy, not a {class: weight} dict"
}

# Small-data hyperparameters: the checks fit 20-300 rows; the production defaults (early
# stopping on a validation slice, 100-row leaves, class_weight="auto") need a real data set.
# The contract is the same; only the numbers differ.
ESTIMATORS = [
    pytest.param(LogisticModel(class_weight="none"), CLASS_WEIGHT, id="logistic"),
    pytest.param(
        MLPModel(hidden=8, max_epochs=20, learning_rate=0.01, batch_size=32, class_weight="none"),
        CLASS_WEIGHT,
        id="mlp",
    ),
    pytest.param(
        BoostedTreesModel(
            n_estimators=20, learning_rate=0.3, min_child_samples=5, early_stopping_rounds=0
        ),
        {},
        id="lightgbm",
    ),
]


@pytest.mark.filterwarnings("ignore")
@pytest.mark.parametrize(("estimator", "expected_failed"), ESTIMATORS)
def test_check_estimator_passes(estimator: Estimator, expected_failed: dict[str, str]) -> None:
    results = check_estimator(estimator, expected_failed_checks=expected_failed, on_fail=None)
    failed = {r["check_name"]: str(r["exception"]) for r in results if r["status"] == "failed"}
    assert not failed
    ran = [r for r in results if r["status"] in ("passed", "xfail")]
    assert len(ran) > 40  # the checks really ran
    assert {r["check_name"] for r in results if r["status"] == "xfail"} == set(expected_failed)


def test_estimators_are_scikit_learn_classifiers() -> None:
    for kind in (LogisticModel, MLPModel, BoostedTreesModel):
        assert issubclass(kind, BaseEstimator) and issubclass(kind, ClassifierMixin)


def test_classes_are_the_labels_seen_and_predict_returns_them() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 3))
    y = np.where(x[:, 0] > 0, "fraud", "ok")
    model = LogisticModel(class_weight="none").fit(x, y)
    assert list(model.classes_) == ["fraud", "ok"]
    assert set(model.predict(x)) == {"fraud", "ok"}
    assert np.mean(model.predict(x) == y) > 0.9
    assert model.predict_proba(x).shape == (200, 2)


def test_three_classes_are_refused_with_our_error() -> None:
    x = np.arange(30, dtype=float).reshape(10, 3)
    with pytest.raises(InvalidInputError, match="Only binary classification"):
        LogisticModel(class_weight="none").fit(x, [0, 1, 2, 0, 1, 2, 0, 1, 2, 0])


def test_feature_names_name_the_native_document() -> None:
    rng = np.random.default_rng(1)
    x = rng.normal(size=(60, 2))
    y = (x[:, 1] > 0).astype(int)
    named = LogisticModel(class_weight="none").fit(x, y, feature_names=("amount", "hour"))
    assert named.native_params()["feature_names"] == ["amount", "hour"]
    assert LogisticModel(class_weight="none").fit(x, y).native_params()["feature_names"] == [
        "x0",
        "x1",
    ]


def test_get_params_honours_deep_and_clone_keeps_them() -> None:
    model = MLPModel(hidden=4, seed=9)
    assert model.get_params(deep=False) == model.get_params(deep=True)
    assert model.get_params(deep=False)["hidden"] == 4
    assert clone(model).get_params() == model.get_params()


def test_one_name_for_the_hyperparameters() -> None:
    # get_params() is scikit-learn's; the native document is native_params(), not params()
    for kind in (LogisticModel, MLPModel, BoostedTreesModel):
        assert not hasattr(kind(), "params")
        assert callable(kind.native_params)
