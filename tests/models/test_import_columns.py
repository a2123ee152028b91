"""Imported scikit-learn preprocessing: ColumnTransformer pipelines and OneHotEncoders of any type.

The models are fitted here, on a CSV read by pandas as its owner would read it (integers stay
integers, blanks become NaN), saved with skops and imported; chainml's scores must be the
library's within 1e-5 on every row, with the same decisions at the threshold.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import chainml
from chainml.errors import InvalidInputError
from chainml.models import export
from chainml.models.importers.encoding import ColumnEncoding
from chainml.models.importers.sklearn_columns import (
    UnsupportedTransformerError,
    column_transformer,
    frame,
    one_hot_encoder,
)
from chainml.models.importing import IMPORT_TOLERANCE
from tests.cli.test_cli import flat, isolated, run  # noqa: F401  (isolated is an autouse fixture)

PURPOSES = ["car", "tv", "education", "business", "repairs", "yacht", ""]


def write_credit_csv(path: Path, rows: int = 1500, seed: int = 0, blanks: bool = False) -> None:
    """Text categories with blanks and a rare value, an integer-coded grade, two numbers
    (``blanks``: every 37th amount blank)."""
    rng = np.random.default_rng(seed)
    amount = rng.gamma(2.0, 1500.0, rows)
    age = rng.integers(19, 75, rows)
    purpose = rng.choice(PURPOSES, rows, p=[0.3, 0.25, 0.2, 0.12, 0.08, 0.01, 0.04])
    housing = rng.choice(["own", "rent", "free"], rows, p=[0.6, 0.3, 0.1])
    grade = rng.integers(1, 6, rows)
    logit = (
        0.0004 * (amount - 3000) - 0.04 * (age - 40) - 1.0 + 0.3 * (grade - 3)
        + np.select([purpose == "education", purpose == "tv"], [1.2, -0.8], 0.0)
        + np.where(housing == "rent", 0.9, 0.0)
    )  # fmt: skip
    bad = rng.random(rows) < 1 / (1 + np.exp(-logit))
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["amount", "age", "purpose", "housing", "grade", "label"])
        for i in range(rows):
            cash = "" if blanks and i % 37 == 0 else f"{amount[i]:.2f}"
            writer.writerow([cash, age[i], purpose[i], housing[i], grade[i],
                             "bad" if bad[i] else "good"])  # fmt: skip


def _pipeline(*transformers: tuple[str, Any, list[str]], remainder: str = "drop") -> Any:
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    return make_pipeline(
        ColumnTransformer(list(transformers), remainder=remainder),
        LogisticRegression(C=0.5, max_iter=2000),
    )


def _fit_and_dump(pipeline: Any, csv_path: Path, out: Path) -> tuple[Any, Any, list[str]]:
    """Fit on the CSV as pandas reads it; save with skops; return the types to trust."""
    import pandas as pd
    import skops.io

    frame = pd.read_csv(csv_path)
    x = frame.drop(columns="label")
    pipeline.fit(x, frame["label"] == "bad")
    skops.io.dump(pipeline, out)
    return pipeline, frame, skops.io.get_untrusted_types(file=out)


@pytest.fixture(scope="module")
def credit(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("credit") / "credit.csv"
    write_credit_csv(path)
    return path


def test_a_column_transformer_pipeline_scores_as_scikit_learn(credit: Path, tmp_path: Path) -> None:
    """The issue's round trip: OneHotEncoder(infrequent_if_exist) on text and integer columns,
    StandardScaler on numbers; every row within 1e-5 (native and ONNX), the same decisions."""
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    encoder = OneHotEncoder(handle_unknown="infrequent_if_exist", min_frequency=30)
    pipeline = _pipeline(
        ("cat", encoder, ["purpose", "housing", "grade"]),
        ("num", StandardScaler(), ["amount", "age"]),
    )
    pipeline, frame, trusted = _fit_and_dump(pipeline, credit, tmp_path / "ct.skops")
    dataset = chainml.Dataset.from_csv(
        credit, target="label", positive="bad", data_dir=tmp_path / "data"
    )
    model = chainml.Model.import_(
        tmp_path / "ct.skops", dataset, trust=tuple(trusted), resamples=20
    )

    names = model.feature_names
    assert "purpose=(infrequent)" in names and "purpose=(missing)" in names  # yacht is rare
    assert "grade=3" in names and names[-2:] == ("amount", "age")  # numbers in their own units
    encoded = model.dataset()  # the CSV read again through the card's encoding
    expected = pipeline.predict_proba(frame.drop(columns="label"))[:, 1]
    assert (encoded.y == (frame["label"] == "bad")).all()  # the same rows, in the same order
    got = model.predict_proba(encoded.X)[:, 1]
    assert np.max(np.abs(got - expected)) <= IMPORT_TOLERANCE
    onnx = export.onnx_probabilities(model.artifact.onnx_bytes, encoded.X)
    assert np.max(np.abs(onnx - expected)) <= IMPORT_TOLERANCE
    threshold = model.card["threshold"]["probability"]
    decisions = model.predict(encoded.X)
    assert (decisions == (expected >= threshold)).all() and 0 < decisions.sum() < len(decisions)
    assert model.onchain_status()[0]
    assert model.evaluate(resamples=20)["metrics"]["rows"] > 0  # its own test split again

    # raw records as the service takes them: text cells, an unknown purpose -> infrequent
    import pandas as pd

    raw = {"amount": "5120.5", "age": "33", "purpose": "spaceship", "housing": "rent",
           "grade": "4"}  # fmt: skip
    with chainml.DecisionLog(tmp_path / "data", durability="normal") as log:
        [decided] = log.append(model, [raw])
    library = pipeline.predict_proba(
        pd.DataFrame([{**raw, "amount": 5120.5, "age": 33, "grade": 4}])
    )[0, 1]
    scales = np.array([float(spec.scale) for spec in model.artifact.policy.model.inputs])
    logged = np.asarray(decided.features, dtype=np.float64) / scales  # the integer features
    assert abs(model.predict_proba([logged])[0, 1] - library) <= IMPORT_TOLERANCE
    assert decided.label == int(library >= threshold)


def test_the_cli_imports_a_column_transformer_and_refuses_what_it_cannot_represent(
    capsys: pytest.CaptureFixture[str], credit: Path, tmp_path: Path
) -> None:
    from sklearn.preprocessing import KBinsDiscretizer, MinMaxScaler, OneHotEncoder

    _, _, trusted = _fit_and_dump(
        _pipeline(
            ("cat", OneHotEncoder(handle_unknown="ignore", drop="first"), ["purpose", "grade"]),
            ("scaled", MinMaxScaler(), ["amount"]),
            ("age", "passthrough", ["age"]),
        ),
        credit, tmp_path / "ok.skops",
    )  # fmt: skip
    data = ("--data", str(credit), "--target", "label", "--positive", "bad", "--resamples", "20")
    trust = [arg for name in trusted for arg in ("--trust", name)]
    code, out, err = run(capsys, "model", "import", str(tmp_path / "ok.skops"), *data, *trust,
                         "--json")  # fmt: skip
    assert code == 0, err
    imported = json.loads(out)
    assert imported["onchain"] and imported["imported"]["parity_with_library"][
        "max_abs_diff_probability"] <= IMPORT_TOLERANCE  # fmt: skip
    assert imported["imported"]["encoding"]["columns"] == ["purpose", "grade", "amount", "age"]
    code, out, err = run(capsys, "model", "evaluate", imported["model_id"], "--resamples", "20",
                         "--json")  # fmt: skip
    assert code == 0, err
    assert json.loads(out)["metrics"]["roc_auc"] == pytest.approx(imported["metrics"]["roc_auc"])

    _, _, trusted = _fit_and_dump(
        _pipeline(
            ("cat", OneHotEncoder(), ["housing"]),
            ("bins", KBinsDiscretizer(n_bins=4, encode="onehot-dense"), ["amount", "age"]),
        ),
        credit, tmp_path / "bins.skops",
    )  # fmt: skip
    trust = [arg for name in trusted for arg in ("--trust", name)]
    code, _, err = run(capsys, "--data-dir", str(tmp_path / "other"), "model", "import",
                       str(tmp_path / "bins.skops"), *data, *trust)  # fmt: skip
    assert code == 2
    message = flat(err)
    assert "'bins' (KBinsDiscretizer)" in message and "amount, age" in message
    assert not (tmp_path / "other" / "models").exists()  # nothing stored


def test_unsupported_transformers_are_a_typed_error_naming_transformer_and_columns() -> None:
    import pandas as pd
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.preprocessing import MinMaxScaler, PolynomialFeatures

    frame = pd.DataFrame({"a": [1.0, 2.0, 3.0, 4.0], "b": [0.5, 1.0, 2.0, 3.0]})
    for step, reason in (
        (SimpleImputer(add_indicator=True), "no indicator"),
        (MinMaxScaler(clip=True), "clip=True"),
        (PolynomialFeatures(), "not PolynomialFeatures"),
    ):
        fitted = ColumnTransformer([("fix", step, ["a"]), ("keep", "passthrough", ["b"])])
        fitted.fit(frame)
        with pytest.raises(UnsupportedTransformerError, match=reason) as caught:
            column_transformer(fitted, ("a", "b"))
        assert caught.value.transformer.startswith("'fix'") and caught.value.columns == ["a"]
        assert isinstance(caught.value, InvalidInputError) and caught.value.exit_code == 2


def test_imputers_in_a_column_transformer_fill_blank_cells_as_scikit_learn(
    tmp_path: Path,
) -> None:
    """SimpleImputer alone and first in nested pipelines: blank numbers and blank categories
    take the imputer's learned values, in chainml as in scikit-learn."""
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    write_credit_csv(tmp_path / "blanks.csv", rows=800, blanks=True)
    pipeline, frame, trusted = _fit_and_dump(
        _pipeline(
            ("amount", make_pipeline(SimpleImputer(strategy="median"), StandardScaler()),
             ["amount"]),
            ("purpose", make_pipeline(SimpleImputer(strategy="most_frequent"),
                                      OneHotEncoder(handle_unknown="ignore")), ["purpose"]),
            ("age", SimpleImputer(strategy="mean"), ["age"]),
        ),
        tmp_path / "blanks.csv", tmp_path / "imputed.skops",
    )  # fmt: skip
    assert frame["amount"].isna().sum() > 0 and frame["purpose"].isna().sum() > 0
    dataset = chainml.Dataset.from_csv(
        tmp_path / "blanks.csv", target="label", positive="bad", data_dir=tmp_path / "data"
    )
    model = chainml.Model.import_(
        tmp_path / "imputed.skops", dataset, trust=tuple(trusted), resamples=20
    )
    blocks = model.card["imported"]["encoding"]["blocks"]
    assert blocks[0]["fill"] == pytest.approx(frame["amount"].median())
    assert blocks[1]["imputed"] and blocks[1]["fill"] == frame["purpose"].mode()[0]
    expected = pipeline.predict_proba(frame.drop(columns="label"))[:, 1]
    encoded = model.dataset()
    assert np.max(np.abs(model.predict_proba(encoded.X)[:, 1] - expected)) <= IMPORT_TOLERANCE
    threshold = model.card["threshold"]["probability"]
    assert (model.predict(encoded.X) == (expected >= threshold)).all()


