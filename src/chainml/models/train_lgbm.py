"""Gradient-boosted trees (LightGBM): slow-learning and regularized, early-stopped on validation.

LightGBM's defaults overfit this kind of data (on the ULB time split they reach a PR-AUC of about
0.36); a small learning rate, shallow trees, large leaves and column subsampling generalize.
``PRESETS["compact"]`` is a small ensemble (50 trees of depth 4) meant for on-chain execution;
``PRESETS["defaults"]`` is LightGBM's own defaults, kept as the baseline.
"""

from __future__ import annotations

import re
from typing import Any

from chainml.errors import InvalidInputError
from chainml.models import native
from chainml.models.dataset import FloatArray
from chainml.models.train_base import Estimator, Labels, Progress, Slice

PRESETS: dict[str, dict[str, Any]] = {
    "quality": {"n_estimators": 1000, "learning_rate": 0.02, "early_stopping_rounds": 200},
    "compact": {"n_estimators": 50, "learning_rate": 0.1, "early_stopping_rounds": 0},
    # LightGBM's own defaults, the baseline that collapses on this kind of data
    "defaults": {
        "n_estimators": 100, "learning_rate": 0.1, "max_depth": -1, "num_leaves": 31,
        "min_child_samples": 20, "colsample_bytree": 1.0, "subsample": 1.0, "reg_lambda": 0.0,
        "early_stopping_rounds": 0,
    },
}  # fmt: skip


class BoostedTreesModel(Estimator):
    """A LightGBM binary classifier; the logit is the booster's raw score.

    With a validation slice and ``early_stopping_rounds > 0`` training stops when the validation
    average precision has not improved for that many trees, and the model keeps the best prefix.
    ``num_threads`` is fixed and ``deterministic=True``, so a seed gives the same trees.
    """

    kind = "lightgbm"

    def __init__(
        self,
        n_estimators: int = 1000,
        learning_rate: float = 0.02,
        max_depth: int = 4,
        num_leaves: int = 15,
        min_child_samples: int = 100,
        colsample_bytree: float = 0.5,
        subsample: float = 0.8,
        reg_lambda: float = 1.0,
        scale_pos_weight: float = 1.0,
        early_stopping_rounds: int = 200,
        num_threads: int = 1,
        seed: int = 0,
    ) -> None:
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.max_depth = max_depth
        self.num_leaves = num_leaves
        self.min_child_samples = min_child_samples
        self.colsample_bytree = colsample_bytree
        self.subsample = subsample
        self.reg_lambda = reg_lambda
        self.scale_pos_weight = scale_pos_weight
        self.early_stopping_rounds = early_stopping_rounds
        self.num_threads = num_threads
        self.seed = seed

    def _lgb_params(self) -> dict[str, Any]:
        if self.n_estimators < 1 or self.max_depth == 0 or self.num_leaves < 2:
            raise InvalidInputError(
                "n_estimators must be positive, max_depth positive (or -1: no limit) and "
                "num_leaves at least 2"
            )
        leaves = min(self.num_leaves, 2**self.max_depth) if self.max_depth > 0 else self.num_leaves
        return {
            "objective": "binary",
            "metric": "average_precision",
            "learning_rate": self.learning_rate,
            "max_depth": self.max_depth,
            "num_leaves": leaves,
            "min_child_samples": self.min_child_samples,
            "colsample_bytree": self.colsample_bytree,
            "subsample": self.subsample,
            "subsample_freq": 1 if self.subsample < 1.0 else 0,
            "reg_lambda": self.reg_lambda,
            "scale_pos_weight": self.scale_pos_weight,
            "num_threads": self.num_threads,
            "seed": self.seed,
            "deterministic": True,
            "force_col_wise": True,
            "verbosity": -1,
        }

    def _fit(self, x: FloatArray, y: Labels, val: Slice | None, progress: Progress | None) -> None:
        """Grow up to ``n_estimators`` trees; early-stop on ``val`` if given."""
        import lightgbm

        names = [re.sub(r"[^0-9A-Za-z_]", "_", n) for n in self.feature_names_]
        train = lightgbm.Dataset(x, y, feature_name=names, free_raw_data=True)
        callbacks: list[Any] = []
        valid: list[Any] = []
        if val is not None:
            valid = [lightgbm.Dataset(*val, reference=train)]
            if self.early_stopping_rounds > 0:
                callbacks.append(lightgbm.early_stopping(self.early_stopping_rounds, verbose=False))
        if progress is not None:
            total = self.n_estimators

            def report(env: Any) -> None:
                progress(env.iteration + 1, total)

            callbacks.append(report)
        booster = lightgbm.train(
            self._lgb_params(), train, self.n_estimators, valid_sets=valid, callbacks=callbacks
        )
        best = booster.best_iteration if booster.best_iteration > 0 else booster.num_trees()
        self.best_iteration_ = int(best)
        self.booster_text_ = str(booster.model_to_string(num_iteration=best))
        self.booster_ = native.lightgbm_booster(self.booster_text_)

    def native_params(self) -> dict[str, Any]:
        """The native parameter document; it pins ``booster.txt`` by its SHA-256."""
        return native.lightgbm_params(
            self.feature_names_, self.booster_text_, self.booster_.num_trees()
        )

    def native_files(self) -> dict[str, bytes]:
        """``booster.txt`` (LightGBM's text format) and ``params.json``."""
        return {native.BOOSTER_FILE: self.booster_text_.encode(), **super().native_files()}

    def _logits(self, x: FloatArray) -> FloatArray:
        # raw scores of the booster parsed back from booster.txt
        return native.lightgbm_logit(self.booster_, x)
