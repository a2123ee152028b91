"""MLflow models: ``models:/NAME/VERSION`` and ``runs:/RUN_ID/PATH`` from a local tracking store.

The URI is resolved with an explicit ``MlflowClient`` (no global MLflow state is changed), the
model directory is copied to a temporary directory, and its ``MLmodel`` file names the flavor;
the flavor's own file is then read like a file given directly: ``sklearn`` saved with skops
(a pickled one only with ``allow_pickle``), ``lightgbm`` boosters (``model.lgb``, LightGBM's
text format) and ``xgboost`` boosters. Only local stores are accepted (a directory, ``file:``
or ``sqlite:``): importing never reaches a tracking server. Needs the ``mlflow`` extra.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from chainml.errors import InvalidInputError
from chainml.models.importers import ImportedModel, read_bytes

_MODEL_URI = re.compile(r"^models:/([^/@]+)/(\d+)$")
_RUN_URI = re.compile(r"^runs:/([0-9a-zA-Z]+)/(.+)$")
MAX_MLMODEL_BYTES = 1 << 20


def local_tracking_uri(tracking_uri: str | None) -> str:
    """The tracking store as a URI MLflow reads; only local stores are accepted."""
    uri = tracking_uri or os.environ.get("MLFLOW_TRACKING_URI")
    if not uri:
        raise InvalidInputError(
            "an MLflow URI needs the tracking store: give --tracking-uri or MLFLOW_TRACKING_URI"
        )
    if uri.startswith(("file:", "sqlite:")):
        return uri
    if "://" in uri:
        raise InvalidInputError(
            f"tracking store {uri!r}: only a local MLflow store (a directory, file: or sqlite:) "
            "is read; download the model from the server and import its files"
        )
    path = Path(uri).resolve()
    if not path.is_dir():
        raise InvalidInputError(f"MLflow tracking directory {path} does not exist")
    return path.as_uri()


def _download(uri: str, tracking_uri: str, into: Path) -> Path:
    """Copy the model directory ``uri`` names into ``into``; its local path."""
    import mlflow
    from mlflow.exceptions import MlflowException

    client = mlflow.MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    try:
        if match := _MODEL_URI.match(uri):
            location = client.get_model_version_download_uri(match[1], match[2])
            path = mlflow.artifacts.download_artifacts(artifact_uri=location, dst_path=str(into))
        elif match := _RUN_URI.match(uri):
            location = _run_location(client, match[1], match[2])
            path = mlflow.artifacts.download_artifacts(artifact_uri=location, dst_path=str(into))
        else:
            raise InvalidInputError(
                f"{uri!r} is not an MLflow model URI chainml reads: models:/NAME/VERSION or "
                "runs:/RUN_ID/PATH"
            )
    except MlflowException as err:
        raise InvalidInputError(f"{uri}: MLflow could not resolve it ({err.message})") from err
    return Path(path)


def _run_location(client: Any, run_id: str, path: str) -> str:
    """Where ``runs:/RUN_ID/PATH`` lives: a model logged by the run (MLflow 3), else an artifact."""
    run = client.get_run(run_id)
    name, _, rest = path.partition("/")
    for model in client.search_logged_models(experiment_ids=[run.info.experiment_id]):
        if model.source_run_id == run_id and model.name == name:
            return f"{model.artifact_location}/{rest}".rstrip("/")
    return f"{run.info.artifact_uri}/{path}"


def _flavors(directory: Path, uri: str) -> dict[str, Any]:
    """The flavors the model directory's ``MLmodel`` file lists (parsed by MLflow, safe YAML)."""
    from mlflow.models import Model

    mlmodel = directory / "MLmodel"
    if not mlmodel.is_file():
        raise InvalidInputError(f"{uri}: no MLmodel file (not an MLflow model directory)")
    if mlmodel.stat().st_size > MAX_MLMODEL_BYTES:
        raise InvalidInputError(f"{uri}: MLmodel is larger than {MAX_MLMODEL_BYTES:,} bytes")
    try:
        flavors = Model.load(str(mlmodel)).flavors
    except Exception as err:  # MLflow raises YAML and schema errors of many kinds
        raise InvalidInputError(f"{uri}: unreadable MLmodel file ({err})") from err
    if not isinstance(flavors, dict) or not flavors:
        raise InvalidInputError(f"{uri}: MLmodel lists no flavors")
    return flavors


def _flavor_file(directory: Path, flavor: dict[str, Any], key: str, uri: str) -> Path:
    name = flavor.get(key)
    path = (directory / str(name)).resolve() if name else None
    if path is None or not path.is_relative_to(directory.resolve()) or not path.is_file():
        raise InvalidInputError(f"{uri}: the MLmodel's {key} {name!r} is not a file of the model")
    return path


def read_mlflow(
    uri: str, feature_names: Sequence[str], *, tracking_uri: str | None = None,
    trust: Sequence[str] = (), allow_pickle: bool = False,
) -> ImportedModel:  # fmt: skip
    """Read the model an MLflow URI names (see the module docstring)."""
    try:
        import mlflow  # noqa: F401  (the extra's presence, before anything else)
    except ImportError as err:
        raise InvalidInputError(
            "MLflow URIs need the mlflow extra: pip install 'chainml[mlflow]'"
        ) from err
    store = local_tracking_uri(tracking_uri)
    with tempfile.TemporaryDirectory(prefix="chainml-mlflow-") as scratch:
        directory = _download(uri, store, Path(scratch))
        flavors = _flavors(directory, uri)
        imported = _read_flavor(directory, flavors, uri, feature_names, trust, allow_pickle)
    return replace(imported, source={**imported.source, "mlflow": {"uri": uri, "store": store}})


def _read_flavor(
    directory: Path, flavors: dict[str, Any], uri: str, feature_names: Sequence[str],
    trust: Sequence[str], allow_pickle: bool,
) -> ImportedModel:  # fmt: skip
    from chainml.models.importers import boosters, sklearn

    if "sklearn" in flavors:
        flavor = flavors["sklearn"]
        path = _flavor_file(directory, flavor, "pickled_model", uri)
        if flavor.get("serialization_format") == "skops":
            named = path.with_suffix(".skops")
            path.rename(named)
            return sklearn.read_sklearn(named, feature_names, trust=trust)
        named = path.with_suffix(".pkl")
        path.rename(named)
        return sklearn.read_sklearn(named, feature_names, allow_pickle=allow_pickle)
    if "lightgbm" in flavors:
        path = _flavor_file(directory, flavors["lightgbm"], "data", uri)
        if path.suffix != ".lgb":
            raise InvalidInputError(
                f"{uri}: a LightGBM scikit-learn wrapper is stored pickled; log the booster "
                "(model.booster_) with mlflow.lightgbm.log_model instead"
            )
        return boosters.read_lightgbm(read_bytes(path), feature_names, f"{uri}/{path.name}")
    if "xgboost" in flavors:
        path = _flavor_file(directory, flavors["xgboost"], "data", uri)
        return boosters.read_xgboost(read_bytes(path), feature_names, f"{uri}/{path.name}")
    raise InvalidInputError(
        f"{uri}: flavors {', '.join(sorted(flavors))}; chainml imports sklearn (skops), "
        "lightgbm and xgboost"
    )
