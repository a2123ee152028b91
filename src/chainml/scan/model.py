"""The scan model: per category, a forest of decision trees over unit features, calibrated.

Stored as plain JSON (no pickles): for each category the trees as flat arrays, a Platt
calibration ``(a, b)`` fitted on out-of-fold scores, and a decision threshold. The model id
logged with every scan is the SHA-256 of the file's bytes. Models are trained at run time
(:mod:`chainml.scan.trained`), never shipped.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chainml.errors import InvalidInputError
from chainml.scan.units import FEATURES

MODEL_FORMAT = "chainml.scan-model/1"


@dataclass(frozen=True)
class Tree:
    """One decision tree: node i splits on ``feature[i] <= threshold[i]`` (leaf when -1)."""

    feature: tuple[int, ...]
    threshold: tuple[float, ...]
    left: tuple[int, ...]
    right: tuple[int, ...]
    value: tuple[float, ...]  # P(positive) at each node

    def predict(self, x: Sequence[float]) -> float:
        """The leaf probability for feature vector ``x``."""
        node = 0
        while self.feature[node] >= 0:
            node = (
                self.left[node]
                if x[self.feature[node]] <= self.threshold[node]
                else self.right[node]
            )
        return self.value[node]


@dataclass(frozen=True)
class CategoryModel:
    """The forest, calibration and threshold of one category."""

    trees: tuple[Tree, ...]
    platt: tuple[float, float]
    threshold: float

    def score(self, x: Sequence[float]) -> float:
        """The calibrated probability that the unit has this category's vulnerability."""
        raw = sum(t.predict(x) for t in self.trees) / len(self.trees)
        a, b = self.platt
        return 1.0 / (1.0 + math.exp(-(a * raw + b)))


@dataclass(frozen=True)
class ScanModel:
    """Per-category models over :data:`FEATURES` (transformed by ``log1p``)."""

    categories: Mapping[str, CategoryModel]
    model_id: bytes
    info: Mapping[str, Any]

    def scores(self, raw_features: Sequence[float]) -> dict[str, float]:
        """Calibrated score per category for one unit's raw feature vector."""
        x = [math.log1p(max(v, 0.0)) for v in raw_features]
        return {name: m.score(x) for name, m in self.categories.items()}

    @classmethod
    def from_json(cls, data: bytes) -> ScanModel:
        """Parse a model file; the model id is the SHA-256 of exactly these bytes."""
        try:
            doc = json.loads(data)
            if doc.get("format") != MODEL_FORMAT or list(doc["features"]) != list(FEATURES):
                raise InvalidInputError(
                    "not a scan model for this version of chainml (format or features differ)"
                )
            categories = {
                name: CategoryModel(
                    tuple(
                        Tree(*(tuple(t[k]) for k in ("f", "t", "l", "r", "p")))
                        for t in spec["trees"]
                    ),
                    (float(spec["platt"][0]), float(spec["platt"][1])),
                    float(spec["threshold"]),
                )
                for name, spec in doc["categories"].items()
            }
        except (ValueError, KeyError, TypeError, IndexError) as err:
            raise InvalidInputError(f"malformed scan model: {err}") from err
        return cls(categories, hashlib.sha256(data).digest(), doc.get("info", {}))


def load_model(path: Path | None = None, *, data_dir: Path | None = None) -> ScanModel:
    """Load a scan model file; without one, the model trained for this data directory.

    That one (see :mod:`chainml.scan.trained`) is trained on first use, which takes minutes,
    and cached; ``data_dir`` defaults to the configured one (``CHAINML_DATA_DIR``).
    """
    if path is None:
        from chainml.config import load_settings
        from chainml.scan.trained import trained_model

        return trained_model(data_dir or load_settings().data_dir).model
    target = path
    try:
        data = target.read_bytes()
    except OSError as err:
        raise InvalidInputError(f"cannot read scan model {target}: {err}") from err
    return ScanModel.from_json(data)
