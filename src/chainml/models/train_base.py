"""What every chainml estimator shares: scikit-learn's estimator contract, logits, native files.

The estimators are scikit-learn binary classifiers (``BaseEstimator`` + ``ClassifierMixin``):
``__init__`` only stores the hyperparameters, ``fit`` sets the fitted state (names ending in
``_``: ``classes_``, ``n_features_in_``, ``feature_names_``), ``get_params(deep=...)`` and
``set_params`` come from scikit-learn, and ``sklearn.utils.estimator_checks.check_estimator``
passes (``tests/models/test_estimator_contract.py`` lists the few checks that do not apply).
Scores are logits (``decision_function``) of class ``classes_[1]``; ``native_params()`` is the
native parameter document (see :mod:`chainml.models.native`) from which the logits are computed.
This module imports scikit-learn: it is part of the ``ml`` extra.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, ClassVar, Self

import numpy as np
import numpy.typing as npt
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from chainml.errors import InvalidInputError
from chainml.models import native
from chainml.models.dataset import FloatArray

#: A progress callback: ``progress(done, total)``.
Progress = Callable[[int, int], None]
#: Labels encoded as 0 (``classes_[0]``) and 1 (``classes_[1]``).
Labels = npt.NDArray[np.int64]
#: A validation slice: features and encoded labels.
Slice = tuple[FloatArray, Labels]


class Estimator(ClassifierMixin, BaseEstimator):  # type: ignore[misc]  # sklearn is untyped
    """Base of the chainml estimators: a binary scikit-learn classifier scored by logits.

    Subclasses implement ``_fit(x, y, val, progress)`` (float64 features, 0/1 labels where 1 is
    ``classes_[1]``, an optional validation slice), ``_logits(x)`` and ``native_params()``.
    """

    kind: ClassVar[str]
    #: The values ``class_weight`` may take, for the kinds that have one (checked by ``fit``).
    class_weights: ClassVar[tuple[str, ...]] = ()

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_class = False
        return tags

    def fit(
        self,
        X: npt.ArrayLike,  # noqa: N803  (scikit-learn's name)
        y: npt.ArrayLike,
        *,
        x_val: npt.ArrayLike | None = None,
        y_val: npt.ArrayLike | None = None,
        feature_names: Sequence[str] | None = None,
        progress: Progress | None = None,
    ) -> Self:
        """Fit on (X, y), tuning on the validation slice (x_val, y_val) where the kind does.

        ``feature_names`` name the columns in the native document (default: a DataFrame's
        columns, else ``x0 .. x{n-1}``).
        """
        if self.class_weights:
            check_class_weight(self.class_weight, self.class_weights)
        x, raw = _checked(lambda: validate_data(self, X, y, dtype=np.float64))
        _checked(lambda: check_classification_targets(raw))
        self.classes_, labels = np.unique(raw, return_inverse=True)
        if len(self.classes_) != 2:
            raise InvalidInputError(
                "Only binary classification is supported. "
                f"The estimator needs exactly 2 classes, got {len(self.classes_)} class(es)"
            )
        names = feature_names or getattr(self, "feature_names_in_", None)
        if names is not None and len(names) != x.shape[1]:
            raise InvalidInputError(f"{len(names)} feature names for {x.shape[1]} features")
        self.feature_names_ = (
            tuple(str(n) for n in names) if names is not None
            else tuple(f"x{i}" for i in range(x.shape[1]))
        )  # fmt: skip
        validation: Slice | None = None
        if x_val is not None and y_val is not None:
            validation = (self._features(x_val), self._encode(y_val))
        self._fit(x, labels.astype(np.int64), validation, progress)
        return self

    def _fit(self, x: FloatArray, y: Labels, val: Slice | None, progress: Progress | None) -> None:
        raise NotImplementedError

    def _logits(self, x: FloatArray) -> FloatArray:
        raise NotImplementedError

    def native_params(self) -> dict[str, Any]:
        """The native parameter document (``params.json``)."""
        raise NotImplementedError

    def native_files(self) -> dict[str, bytes]:
        """The native parameter file(s) by name; ``params.json`` always."""
        return {"params.json": native.dumps(self.native_params())}

    def _features(self, x: npt.ArrayLike) -> FloatArray:
        checked: FloatArray = _checked(
            lambda: validate_data(self, x, reset=False, dtype=np.float64)
        )
        return checked

    def _encode(self, y: npt.ArrayLike) -> Labels:
        raw = np.asarray(y)
        known = np.isin(raw, self.classes_)
        if not known.all():
            raise InvalidInputError(f"labels {sorted(set(raw[~known].tolist()))} were not fitted")
        return np.searchsorted(self.classes_, raw).astype(np.int64)

    def decision_function(self, X: npt.ArrayLike) -> FloatArray:  # noqa: N803
        """Logits (raw scores) of class ``classes_[1]``."""
        check_is_fitted(self)
        return self._logits(self._features(X))

    def predict_proba(self, X: npt.ArrayLike) -> FloatArray:  # noqa: N803
        """Probabilities of ``classes_[0]`` and ``classes_[1]``, one row per example."""
        p = native.sigmoid(self.decision_function(X))
        return np.column_stack([1.0 - p, p])

    def predict(self, X: npt.ArrayLike, threshold: float = 0.0) -> npt.NDArray[Any]:  # noqa: N803
        """Labels: ``classes_[1]`` where the logit is at least ``threshold``."""
        flags = (self.decision_function(X) >= threshold).astype(np.int64)
        return np.asarray(self.classes_[flags])


def _checked(check: Callable[[], Any]) -> Any:
    """Run one of scikit-learn's input checks, raising its ``ValueError`` as ours."""
    try:
        return check()
    except ValueError as err:
        raise InvalidInputError(str(err)) from err


def check_class_weight(value: str, allowed: tuple[str, ...]) -> None:
    """Reject a ``class_weight`` that is not one of ``allowed``."""
    if value not in allowed:
        raise InvalidInputError(f"class_weight must be one of {', '.join(allowed)}, got {value!r}")


def standardization(x: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Mean and standard deviation per column (a constant column gets scale 1)."""
    mean = np.asarray(x.mean(axis=0), dtype=np.float64)
    scale = np.asarray(x.std(axis=0), dtype=np.float64)
    scale[scale == 0.0] = 1.0
    return mean, scale
