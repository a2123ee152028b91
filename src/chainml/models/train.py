"""Training a model: split, fit, early-stop, pick the threshold, measure, evaluate.

``train_model(dataset, "lgbm")`` is the whole recipe: split (:mod:`chainml.models.split`; by
time when the data has a time column, else stratified),
fit on the earliest part while tuning on the validation slice, choose the decision threshold on
the validation slice by a recorded rule, and evaluate once on the test split, which nothing
before has seen. Training time and peak memory are measured around ``fit``.

The threshold is an integer one: the rule picks a cut between two validation scores of the
model's integer twin (:mod:`chainml.inference.policy`), the decision of record everywhere, and
the metrics at the threshold count the integer model's decisions.
"""

from __future__ import annotations

import resource
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from chainml.errors import InvalidInputError
from chainml.inference.batch import score_rows
from chainml.inference.policy import DecisionPolicy, decision_policy, encode, input_specs
from chainml.models import metrics
from chainml.models.dataset import Dataset, FloatArray
from chainml.models.native import sigmoid
from chainml.models.split import TimeSplit, make_split

if TYPE_CHECKING:  # the estimators import scikit-learn (the ml extra): only when training
    from chainml.models.train_base import Estimator, Progress

#: CLI names of the model kinds and the ``kind`` they record.
KINDS = {"lr": "logistic_regression", "lgbm": "lightgbm", "mlp": "mlp"}
DEFAULT_RULE = "f1"

#: Called with a step description; returns the progress callback of that step.
StepReporter = Callable[[str], "Progress"]


def make_estimator(kind: str, seed: int = 0, **params: Any) -> Estimator:
    """A fresh estimator of ``kind`` (``lr``, ``lgbm``, ``mlp``; ``lgbm`` takes ``preset=``)."""
    if kind == "lr":
        from chainml.models.train_linear import LogisticModel

        return configured(LogisticModel(seed=seed), params)
    if kind == "lgbm":
        from chainml.models.train_lgbm import PRESETS, BoostedTreesModel

        preset = params.pop("preset", "quality")
        if preset not in PRESETS:
            raise InvalidInputError(f"unknown preset {preset!r}; known: {', '.join(PRESETS)}")
        return configured(BoostedTreesModel(seed=seed), {**PRESETS[preset], **params})
    if kind == "mlp":
        from chainml.models.train_mlp import MLPModel

        return configured(MLPModel(seed=seed), params)
    raise InvalidInputError(f"unknown model kind {kind!r}; known: {', '.join(KINDS)}")


def configured(estimator: Estimator, params: dict[str, Any]) -> Estimator:
    """``estimator`` with ``params`` set (an unknown name is an :class:`InvalidInputError`)."""
    known = estimator.get_params(deep=False)
    unknown = sorted(set(params) - set(known))
    if unknown:
        raise InvalidInputError(
            f"{type(estimator).__name__} has no parameter(s) {', '.join(unknown)}; "
            f"known: {', '.join(known)}"
        )
    estimator.set_params(**params)
    return estimator


@dataclass
class Measurement:
    """Wall-clock seconds and the process's peak resident memory over a step."""

    seconds: float = 0.0
    peak_rss_bytes: int = 0
    peak_scope: str = "process"


def _reset_peak_rss() -> bool:
    """Reset the kernel's peak-RSS mark (Linux >= 4.0), so the next peak is this step's."""
    try:
        with open("/proc/self/clear_refs", "w") as handle:
            handle.write("5")
    except OSError:
        return False
    return True


def _peak_rss_bytes() -> int:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(peak if sys.platform == "darwin" else peak * 1024)  # KiB on Linux


@contextmanager
def measured() -> Iterator[Measurement]:
    """Measure the time and peak memory (resource.getrusage) of the enclosed block."""
    result = Measurement(peak_scope="step" if _reset_peak_rss() else "process lifetime")
    start = time.perf_counter()
    yield result
    result.seconds = time.perf_counter() - start
    result.peak_rss_bytes = _peak_rss_bytes()


