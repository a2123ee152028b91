"""scikit-learn models: read with skops (never unpickled by default), rewritten as native kinds.

A ``.skops`` file is inspected before it is loaded: every type outside skops' trusted defaults
must be named by the caller (``trust``), otherwise the import is refused with
:class:`~chainml.errors.UntrustedTypesError` listing them. A pickle or joblib file can run code
when it is read; it is refused unless ``allow_pickle`` says the caller trusts it.

What can be imported: a binary ``LogisticRegression`` or ``MLPClassifier`` (ReLU), alone or at
the end of a ``Pipeline`` whose earlier steps are a ``OneHotEncoder`` over all raw columns or a
``ColumnTransformer`` (:mod:`chainml.models.importers.sklearn_columns` says which transformers
it may hold), and/or an affine scaler (``StandardScaler``, ...). They become chainml's
``logistic_regression`` / ``mlp`` documents (the scalers are their standardization), so they
compile to integer models like trained ones.
"""

from __future__ import annotations

import hashlib
import json
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from chainml.errors import InvalidInputError, UntrustedTypesError
from chainml.models import native
from chainml.models.importers import ImportedModel, read_bytes
from chainml.models.importers.encoding import ColumnEncoding
from chainml.models.importers.sklearn_columns import (
    SUPPORTED,
    UnsupportedTransformerError,
    affine,
    column_transformer,
    compose,
    frame,
    one_hot_encoder,
)

PICKLE_WARNING = (
    "loading a pickle file: it can run any code on this machine; do this only for a file "
    "you made yourself or fully trust (skops.io.dump writes a safe format)"
)


def load_skops(data: bytes, what: str, trust: Sequence[str]) -> Any:
    """The object in skops bytes, after checking every untrusted type is in ``trust``."""
    import skops.io

    try:
        untrusted = skops.io.get_untrusted_types(data=data)
    except Exception as err:  # skops raises many kinds on a malformed file; keep the cause
        raise InvalidInputError(f"{what}: not a readable skops file ({err})") from err
    refused = sorted(set(untrusted) - set(trust))
    if refused:
        raise UntrustedTypesError(what, refused)
    try:
        return skops.io.loads(data, trusted=sorted(set(untrusted)))
    except Exception as err:
        raise InvalidInputError(f"{what}: skops could not load it ({err})") from err


def load_pickle(path: Path) -> Any:
    """A joblib/pickle file, with :data:`PICKLE_WARNING` (only when the caller allowed it)."""
    import joblib

    warnings.warn(PICKLE_WARNING, UserWarning, stacklevel=2)
    try:
        return joblib.load(path)
    except Exception as err:
        raise InvalidInputError(f"{path}: could not unpickle it ({err})") from err


def read_sklearn(
    path: Path, feature_names: Sequence[str], *, trust: Sequence[str] = (),
    allow_pickle: bool = False,
) -> ImportedModel:  # fmt: skip
    """Read a ``.skops`` file (or, when allowed, a pickle) holding a scikit-learn model."""
    data = read_bytes(path)
    if path.suffix.lower() == ".skops":
        model, file_format = load_skops(data, str(path), trust), "skops"
    elif not allow_pickle:
        raise InvalidInputError(
            f"{path}: refusing to unpickle a file (it could run any code); save the model with "
            "skops.io.dump(model, 'model.skops') and import that, or pass --allow-pickle if you "
            "made this file yourself"
        )
    else:
        model, file_format = load_pickle(path), "pickle"
    source = {
        "format": file_format,
        "file": path.name,
        "sha256": hashlib.sha256(data).hexdigest(),
        "trusted_types": sorted(trust),
    }
    return from_estimator(model, tuple(feature_names), source)


def _steps(model: Any) -> list[Any]:
    from sklearn.pipeline import Pipeline

    if isinstance(model, Pipeline):
        return [step for _, step in model.steps if step not in (None, "passthrough")]
    return [model]


def _describe(model: Any) -> str:
    steps = _steps(model)
    inner = ", ".join(type(s).__name__ for s in steps)
    return f"Pipeline({inner})" if len(steps) > 1 or steps[0] is not model else inner


def from_estimator(model: Any, columns: tuple[str, ...], source: dict[str, Any]) -> ImportedModel:
    """A fitted scikit-learn estimator or pipeline as a native kind (see the module docstring)."""
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.neural_network import MLPClassifier
    from sklearn.preprocessing import OneHotEncoder

    *preprocessing, final = _steps(model)
    encoding: ColumnEncoding | None = None
    named = False  # whether the library takes a DataFrame (its first step names its columns)
    names = columns
    scaling = (np.zeros(len(names)), np.ones(len(names)))
    for position, step in enumerate(preprocessing):
        last = position == len(preprocessing) - 1
        if position == 0 and isinstance(step, OneHotEncoder | ColumnTransformer):
            read = one_hot_encoder if isinstance(step, OneHotEncoder) else column_transformer
            encoding, scaling = read(step, columns)
            names = encoding.feature_names
            named = getattr(step, "feature_names_in_", None) is not None
        elif last and (then := affine(step, len(names))) is not None:
            scaling = compose(scaling, then)
        else:
            raise UnsupportedTransformerError(
                f"{type(step).__name__} (step {position + 1} of {_describe(model)})",
                names[:8] if position == 0 else [],
                "not supported: chainml imports a OneHotEncoder or a ColumnTransformer first "
                "and/or an affine "
                f"scaler ({', '.join(SUPPORTED[1:])}) last, then the classifier",
            )
    mean, scale = scaling
    classes = getattr(final, "classes_", None)
    if classes is None or len(classes) != 2:
        raise InvalidInputError(f"cannot import {_describe(model)}: not a fitted binary classifier")
    if getattr(final, "n_features_in_", len(names)) != len(names):
        raise InvalidInputError(
            f"the model takes {final.n_features_in_} features, the data gives {len(names)} "
            f"({', '.join(names[:5])}{', ...' if len(names) > 5 else ''})"
        )
    if isinstance(final, LogisticRegression):
        params = native.linear_params(
            names, mean, scale, np.asarray(final.coef_[0]), float(final.intercept_[0])
        )
    elif isinstance(final, MLPClassifier):
        if final.activation != "relu":
            raise InvalidInputError(f"only ReLU MLPs are supported, not {final.activation!r}")
        activations = ["relu"] * (len(final.coefs_) - 1) + ["identity"]
        params = native.mlp_params(
            names, mean, scale, list(final.coefs_), list(final.intercepts_), activations
        )
    else:
        raise InvalidInputError(
            f"cannot import {_describe(model)}: chainml imports LogisticRegression and "
            f"MLPClassifier from scikit-learn (LightGBM and XGBoost from their own files)"
        )

    def reference(rows: npt.NDArray[Any]) -> npt.NDArray[np.float64]:
        given = rows if encoding is None else frame(encoding, rows, named)
        try:
            return np.asarray(model.predict_proba(given)[:, 1], dtype=np.float64)
        except ValueError as err:  # the library refuses the rows (NaN, unknown categories)
            raise InvalidInputError(f"scikit-learn could not score the data: {err}") from err

    import sklearn

    record = {
        **source,
        "library": f"scikit-learn {sklearn.__version__}",
        "estimator": _describe(model),
        "classes": [str(c) for c in classes],
        "positive_class": str(classes[1]),
    }
    hyper = json.loads(json.dumps(final.get_params(deep=False), default=repr))
    return ImportedModel(
        kind=params["kind"], params=params,
        native_files={"params.json": native.dumps(params)}, reference=reference,
        source=record, encoding=encoding, hyperparameters=hyper,
    )  # fmt: skip
