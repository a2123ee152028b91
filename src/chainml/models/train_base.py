"""What every chainml estimator shares: the scikit-learn contract, logits, native files.

An estimator's ``__init__`` only stores its hyperparameters; ``fit`` sets the fitted state, whose
attribute names end in ``_``. Scores are logits (``decision_function``); ``params()`` is the
native parameter document (see :mod:`chainml.models.native`) from which the logits are computed.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt

from chainml.errors import InvalidInputError
from chainml.models import native
from chainml.models.dataset import FloatArray

#: A progress callback: ``progress(done, total)``.
Progress = Callable[[int, int], None]


class Estimator:
    """Base of the chainml estimators (scikit-learn's parameter protocol, without scikit-learn)."""

    kind: ClassVar[str]
    feature_names_: tuple[str, ...]

    @classmethod
    def _param_names(cls) -> list[str]:
        signature = inspect.signature(cls.__init__)
        return [name for name in signature.parameters if name != "self"]

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """The hyperparameters, as given to ``__init__``."""
        return {name: getattr(self, name) for name in self._param_names()}

    def set_params(self, **params: Any) -> Estimator:
        """Change hyperparameters (unknown names are an error)."""
        unknown = sorted(set(params) - set(self._param_names()))
        if unknown:
            raise InvalidInputError(
                f"{type(self).__name__} has no parameter(s) {', '.join(unknown)}; "
                f"known: {', '.join(self._param_names())}"
            )
        for name, value in params.items():
            setattr(self, name, value)
        return self

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({args})"

    def set_feature_names(self, names: tuple[str, ...]) -> None:
        """Name the features (called by the trainer before ``fit``)."""
        self.feature_names_ = tuple(names)

    def fit(
        self,
        x: FloatArray,
        y: Any,
        *,
        x_val: FloatArray | None = None,
        y_val: Any = None,
        progress: Progress | None = None,
    ) -> Estimator:
        """Fit on (x, y), tuning on the validation slice (x_val, y_val) where the kind does."""
        raise NotImplementedError

    def params(self) -> dict[str, Any]:
        """The native parameter document (``params.json``)."""
        raise NotImplementedError

    def native_files(self) -> dict[str, bytes]:
        """The native parameter file(s) by name; ``params.json`` always."""
        return {"params.json": native.dumps(self.params())}

    def decision_function(self, x: FloatArray) -> FloatArray:
        """Logits (raw scores)."""
        raise NotImplementedError

    def predict_proba(self, x: FloatArray) -> FloatArray:
        """Probabilities of class 0 and class 1, one row per example."""
        p = native.sigmoid(self.decision_function(x))
        return np.column_stack([1.0 - p, p])

    def predict(self, x: FloatArray, threshold: float = 0.0) -> npt.NDArray[np.int8]:
        """Flags (1 where the logit is at least ``threshold``)."""
        return (self.decision_function(x) >= threshold).astype(np.int8)


def feature_names(estimator: Estimator, width: int) -> tuple[str, ...]:
    """The feature names given to ``estimator``, or ``x0 .. x{width-1}``."""
    names = getattr(estimator, "feature_names_", None)
    if names is None or len(names) != width:
        return tuple(f"x{i}" for i in range(width))
    return tuple(names)


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
