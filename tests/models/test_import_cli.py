"""``chainml model import`` from the command line: safe loading, pickles, MLflow URIs."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from sklearn.base import BaseEstimator, TransformerMixin

from chainml.models.artifacts import list_models
from tests.cli.test_cli import flat, isolated, run  # noqa: F401  (isolated is an autouse fixture)
from tests.models.synthetic import synthetic_dataset


class Doubler(TransformerMixin, BaseEstimator):
    """A custom step: skops does not trust it (its module could run anything on import)."""

    def fit(self, x: np.ndarray, y: object = None) -> Doubler:
        return self

    def transform(self, x: np.ndarray) -> np.ndarray:
        return 2 * np.asarray(x)


@pytest.fixture(scope="module")
def dataset():
    return synthetic_dataset(rows=2500)


@pytest.fixture
def csv_file(tmp_path: Path, dataset) -> Path:
    path = tmp_path / "payments.csv"
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow([*dataset.feature_names, "fraud"])
        for row, label in zip(dataset.features, dataset.labels, strict=True):
            writer.writerow([*map(repr, row.tolist()), int(label)])
    return path


def _import(
    capsys, tmp_path: Path, csv_file: Path, model: str, *extra: str
) -> tuple[int, str, str]:
    return run(
        capsys, "--data-dir", str(tmp_path / "data"), "model", "import", model,
        "--data", str(csv_file), "--target", "fraud", "--resamples", "20", *extra,
    )  # fmt: skip


def test_untrusted_skops_type_is_refused_with_exit_2(capsys, tmp_path, csv_file, dataset) -> None:
    import skops.io
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    model = make_pipeline(Doubler(), LogisticRegression()).fit(dataset.features, dataset.labels)
    path = tmp_path / "custom.skops"
    skops.io.dump(model, path)
    code, _, err = _import(capsys, tmp_path, csv_file, str(path))
    assert code == 2
    assert "untrusted type" in flat(err) and f"{__name__}.Doubler" in flat(err)
    assert list_models(tmp_path / "data") == []
    # trusting it by name loads the file; chainml then says why it cannot map the step
    code, _, err = _import(capsys, tmp_path, csv_file, str(path), "--trust", f"{__name__}.Doubler")
    assert code == 2 and "Doubler (step 1 of Pipeline(Doubler, LogisticRegression))" in flat(err)
    assert "not supported" in flat(err)


def test_pickle_needs_allow_pickle_and_warns(capsys, tmp_path, csv_file, dataset) -> None:
    import joblib
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    model = make_pipeline(StandardScaler(), LogisticRegression()).fit(
        dataset.features, dataset.labels
    )
    path = tmp_path / "model.joblib"
    joblib.dump(model, path)
    code, out, err = _import(capsys, tmp_path, csv_file, str(path))
    assert code == 2 and "refusing to unpickle" in flat(err)
    assert list_models(tmp_path / "data") == []
    code, out, err = _import(capsys, tmp_path, csv_file, str(path), "--allow-pickle", "--json")
    assert code == 0, err
    assert "WARNING: --allow-pickle" in err
    result = json.loads(out)
    assert result["imported"]["format"] == "pickle" and result["kind"] == "logistic_regression"
    assert result["imported"]["estimator"] == "Pipeline(StandardScaler, LogisticRegression)"
    assert result["onchain"] and result["decision_policy"]["proven"]
    [stored] = list_models(tmp_path / "data")
    assert stored.model_id == result["model_id"]


def test_xgboost_file_imports_and_says_where_it_runs(capsys, tmp_path, csv_file, dataset) -> None:
    import xgboost

    model = xgboost.XGBClassifier(n_estimators=400, max_depth=6, n_jobs=1)
    model.fit(dataset.features, dataset.labels)
    model.save_model(str(tmp_path / "big.json"))
    code, out, err = _import(capsys, tmp_path, csv_file, str(tmp_path / "big.json"))
    assert code == 0, err
    text = flat(out)
    assert "stored in" in text and "PR-AUC" in text
    assert "log only (a zk proof later)" in text and "over the 24,576-byte limit" in text


@pytest.mark.slow
def test_mlflow_uris_import_the_logged_model(
    capsys, tmp_path, csv_file, dataset, monkeypatch
) -> None:
    """A model registered in a local MLflow store imports as the same model as its file."""
    mlflow = pytest.importorskip("mlflow")
    pytest.importorskip("mlflow.xgboost")
    import xgboost

    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")  # MLflow 3 prefers sqlite stores
    monkeypatch.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
    store = tmp_path / "mlruns"
    model = xgboost.XGBClassifier(n_estimators=20, max_depth=3, n_jobs=1)
    model.fit(dataset.features, dataset.labels)
    model.save_model(str(tmp_path / "m.json"))
    mlflow.set_tracking_uri(store.as_uri())
    try:
        mlflow.set_experiment("import")
        with mlflow.start_run() as mlrun:
            mlflow.xgboost.log_model(model, name="scorer", registered_model_name="scorer")
    finally:
        mlflow.set_tracking_uri(None)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", str(store))
    ids = []
    for source in (
        "models:/scorer/1",
        f"runs:/{mlrun.info.run_id}/scorer",
        str(tmp_path / "m.json"),
    ):
        code, out, err = _import(capsys, tmp_path, csv_file, source, "--json")
        assert code == 0, err
        ids.append(json.loads(out)["model_id"])
    assert ids[0] == ids[1] == ids[2]
    code, out, err = _import(capsys, tmp_path, csv_file, "models:/scorer/9")
    assert code == 2 and "MLflow could not resolve it" in flat(err)


def test_a_pipeline_over_a_csvs_text_columns_imports_evaluates_and_checks_on_chain(
    capsys, tmp_path: Path
) -> None:
    """The CSV as its owner wrote it: the pipeline's encoder names two of its text columns;
    import takes them from the CSV by name, and `model evaluate` and `onchain check` read the
    CSV again through that encoding (they used to compare it with chainml's own schema)."""
    import pandas as pd
    import skops.io
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder

    from tests.api.loans import write_loans_csv

    write_loans_csv(tmp_path / "loans.csv", rows=400)
    frame = pd.read_csv(tmp_path / "loans.csv", dtype=str, keep_default_na=False)
    pipeline = make_pipeline(OneHotEncoder(handle_unknown="ignore"), LogisticRegression())
    pipeline.fit(frame[["purpose", "housing"]], frame["label"] == "bad")
    skops.io.dump(pipeline, tmp_path / "mine.skops")
    data = ("--data", str(tmp_path / "loans.csv"))
    labels = ("--target", "label", "--positive", "bad", "--resamples", "20", "--json")
    code, out, err = run(capsys, "model", "import", str(tmp_path / "mine.skops"), *data, *labels)
    assert code == 0, err
    imported = json.loads(out)
    assert imported["imported"]["label"] == {"column": "label", "positive": "bad"}
    model_id = imported["model_id"]
    code, out, err = run(capsys, "model", "evaluate", model_id, "--resamples", "20", "--json")
    assert code == 0, err
    assert json.loads(out)["metrics"]["roc_auc"] == pytest.approx(imported["metrics"]["roc_auc"])
    assert run(capsys, "onchain", "deploy", model_id, "--no-attach")[0] == 0
    code, out, err = run(capsys, "onchain", "check", model_id, "--rows", "40", "--json")
    assert code == 0, err
    assert set(json.loads(out)["parts"]) == {"validation", "test"}  # its own split, found again
