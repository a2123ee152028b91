"""Reading a model trained outside chainml: one module per format, one form for all of them.

:func:`read_model` takes a path or an MLflow URI and returns an :class:`ImportedModel`: the
model rewritten as one of chainml's native kinds (``params.json`` and, for boosters, the model
file it pins), the original library's own probability function (the reference the import is
checked against) and, for a scikit-learn pipeline that encodes its own categories, the
:class:`~chainml.models.importers.encoding.ColumnEncoding` from raw columns to model features.
Nothing here unpickles a file unless the caller allowed it by name (``allow_pickle``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from chainml.errors import InvalidInputError

if TYPE_CHECKING:
    from chainml.models.importers.encoding import ColumnEncoding

#: The library's probability of the positive class (``classes[1]``) for model-input rows.
Reference = Callable[[npt.NDArray[Any]], npt.NDArray[np.float64]]

SKOPS_SUFFIXES = (".skops",)
PICKLE_SUFFIXES = (".pkl", ".pickle", ".joblib")
LIGHTGBM_SUFFIXES = (".txt", ".lgb")
XGBOOST_SUFFIXES = (".json", ".ubj")
ONNX_SUFFIXES = (".onnx",)
MAX_MODEL_BYTES = 512 * 2**20  # a model file larger than this is refused before it is read


@dataclass(frozen=True)
class ImportedModel:
    """A foreign model as a chainml native kind, with what it came from."""

    kind: str  # logistic_regression | mlp | lightgbm | xgboost (chainml.models.native)
    params: dict[str, Any]  # params.json, feature_names in model-input order
    native_files: dict[str, bytes]  # params.json and the model file it pins
    reference: Reference  # the original library's probabilities, on model-input rows
    source: dict[str, Any]  # what the card records under "imported"
    booster: Any = None  # the parsed LightGBM / XGBoost booster
    encoding: ColumnEncoding | None = None  # raw columns -> features, when the model encodes
    hyperparameters: dict[str, Any] = field(default_factory=dict)

    @property
    def feature_names(self) -> tuple[str, ...]:
        """The features the native model (and the integer model) takes, in order."""
        return tuple(self.params["feature_names"])

    @property
    def input_columns(self) -> tuple[str, ...]:
        """The columns the original model takes (raw columns when it encodes them itself)."""
        return self.encoding.columns if self.encoding is not None else self.feature_names


def read_bytes(path: Path) -> bytes:
    """A model file's bytes, refused when missing or larger than :data:`MAX_MODEL_BYTES`."""
    try:
        size = path.stat().st_size
    except OSError as err:
        raise InvalidInputError(f"cannot read model file {path}: {err.strerror}") from err
    if size > MAX_MODEL_BYTES:
        raise InvalidInputError(
            f"model file {path} is {size:,} bytes, over the {MAX_MODEL_BYTES:,}-byte limit"
        )
    return path.read_bytes()


def read_model(
    source: str,
    feature_names: Sequence[str],
    *,
    trust: Sequence[str] = (),
    allow_pickle: bool = False,
    tracking_uri: str | None = None,
) -> ImportedModel:
    """Read the model at ``source`` (a file, or an MLflow ``models:/`` / ``runs:/`` URI).

    ``feature_names`` are the dataset's columns, in the order the model takes them. The format
    follows the suffix: ``.skops`` (scikit-learn, read with skops; ``trust`` names types beyond
    skops' defaults), ``.pkl``/``.joblib`` (refused unless ``allow_pickle``), ``.txt`` (LightGBM),
    ``.json``/``.ubj`` (XGBoost), ``.onnx`` (a linear classifier).
    """
    if source.startswith(("models:/", "runs:/")):
        from chainml.models.importers.mlflow import read_mlflow

        return read_mlflow(
            source, feature_names, tracking_uri=tracking_uri, trust=trust,
            allow_pickle=allow_pickle,
        )  # fmt: skip
    return read_file(Path(source), feature_names, trust=trust, allow_pickle=allow_pickle)


def read_file(
    path: Path, feature_names: Sequence[str], *, trust: Sequence[str] = (),
    allow_pickle: bool = False,
) -> ImportedModel:  # fmt: skip
    """Read a model file by its suffix (see :func:`read_model`)."""
    suffix = path.suffix.lower()
    if suffix in SKOPS_SUFFIXES + PICKLE_SUFFIXES:
        from chainml.models.importers.sklearn import read_sklearn

        return read_sklearn(path, feature_names, trust=trust, allow_pickle=allow_pickle)
    if suffix in LIGHTGBM_SUFFIXES:
        from chainml.models.importers.boosters import read_lightgbm

        return read_lightgbm(read_bytes(path), feature_names, str(path))
    if suffix in XGBOOST_SUFFIXES:
        from chainml.models.importers.boosters import read_xgboost

        return read_xgboost(read_bytes(path), feature_names, str(path))
    if suffix in ONNX_SUFFIXES:
        from chainml.models.importers.onnx import read_onnx

        return read_onnx(read_bytes(path), feature_names, str(path))
    known = SKOPS_SUFFIXES + PICKLE_SUFFIXES + LIGHTGBM_SUFFIXES + XGBOOST_SUFFIXES + ONNX_SUFFIXES
    raise InvalidInputError(
        f"{path}: unknown model format {suffix or '(no suffix)'!r}; known: {', '.join(known)} "
        "or an MLflow URI (models:/NAME/VERSION, runs:/RUN_ID/PATH)"
    )