def _encoder_cases() -> list[tuple[str, Any, dict[str, Any]]]:
    """(name, training column, OneHotEncoder options): numbers, NaN, None, mixed objects."""
    rng = np.random.default_rng(3)
    ints = rng.integers(0, 6, 300)
    floats = np.where(rng.random(300) < 0.1, np.nan, rng.choice([0.5, 1.0, 2.25], 300))
    words = rng.choice(["a", "b", "c", "rare"], 300, p=[0.5, 0.3, 0.18, 0.02]).astype(object)
    words[rng.random(300) < 0.1] = None
    py_ints = np.array([int(v) for v in ints], dtype=object)  # an object column of Python ints
    return [
        ("ints", ints, {"handle_unknown": "ignore"}),
        ("ints-infrequent", ints, {"handle_unknown": "infrequent_if_exist", "max_categories": 3}),
        ("ints-drop-first", ints, {"handle_unknown": "ignore", "drop": "first"}),
        ("floats-nan", floats, {"handle_unknown": "ignore"}),
        ("words-none", words, {"handle_unknown": "infrequent_if_exist", "min_frequency": 10}),
        (
            "words-drop-b",
            words,
            {"handle_unknown": "infrequent_if_exist", "min_frequency": 10, "drop": ["b"]},
        ),
        ("object-ints", py_ints, {"handle_unknown": "error"}),
    ]


