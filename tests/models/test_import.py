"""Importing models trained outside chainml: the same scores as their own library, on chain too."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from chainml.chain import Env
from chainml.errors import InvalidInputError
from chainml.inference.compile import encode_rows
from chainml.inference.onchain import check_parity, compile_model
from chainml.inference.quantize import float32_split
from chainml.models import export
from chainml.models.artifacts import load_model
from chainml.models.importers.boosters import read_lightgbm
from chainml.models.importers.encoding import OneHotEncoding
from chainml.models.importing import IMPORT_TOLERANCE, ImportResult, InputTable, import_model
from chainml.models.split import time_split

ROWS = 3000
CATEGORIES = {
    "colour": ("red", "green", "blue"),
    "size": ("S", "M", "L", "XL"),
    "shape": ("o", "x"),
}


def _tables(seed: int = 0) -> tuple[InputTable, InputTable]:
    """Raw categorical rows and numeric rows of the same generated population."""
    rng = np.random.default_rng(seed)
    raw = np.column_stack([rng.choice(values, ROWS) for values in CATEGORIES.values()])
    numbers = rng.normal(size=(ROWS, 4))
    signal = (
        1.2 * (raw[:, 0] == "red") + 0.8 * (raw[:, 1] == "XL") - 0.5 * (raw[:, 2] == "o")
        + numbers[:, 0] - 0.7 * numbers[:, 1] * numbers[:, 2] + rng.normal(size=ROWS)
    )  # fmt: skip
    labels = (signal > np.quantile(signal, 0.8)).astype(np.int8)
    return (
        InputTable("raw", tuple(CATEGORIES), raw.astype(object), labels),
        InputTable("numbers", ("a", "b", "c", "d"), numbers, labels),
    )


@pytest.fixture(scope="module")
def imported(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[ImportResult, object]]:
    """A Pipeline(OneHotEncoder, LogisticRegression), a LightGBM Booster and an XGBoost model,
    each trained here on the first half of the rows, saved in its own format and imported."""
    import lightgbm
    import skops.io
    import xgboost
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder

    files = tmp_path_factory.mktemp("files")
    data_dir = tmp_path_factory.mktemp("import") / "data"
    raw, numbers = _tables()
    half = ROWS // 2
    pipeline = make_pipeline(OneHotEncoder(handle_unknown="ignore"), LogisticRegression(C=0.5))
    pipeline.fit(raw.values[:half], raw.labels[:half])
    skops.io.dump(pipeline, files / "pipeline.skops")
    training = lightgbm.Dataset(
        numbers.values[:half], numbers.labels[:half], feature_name=list(numbers.columns)
    )
    booster = lightgbm.train(
        {"objective": "binary", "num_leaves": 7, "verbosity": -1, "num_threads": 1}, training, 30
    )
    booster.save_model(str(files / "booster.txt"))
    classifier = xgboost.XGBClassifier(n_estimators=30, max_depth=3, n_jobs=1)
    classifier.fit(numbers.values[:half], numbers.labels[:half])
    classifier.save_model(str(files / "xgb.ubj"))

    def pipeline_p(x: np.ndarray) -> np.ndarray:
        return pipeline.predict_proba(x)[:, 1]

    def booster_p(x: np.ndarray) -> np.ndarray:
        return booster.predict(x)

    def xgb_p(x: np.ndarray) -> np.ndarray:
        return classifier.predict_proba(x)[:, 1]

    sources = {
        "sklearn": ("pipeline.skops", raw, pipeline_p),
        "lightgbm": ("booster.txt", numbers, booster_p),
        "xgboost": ("xgb.ubj", numbers, xgb_p),
    }
    return {
        name: (import_model(str(files / file), table, data_dir, resamples=20), library)
        for name, (file, table, library) in sources.items()
    } | {"tables": ((raw, numbers), None)}


def _test_part(result: ImportResult, table: InputTable) -> tuple[np.ndarray, np.ndarray]:
    """The raw test rows and the model features of the same rows (split as import split)."""
    encoding = result.artifact.card["imported"]["encoding"]
    if encoding is None:
        features = np.asarray(table.values, dtype=np.float64)
    else:
        features = OneHotEncoding.from_document(encoding).transform(table.values)
    count = time_split(_as_dataset(table, features)).test.rows
    return table.values[-count:], features[-count:]


def _as_dataset(table: InputTable, features: np.ndarray):
    from chainml.models.dataset import Dataset

    return Dataset("t", features, table.labels, tuple(f"x{i}" for i in range(features.shape[1])))


@pytest.mark.parametrize("name", ["sklearn", "lightgbm", "xgboost"])
def test_imported_model_scores_as_its_library(imported, name: str) -> None:
    result, library = imported[name]
    raw, numbers = imported["tables"][0]
    table = raw if name == "sklearn" else numbers
    rows, features = _test_part(result, table)
    expected = library(rows)
    artifact = result.artifact
    assert np.max(np.abs(artifact.predict_proba(features) - expected)) <= IMPORT_TOLERANCE
    assert (
        np.max(np.abs(export.onnx_probabilities(artifact.onnx_bytes, features) - expected))
        <= IMPORT_TOLERANCE
    )
    # the decision of record (the integer model) is the library's decision at the threshold
    threshold = artifact.card["threshold"]["probability"]
    assert (artifact.decide(features) == (expected >= threshold)).all()
    assert 0 < artifact.decide(features).sum() < len(features)
    card = artifact.card
    assert card["kind"] == artifact.kind and card["imported"]["parity_with_library"]["rows"] == ROWS
    assert card["decision_policy"]["proven"] and result.onchain
    assert load_model(artifact.path.parent.parent, artifact.model_id).card == card


def test_pipeline_records_its_encoding(imported) -> None:
    result, _ = imported["sklearn"]
    record = result.artifact.card["imported"]
    assert record["estimator"] == "Pipeline(OneHotEncoder, LogisticRegression)"
    assert record["encoding"]["columns"] == list(CATEGORIES)
    assert "colour=red" in result.artifact.feature_names and len(result.artifact.feature_names) == 9
    markdown = (result.artifact.path / "card.md").read_text()
    assert "## Imported" in markdown and "one-hot of colour, size, shape" in markdown


def test_imported_models_decide_on_chain_as_in_their_library(
    embedded_env: Env, imported, tmp_path: Path
) -> None:
    """The heavy end-to-end check: each imported model's contract decides every test row as
    the original library does at the threshold, and as the integer reference does."""
    raw, numbers = imported["tables"][0]
    for name in ("sklearn", "lightgbm", "xgboost"):
        result, library = imported[name]
        rows, features = _test_part(result, raw if name == "sklearn" else numbers)
        compiled = compile_model(result.artifact, tmp_path / "cache")
        contract = embedded_env.deploy(compiled.compiled)
        encoded = encode_rows(compiled.model, features)
        report = check_parity(embedded_env, contract, compiled.model, encoded)
        assert report.exact and report.rows == len(rows), name
        on_chain = [bool(contract.decide(row)[1]) for row in encoded[:40]]
        expected = library(rows[:40]) >= result.artifact.card["threshold"]["probability"]
        assert on_chain == expected.tolist(), name


@given(st.floats(-1e6, 1e6, allow_nan=False, width=32), st.integers(-3, 3))
def test_float32_split_is_xgboost_comparison(threshold: float, step: int) -> None:
    """``x <= float32_split(t)`` is ``float32(x) < t`` for doubles around the boundary."""
    boundary = float32_split(threshold)
    x = boundary
    for _ in range(abs(step)):
        x = float(np.nextafter(x, np.inf if step > 0 else -np.inf))
    assert (x <= boundary) == bool(np.float32(x) < np.float32(threshold))


def test_booster_with_other_feature_names_is_refused() -> None:
    import lightgbm

    rng = np.random.default_rng(1)
    x = rng.normal(size=(200, 2))
    booster = lightgbm.train(
        {"objective": "binary", "verbosity": -1},
        lightgbm.Dataset(x, (x[:, 0] > 0).astype(int), feature_name=["amount", "age"]), 3,
    )  # fmt: skip
    with pytest.raises(InvalidInputError, match="'age' vs 'hour'"):
        read_lightgbm(booster.model_to_string().encode(), ["amount", "hour"], "m.txt")


def test_plain_onnx_linear_classifier_imports_and_trees_are_refused(tmp_path: Path) -> None:
    import lightgbm
    from onnxmltools import convert_lightgbm
    from onnxmltools.convert.common.data_types import FloatTensorType
    from skl2onnx import to_onnx
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    _, numbers = _tables(seed=2)
    x = numbers.values * np.array([1.0, 30.0, 0.01, 1.0]) + np.array([0.0, 100.0, 0.0, -5.0])
    table = InputTable("scaled", numbers.columns, x, numbers.labels)
    sklearn_model = make_pipeline(StandardScaler(), LogisticRegression()).fit(x, table.labels)
    (tmp_path / "lr.onnx").write_bytes(
        to_onnx(sklearn_model, x[:1].astype(np.float32)).SerializeToString()
    )
    result = import_model(str(tmp_path / "lr.onnx"), table, tmp_path / "data", resamples=20)
    record = result.artifact.card["imported"]
    assert record["format"] == "onnx" and record["producer"].startswith("skl2onnx")
    assert record["estimator"].startswith("Scaler -> LinearClassifier")
    # the float32 graph is the model: chainml agrees with it and, within float32, with sklearn
    expected = sklearn_model.predict_proba(x)[:, 1]
    assert np.max(np.abs(result.artifact.predict_proba(x) - expected)) <= IMPORT_TOLERANCE
    assert result.onchain

    booster = lightgbm.train(
        {"objective": "binary", "verbosity": -1}, lightgbm.Dataset(x, table.labels), 3
    )
    trees = convert_lightgbm(booster, initial_types=[("input", FloatTensorType([None, 4]))])
    (tmp_path / "trees.onnx").write_bytes(trees.SerializeToString())
    with pytest.raises(InvalidInputError, match="TreeEnsembleClassifier"):
        import_model(str(tmp_path / "trees.onnx"), table, tmp_path / "data", resamples=20)
