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
    Labels,
    Progress,
    Slice,
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
    class_weights = CLASS_WEIGHTS

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

    def _fit(self, x: FloatArray, y: Labels, val: Slice | None, progress: Progress | None) -> None:
        """Fit on (x, y); ``val`` is needed for ``class_weight="auto"``."""
        self.mean_, self.scale_ = standardization(x)
        z = (x - self.mean_) / self.scale_
        candidates = ["none", "balanced"] if self.class_weight == "auto" else [self.class_weight]
        if len(candidates) > 1 and val is None:
            raise InvalidInputError('class_weight="auto" needs a validation slice')
        fitted = []
        self._iterations: dict[str, int] = {}
        for done, weighting in enumerate(candidates):
            fitted.append((weighting, self._fit_one(z, y, weighting)))
            if progress:
                progress(done + 1, len(candidates))
        self.selection_: dict[str, float] = {}
        if val is not None:
            for weighting, (coef, intercept) in fitted:
                logits = native.linear_logit(self._params(coef, intercept), val[0])
                self.selection_[weighting] = average_precision(val[1], logits)
        weighting, (coef, intercept) = max(
            fitted, key=lambda item: self.selection_.get(item[0], 0.0)
        )
        self.class_weight_ = weighting
        self.n_iter_ = self._iterations[weighting]
        self.coef_, self.intercept_ = coef, intercept

    def _fit_one(self, z: FloatArray, y: Labels, weighting: str) -> tuple[FloatArray, float]:
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
        self._iterations[weighting] = int(model.n_iter_[0])
        return np.asarray(model.coef_[0], dtype=np.float64), float(model.intercept_[0])

    def _params(self, coef: FloatArray, intercept: float) -> dict[str, Any]:
        return native.linear_params(self.feature_names_, self.mean_, self.scale_, coef, intercept)

    def native_params(self) -> dict[str, Any]:
        """The native parameter document (``params.json``)."""
        return self._params(self.coef_, self.intercept_)

    def _logits(self, x: FloatArray) -> FloatArray:
        return native.linear_logit(self.native_params(), x)
