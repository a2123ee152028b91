"""Evaluating and re-checking a stored model: metrics on a dataset, ONNX parity on probe rows."""

from __future__ import annotations

from typing import Any

import numpy as np

from chainml.errors import InvalidInputError
from chainml.models import export, metrics
from chainml.models.artifacts import ModelArtifact
from chainml.models.dataset import Dataset, FloatArray
from chainml.models.split import Split, make_split


def check_features(model: ModelArtifact, dataset: Dataset) -> None:
    """Raise :class:`InvalidInputError` unless ``dataset`` has the model's features, in order."""
    expected, got = model.feature_names, dataset.feature_names
    if expected == got:
        return
    missing = [n for n in expected if n not in got]
    extra = [n for n in got if n not in expected]
    detail = []
    if missing:
        detail.append(f"missing {', '.join(missing[:5])}")
    if extra:
        detail.append(f"extra {', '.join(extra[:5])}")
    if not detail:
        detail.append("same names in another order")
    raise InvalidInputError(
        f"dataset {dataset.name!r} has {len(got)} features, the model takes {len(expected)} "
        f"({'; '.join(detail)})"
    )


def held_out(model: ModelArtifact, dataset: Dataset) -> tuple[Dataset, bool]:
    """The rows to judge ``model`` on, and whether they are its own test split.

    On the model's training data (same commitment) that is the test split with the card's
    fractions; on any other data it is every row.
    """
    check_features(model, dataset)
    trained_on = model.card["dataset"]
    if dataset.commitment() != trained_on["commitment"]:
        return dataset, False
    return card_split(model, dataset).test, True


def checked_parts(model: ModelArtifact, dataset: Dataset) -> dict[str, Dataset]:
    """The labelled rows to check a model on, by name.

    On its own training data: its ``validation`` rows (where the threshold was placed) and its
    ``test`` split; on any other data: ``all`` rows.
    """
    check_features(model, dataset)
    trained_on = model.card["dataset"]
    if dataset.commitment() != trained_on["commitment"]:
        return {"all": dataset}
    split = card_split(model, dataset)
    return {"validation": split.validation, "test": split.test}


def card_split(model: ModelArtifact, dataset: Dataset) -> Split:
    """The split the card records (method, seed, fractions), redone on ``dataset``."""
    recorded = model.card["dataset"]["split"]
    method = str(recorded.get("method", "time"))
    if method in ("time-ordered", "row order"):  # cards written before the split methods
        method = "time"
    return make_split(
        dataset,
        method,
        seed=int(recorded.get("seed", 0)),
        test_fraction=recorded["test_fraction"],
        validation_fraction=recorded["validation_fraction"],
    )


def evaluate_model(
    model: ModelArtifact, dataset: Dataset, *, resamples: int = 1000, seed: int = 0
) -> dict[str, Any]:
    """Metrics of ``model`` at its threshold on ``dataset``.

    On the very data the model was trained on (same commitment) only the test split is used,
    with the card's split fractions, and the result reproduces the card; on any other data
    every row is used.
    """
    part, same = held_out(model, dataset)
    logits = model.predict_logit(part.features)
    flagged = model.decide(part.features)  # the integer model's decisions of record
    return {
        "model_id": model.model_id,
        "dataset": dataset.name,
        "commitment": dataset.commitment(),
        "rows_used": "test split of the training data" if same else "all rows",
        "threshold": {
            "rule": model.card["threshold"]["rule"],
            "logit": model.threshold,
            "integer": model.policy.threshold,
        },
        "metrics": metrics.evaluate(
            part.labels, logits, model.threshold, resamples=resamples, seed=seed, flagged=flagged
        ),
    }


def probe_rows(model: ModelArtifact, rows: int = 2000, seed: int = 0) -> FloatArray:
    """Deterministic inputs spread over the card's feature ranges (half uniform, half normal)."""
    schema = model.card["features"]
    low = np.array([f["min"] for f in schema])
    high = np.array([f["max"] for f in schema])
    mean = np.array([f["mean"] for f in schema])
    std = np.array([f["std"] for f in schema])
    rng = np.random.default_rng(seed)
    half = rows // 2
    uniform = low + (high - low) * rng.random((half, len(schema)))
    normal = np.clip(mean + std * rng.standard_normal((rows - half, len(schema))), low, high)
    return np.asarray(np.concatenate([uniform, normal]), dtype=np.float64)


def reverify_onnx(
    model: ModelArtifact, features: FloatArray | None = None, tolerance: float = export.TOLERANCE
) -> dict[str, Any]:
    """Check ``model.onnx`` against the native parameters with onnxruntime (probe rows default)."""
    x = probe_rows(model) if features is None else features
    return export.verify_onnx(model.onnx_bytes, model.predict_logit(x), x, tolerance)
