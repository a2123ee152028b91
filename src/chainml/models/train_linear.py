"""Logistic regression on standardized features, with the class weighting chosen on validation."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from chainml.errors import InvalidInputError
from chainml.models import native
from chainml.models.dataset import FloatArray
from chainml.models.metrics import average_precision
from chainml.models.train_base import (
    Estimator,
    Progress,
    check_class_weight,
    feature_names,
    standardization,
)

CLASS_WEIGHTS = ("auto", "balanced", "none")


class LogisticModel(Estimator):
    """Standardization + L2 logistic regression (scikit-learn, lbfgs).

    ``class_weight="auto"`` fits both the unweighted and the ``"balanced"`` model and keeps the
    one with the higher PR-AUC on the validation slice (the choice is recorded in
    ``class_weight_``); ``"balanced"`` or ``"none"`` fixes it.
    """

    kind = "logistic_regression"

    def __init__(
        self,
        C: float = 1.0,  # noqa: N803  (scikit-learn's name)
        class_weight: str = "auto",
        max_iter: int = 2000,
        seed: int = 0,
    ) -> None:
        self.C = C
        self.class_weight = class_weight
        self.max_iter = max_iter
        self.seed = seed

    def fit(
        self,
        x: FloatArray,
        y: Any,
        *,
        x_val: FloatArray | None = None,
        y_val: Any = None,
        progress: Progress | None = None,
    ) -> LogisticModel:
        """Fit on (x, y); ``x_val``/``y_val`` is needed for ``class_weight="auto"``."""
        check_class_weight(self.class_weight, CLASS_WEIGHTS)
        self.mean_, self.scale_ = standardization(x)
        z = (x - self.mean_) / self.scale_
        candidates = ["none", "balanced"] if self.class_weight == "auto" else [self.class_weight]
        if len(candidates) > 1 and x_val is None:
            raise InvalidInputError('class_weight="auto" needs a validation slice')
        fitted = []
        for done, weighting in enumerate(candidates):
            fitted.append((weighting, self._fit_one(z, y, weighting)))
            if progress:
                progress(done + 1, len(candidates))
        self.selection_: dict[str, float] = {}
        if x_val is not None and y_val is not None:
            for weighting, (coef, intercept) in fitted:
                logits = native.linear_logit(self._params(coef, intercept, x.shape[1]), x_val)
                self.selection_[weighting] = average_precision(y_val, logits)
        weighting, (coef, intercept) = max(
            fitted, key=lambda item: self.selection_.get(item[0], 0.0)
        )
        self.class_weight_ = weighting
        self.coef_, self.intercept_ = coef, intercept
        self.n_features_in_ = x.shape[1]
        return self

    def _fit_one(self, z: FloatArray, y: Any, weighting: str) -> tuple[FloatArray, float]:
        from sklearn.exceptions import ConvergenceWarning
        from sklearn.linear_model import LogisticRegression

        model = LogisticRegression(
            C=self.C,
            class_weight="balanced" if weighting == "balanced" else None,
            max_iter=self.max_iter,
            random_state=self.seed,
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            model.fit(z, y)
        return np.asarray(model.coef_[0], dtype=np.float64), float(model.intercept_[0])

    def _params(self, coef: FloatArray, intercept: float, width: int) -> dict[str, Any]:
        names = feature_names(self, width)
        return native.linear_params(names, self.mean_, self.scale_, coef, intercept)

    def params(self) -> dict[str, Any]:
        """The native parameter document (``params.json``)."""
        return self._params(self.coef_, self.intercept_, self.n_features_in_)

    def decision_function(self, x: FloatArray) -> FloatArray:
        """Logits, computed from the native parameters."""
        return native.linear_logit(self.params(), x)
