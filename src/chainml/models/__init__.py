"""Models: datasets, training with honest evaluation, ONNX artifacts and their model cards.

The heavy ML libraries (scikit-learn, LightGBM, ONNX) are the ``ml`` extra; every public name
below is imported on first use, so ``import chainml.models`` (and ``import chainml``) stay light.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from chainml._lazy import lazy_exports

if TYPE_CHECKING:
    from chainml.models.artifacts import ModelArtifact, list_models, load_model, save_model
    from chainml.models.dataset import Dataset
    from chainml.models.schema import Schema, SchemaError
    from chainml.models.simulator import simulate_payments
    from chainml.models.sources import load_dataset
    from chainml.models.split import TimeSplit, make_split, time_split
    from chainml.models.train import TrainedModel, make_estimator, train_model
    from chainml.models.train_base import Estimator
    from chainml.models.train_lgbm import BoostedTreesModel
    from chainml.models.train_linear import LogisticModel
    from chainml.models.train_mlp import MLPModel

_EXPORTS = {
    "BoostedTreesModel": "chainml.models.train_lgbm",
    "Dataset": "chainml.models.dataset",
    "Estimator": "chainml.models.train_base",
    "LogisticModel": "chainml.models.train_linear",
    "MLPModel": "chainml.models.train_mlp",
    "ModelArtifact": "chainml.models.artifacts",
    "Schema": "chainml.models.schema",
    "SchemaError": "chainml.models.schema",
    "TimeSplit": "chainml.models.split",
    "TrainedModel": "chainml.models.train",
    "list_models": "chainml.models.artifacts",
    "load_dataset": "chainml.models.sources",
    "load_model": "chainml.models.artifacts",
    "make_estimator": "chainml.models.train",
    "make_split": "chainml.models.split",
    "save_model": "chainml.models.artifacts",
    "simulate_payments": "chainml.models.simulator",
    "time_split": "chainml.models.split",
    "train_model": "chainml.models.train",
}

__all__ = [
    "BoostedTreesModel",
    "Dataset",
    "Estimator",
    "LogisticModel",
    "MLPModel",
    "ModelArtifact",
    "Schema",
    "SchemaError",
    "TimeSplit",
    "TrainedModel",
    "list_models",
    "load_dataset",
    "load_model",
    "make_estimator",
    "make_split",
    "save_model",
    "simulate_payments",
    "time_split",
    "train_model",
]

__getattr__, __dir__ = lazy_exports(__name__, globals(), _EXPORTS)
