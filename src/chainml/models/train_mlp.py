"""A small multi-layer perceptron (one hidden ReLU layer) on standardized features.

Trained with scikit-learn's Adam one epoch at a time (``partial_fit``) with class weights, and
early-stopped on the validation PR-AUC: the weights of the best epoch are kept.
"""

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

CLASS_WEIGHTS = ("balanced", "sqrt", "none")


def positive_weight(y: Any, class_weight: str) -> float:
    """The weight of a positive example relative to a negative one."""
    positives = int(np.sum(y))
    ratio = (len(y) - positives) / max(positives, 1)
    return {"balanced": ratio, "sqrt": float(np.sqrt(ratio)), "none": 1.0}[class_weight]


class MLPModel(Estimator):
    """Standardization + ``hidden`` ReLU units + one logit output.

    ``class_weight``: ``"balanced"`` weighs positives by negatives/positives, ``"sqrt"`` by its
    square root, ``"none"`` not at all.
    """

    kind = "mlp"
    class_weights = CLASS_WEIGHTS

    def __init__(
        self,
        hidden: int = 16,
        alpha: float = 1e-4,
        learning_rate: float = 1e-3,
        batch_size: int = 256,
        max_epochs: int = 30,
        patience: int = 5,
        class_weight: str = "sqrt",
        seed: int = 0,
    ) -> None:
        self.hidden = hidden
        self.alpha = alpha
        self.learning_rate = learning_rate
        self.batch_size = batch_size
        self.max_epochs = max_epochs
        self.patience = patience
        self.seed = seed
        self.class_weight = class_weight

    def _fit(self, x: FloatArray, y: Labels, val: Slice | None, progress: Progress | None) -> None:
        """Train for up to ``max_epochs``; with a validation slice, keep the best epoch."""
        from sklearn.exceptions import ConvergenceWarning
        from sklearn.neural_network import MLPClassifier

        if self.hidden < 1 or self.max_epochs < 1:
            raise InvalidInputError("hidden and max_epochs must be positive")
        self.mean_, self.scale_ = standardization(x)
        z = (x - self.mean_) / self.scale_
        weight = positive_weight(y, self.class_weight)
        sample_weight = np.where(y == 1, weight, 1.0)
        net = MLPClassifier(
            hidden_layer_sizes=(self.hidden,),
            activation="relu",
            solver="adam",
            alpha=self.alpha,
            batch_size=self.batch_size,
            learning_rate_init=self.learning_rate,
            random_state=self.seed,
        )
        best: tuple[float, int, list[FloatArray], list[FloatArray]] | None = None
        self.history_: list[float] = []
        for epoch in range(self.max_epochs):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                net.partial_fit(z, y, classes=[0, 1], sample_weight=sample_weight)
            self.coefs_ = [np.array(w, dtype=np.float64) for w in net.coefs_]
            self.intercepts_ = [np.array(b, dtype=np.float64) for b in net.intercepts_]
            if progress:
                progress(epoch + 1, self.max_epochs)
            if val is None:
                continue
            score = average_precision(val[1], self._logits(val[0]))
            self.history_.append(score)
            if best is None or score > best[0]:
                best = (score, epoch + 1, self.coefs_, self.intercepts_)
            elif epoch + 1 - best[1] >= self.patience:
                break
        self.epochs_ = len(self.history_) or self.max_epochs
        if best is not None:
            _, self.best_epoch_, self.coefs_, self.intercepts_ = best
        else:
            self.best_epoch_ = self.max_epochs
        if progress:
            progress(self.max_epochs, self.max_epochs)

    def native_params(self) -> dict[str, Any]:
        """The native parameter document (``params.json``)."""
        activations = ["relu"] * (len(self.coefs_) - 1) + ["identity"]
        return native.mlp_params(
            self.feature_names_, self.mean_, self.scale_, self.coefs_, self.intercepts_,
            activations,
        )  # fmt: skip

    def _logits(self, x: FloatArray) -> FloatArray:
        return native.mlp_logit(self.native_params(), x)
