"""``chainml.Model.import_``: a model trained elsewhere, judged on a dataset from a raw CSV."""

from __future__ import annotations

from pathlib import Path

import numpy as np

import chainml
from tests.api.loans import write_loans_csv


def test_a_booster_trained_elsewhere_imports_through_the_python_api(tmp_path: Path) -> None:
    import lightgbm

    write_loans_csv(tmp_path / "loans.csv")
    dataset = chainml.Dataset.from_csv(
        tmp_path / "loans.csv", target="label", positive="bad", data_dir=tmp_path / "data"
    )
    booster = lightgbm.train(
        {"objective": "binary", "verbosity": -1, "num_leaves": 7},
        lightgbm.Dataset(dataset.X, dataset.y, feature_name=list(dataset.feature_names)), 20,
    )  # fmt: skip
    booster.save_model(str(tmp_path / "booster.txt"))

    model = chainml.Model.import_(tmp_path / "booster.txt", dataset)

    assert model.new and model.card["imported"]["format"] == "lightgbm text"
    expected = booster.predict(dataset.X)
    assert np.max(np.abs(model.predict_proba(dataset.X)[:, 1] - expected)) <= 1e-5
    again = chainml.Model.import_(tmp_path / "booster.txt", dataset)
    assert again.model_id == model.model_id and not again.new


def test_a_pipeline_over_raw_text_columns_imports_and_logs_raw_records(tmp_path: Path) -> None:
    """The Python twin of the CLI path: the encoder's named columns come from the CSV's cells,
    and the decision log takes raw records of those columns."""
    import pandas as pd
    import skops.io
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder

    write_loans_csv(tmp_path / "loans.csv", rows=400)
    frame = pd.read_csv(tmp_path / "loans.csv", dtype=str, keep_default_na=False)
    pipeline = make_pipeline(OneHotEncoder(handle_unknown="ignore"), LogisticRegression())
    pipeline.fit(frame[["purpose", "housing"]], frame["label"] == "bad")
    skops.io.dump(pipeline, tmp_path / "mine.skops")
    dataset = chainml.Dataset.from_csv(
        tmp_path / "loans.csv", target="label", positive="bad", data_dir=tmp_path / "data"
    )
    model = chainml.Model.import_(tmp_path / "mine.skops", dataset, resamples=20)
    assert model.card["imported"]["encoding"]["columns"] == ["purpose", "housing"]
    raw = {"purpose": "tv", "housing": "own"}
    with chainml.DecisionLog(tmp_path / "data", durability="normal") as log:
        [decided] = log.append(model, [raw])
    expected = pipeline.predict_proba(pd.DataFrame([raw]))[0, 1]
    assert abs(model.predict_proba([decided.features])[0, 1] - expected) < 1e-9