@pytest.mark.parametrize("case", _encoder_cases(), ids=lambda case: case[0])
def test_one_hot_categories_compare_as_the_encoder_compares_them(case) -> None:
    """CSV text cells ('3', '3.0', blanks, unseen values) encode as the encoder encodes the
    values pandas reads from them, whatever type the encoder was fitted on."""
    import warnings

    from sklearn.preprocessing import OneHotEncoder

    _, column, options = case
    encoder = OneHotEncoder(**options).fit(column.reshape(-1, 1))
    encoding, _ = one_hot_encoder(encoder, ("c",))
    numeric = column.dtype.kind in "if" or isinstance(column[0], int)
    assert encoding.one_hot[0].numeric == numeric
    known = [v for v in encoder.categories_[0] if v is not None and v == v]
    cells = [str(v) for v in known]  # every known value as CSV text
    if numeric:
        cells += [f"{float(v)}" for v in known]  # "3.0" is the category 3
    if options["handle_unknown"] != "error":
        cells += ["", "99" if numeric else "never-seen"]  # a blank, an unseen value
    rows = np.array(cells, dtype=object).reshape(-1, 1)
    ours = encoding.transform(rows)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "found unknown categories"
        library = encoder.transform(frame(encoding, rows, named=False))
    library = library.toarray() if hasattr(library, "toarray") else library
    assert ours.shape[1] == len(encoding.feature_names) and np.array_equal(ours, library)
    again = ColumnEncoding.from_document(json.loads(json.dumps(encoding.document())))
    assert np.array_equal(again.transform(rows), ours)


def test_an_encoder_that_refuses_unknowns_names_every_bad_column() -> None:
    from sklearn.preprocessing import OneHotEncoder

    encoder = OneHotEncoder(handle_unknown="error").fit(
        np.array([[1, "x"], [2, "y"]], dtype=object)
    )
    encoding, _ = one_hot_encoder(encoder, ("n", "t"))
    assert encoding.transform([["2.0", "y"]]).tolist() == [[0.0, 1.0, 0.0, 1.0]]
    with pytest.raises(InvalidInputError) as caught:
        encoding.transform([["3", "z"], ["one", "x"]])
    assert "n:" in str(caught.value) and "t:" in str(caught.value)  # both columns at once


def test_a_first_format_card_encoding_still_reads() -> None:
    """Cards written before ColumnEncoding recorded ``method: one-hot`` with text categories."""
    document = {"method": "one-hot", "columns": ["colour"], "categories": [["blue", "red"]],
                "unknown": "all zeros", "features": ["colour=blue", "colour=red"]}  # fmt: skip
    encoding = ColumnEncoding.from_document(document)
    assert encoding.feature_names == ("colour=blue", "colour=red")
    assert encoding.transform([["red"], ["green"]]).tolist() == [[0.0, 1.0], [0.0, 0.0]]