@dataclass
class TrainedModel:
    """A fitted estimator with its split, threshold, measurements and test metrics."""

    kind: str
    estimator: Estimator
    dataset: Dataset
    split: TimeSplit
    seed: int
    threshold_rule: str
    threshold: float  # the integer threshold as a logit (for people and plots)
    training: Measurement
    policy: DecisionPolicy | None = None  # the decision of record: score_int >= threshold_int
    metrics: dict[str, Any] = field(default_factory=dict)
    validation_metrics: dict[str, Any] = field(default_factory=dict)
    test_logits: FloatArray | None = None
    preset: str | None = None  # the LightGBM preset the hyperparameters came from

    @property
    def threshold_probability(self) -> float:
        """The threshold as a probability."""
        return float(sigmoid(self.threshold))


def _noop(done: int, total: int) -> None:
    return None


def train_model(
    dataset: Dataset,
    kind: str,
    *,
    seed: int = 0,
    params: dict[str, Any] | None = None,
    threshold_rule: str = DEFAULT_RULE,
    split: TimeSplit | None = None,
    resamples: int = 1000,
    steps: StepReporter | None = None,
    input_rounding: str = "exact",
) -> TrainedModel:
    """Split ``dataset`` (``split`` or the default), fit a ``kind`` model, choose its threshold.

    ``input_rounding="nearest"`` lets the service round a fraction sent for an integral
    feature; by default (``"exact"``) such a request is refused.
    """
    metrics.parse_rule(threshold_rule)  # fail before the expensive part
    estimator = make_estimator(kind, seed, **(params or {}))
    split = split or make_split(dataset, seed=seed)
    report = steps or (lambda _: _noop)
    with measured() as training:
        estimator.fit(
            split.fit.features,
            split.fit.labels,
            x_val=split.validation.features,
            y_val=split.validation.labels,
            feature_names=dataset.feature_names,
            progress=report(f"training {KINDS[kind]}"),
        )
    return finish_training(
        estimator,
        dataset,
        split,
        kind,
        seed=seed,
        threshold_rule=threshold_rule,
        training=training,
        resamples=resamples,
        steps=steps,
        input_rounding=input_rounding,
        preset=str((params or {}).get("preset", "quality")) if kind == "lgbm" else None,
    )


def finish_training(
    estimator: Estimator,
    dataset: Dataset,
    split: TimeSplit,
    kind: str,
    *,
    seed: int = 0,
    threshold_rule: str = DEFAULT_RULE,
    training: Measurement | None = None,
    resamples: int = 1000,
    steps: StepReporter | None = None,
    input_rounding: str = "exact",
    preset: str | None = None,
) -> TrainedModel:
    """A fitted ``estimator`` made a :class:`TrainedModel`: threshold, policy, metrics.

    What :func:`train_model` does after ``fit``; a model fitted elsewhere (a federation)
    goes through the same steps on the same split.
    """
    report = steps or (lambda _: _noop)
    validation_logits = estimator.decision_function(split.validation.features)
    fit_x = split.fit.features
    inputs = input_specs(dataset.feature_names, np.all(fit_x == np.round(fit_x), axis=0).tolist())
    policy = decision_policy(
        estimator.native_params(), getattr(estimator, "booster_", None), inputs, threshold_rule,
        split.validation.features, split.validation.labels, input_rounding=input_rounding,
    )  # fmt: skip
    threshold = policy.threshold_logit
    test_logits = estimator.decision_function(split.test.features)
    trained = TrainedModel(
        kind=kind,
        estimator=estimator,
        dataset=dataset,
        split=split,
        seed=seed,
        threshold_rule=threshold_rule,
        threshold=threshold,
        training=training or Measurement(),
        policy=policy,
        test_logits=test_logits,
        preset=preset,
    )
    bootstrap = report("bootstrap interval")
    trained.validation_metrics = metrics.evaluate(
        split.validation.labels, validation_logits, threshold, resamples=resamples, seed=seed,
        flagged=integer_decisions(policy, split.validation.features),
    )  # fmt: skip
    trained.metrics = metrics.evaluate(
        split.test.labels, test_logits, threshold, resamples=resamples, seed=seed,
        flagged=integer_decisions(policy, split.test.features),
    )  # fmt: skip
    bootstrap(1, 1)
    return trained


def integer_decisions(policy: DecisionPolicy, features: FloatArray) -> list[bool]:
    """The decisions of record (``score_int >= threshold_int``) on float feature rows."""
    rows = encode(policy.model.inputs, features)
    return [score >= policy.threshold for score in score_rows(policy.model, rows)]
