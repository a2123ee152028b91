"""LightGBM (text model) and XGBoost (JSON / UBJSON model) boosters, as chainml's tree kinds.

The booster is parsed by its own library, checked to be a binary classifier over the dataset's
features, and stored re-serialized (LightGBM's text format as ``booster.txt``, XGBoost's JSON
as ``xgboost.json``), pinned by ``params.json`` as a trained LightGBM model is.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from chainml.errors import InvalidInputError
from chainml.models import native
from chainml.models.importers import ImportedModel


def _check_names(found: Sequence[str] | None, wanted: Sequence[str], what: str) -> None:
    """The model's feature names must be the dataset's (ignored when the model has none)."""
    if len(found or wanted) != len(wanted):
        raise InvalidInputError(
            f"{what}: the model takes {len(found or ())} features, the data gives {len(wanted)}"
        )
    if not found or all(re.fullmatch(r"(Column_|f)\d+", n) for n in found):
        return  # anonymous features: taken by position
    # LightGBM rewrites characters outside [A-Za-z0-9_] in the names it stores (a schema's
    # "purpose=car" comes back as "purpose_car"), so names are compared in that plain form.
    differ = [(f, w) for f, w in zip(found, wanted, strict=True) if _plain(f) != _plain(w)]
    if differ:
        shown = ", ".join(f"{f!r} vs {w!r}" for f, w in differ[:5])
        raise InvalidInputError(
            f"{what}: {len(differ)} feature name(s) differ from the data's (model vs data): {shown}"
        )


def _plain(name: str) -> str:
    return re.sub(r"[^0-9A-Za-z_]", "_", name)


def _source(data: bytes, what: str, file_format: str, library: str) -> dict[str, Any]:
    return {
        "format": file_format,
        "file": what.rsplit("/", 1)[-1],
        "sha256": hashlib.sha256(data).hexdigest(),
        "library": library,
    }


def read_lightgbm(data: bytes, feature_names: Sequence[str], what: str) -> ImportedModel:
    """A LightGBM binary booster from its text model file."""
    import lightgbm

    try:
        booster = lightgbm.Booster(model_str=data.decode())
    except (UnicodeDecodeError, lightgbm.basic.LightGBMError) as err:
        raise InvalidInputError(f"{what}: not a LightGBM text model ({err})") from err
    dump = booster.dump_model()
    objective = str(dump.get("objective", ""))
    if not objective.startswith("binary") or dump.get("num_class", 1) != 1:
        raise InvalidInputError(f"{what}: a binary LightGBM model is needed, not {objective!r}")
    sanitized = [re.sub(r"[^0-9A-Za-z_]", "_", n) for n in feature_names]
    _check_names(booster.feature_name(), sanitized, what)
    text = str(booster.model_to_string())
    stored = native.lightgbm_booster(text)
    params = native.lightgbm_params(tuple(feature_names), text, stored.num_trees())

    def reference(rows: npt.NDArray[Any]) -> npt.NDArray[np.float64]:
        return np.asarray(booster.predict(np.asarray(rows, np.float64), num_threads=1), np.float64)

    return ImportedModel(
        kind="lightgbm", params=params,
        native_files={native.BOOSTER_FILE: text.encode(), "params.json": native.dumps(params)},
        reference=reference, booster=stored,
        source={**_source(data, what, "lightgbm text", f"lightgbm {lightgbm.__version__}"),
                "objective": objective, "trees": stored.num_trees()},
        hyperparameters={"objective": objective, "num_trees": stored.num_trees()},
    )  # fmt: skip


def read_xgboost(data: bytes, feature_names: Sequence[str], what: str) -> ImportedModel:
    """An XGBoost ``binary:logistic`` booster from its JSON or UBJSON model file."""
    import xgboost

    booster = xgboost.Booster()
    try:
        booster.load_model(bytearray(data))
    except xgboost.core.XGBoostError as err:
        raise InvalidInputError(f"{what}: not an XGBoost model ({str(err)[:200]})") from err
    best = booster.attr("best_iteration")
    if best is not None:
        booster = booster[: int(best) + 1]  # what XGBoost's own predictors use
    booster.set_param({"nthread": 1})
    config = json.loads(booster.save_config())["learner"]
    objective = config["objective"]["name"]
    if objective != "binary:logistic":
        raise InvalidInputError(
            f"{what}: a binary:logistic XGBoost model is needed, not {objective}"
        )
    _check_names(booster.feature_names or [f"f{i}" for i in range(booster.num_features())],
                 list(feature_names), what)  # fmt: skip
    model_json = bytes(booster.save_raw("json"))
    stored = native.xgboost_booster(model_json)
    trees = stored.num_boosted_rounds()
    params = native.xgboost_params(tuple(feature_names), model_json, trees)

    def reference(rows: npt.NDArray[Any]) -> npt.NDArray[np.float64]:
        x = np.asarray(rows, np.float64)
        matrix = xgboost.DMatrix(x, feature_names=booster.feature_names, nthread=1)
        return np.asarray(booster.predict(matrix), np.float64)

    return ImportedModel(
        kind="xgboost", params=params,
        native_files={native.XGBOOST_FILE: model_json, "params.json": native.dumps(params)},
        reference=reference, booster=stored,
        source={**_source(data, what, "xgboost", f"xgboost {xgboost.__version__}"),
                "objective": objective, "trees": trees},
        hyperparameters={"objective": objective, "num_trees": trees},
    )  # fmt: skip
