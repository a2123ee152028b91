"""A datetime column made a feature: whole hours since 1970, which float32 (ONNX) holds exactly.

Epoch seconds (about 1.7e9) are not float32 numbers: the ONNX graph saw them rounded by up to
64 s, so trees that split between two seconds scored rows differently from the native model
(a LightGBM model on this very data failed its ONNX check by 0.025 in probability).
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

import chainml
from chainml.models import export
from chainml.models.schema import Schema, SchemaError

ROWS = 3000


@pytest.fixture(scope="module")
def drifting(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, np.ndarray]:
    """A CSV whose label drifts with time (seconds over a year) plus one plain feature."""
    folder = tmp_path_factory.mktemp("drift")
    rng = np.random.default_rng(1)
    times = np.sort(1.70e9 + rng.integers(0, 365 * 86400, ROWS))
    x = rng.normal(size=ROWS)
    p = 1 / (1 + np.exp(-(x + 2 * np.sin((times - 1.7e9) / 86400 / 30)) + 1))
    labels = rng.random(ROWS) < p
    with (folder / "drift.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["when", "x", "label"])
        for i in range(ROWS):
            writer.writerow([int(times[i]), f"{x[i]:.4f}", int(labels[i])])
    (folder / "drift.toml").write_text("[columns.when]\nfeature = true\n")
    return folder, times


def _load(folder: Path) -> chainml.Dataset:
    return chainml.Dataset.from_csv(
        folder / "drift.csv", target="label", schema=folder / "drift.toml",
        data_dir=folder / "data",
    )  # fmt: skip


def test_a_datetime_feature_is_whole_hours_that_float32_holds_exactly(drifting) -> None:
    folder, times = drifting
    dataset = _load(folder)
    column = dataset.schema.column("when")
    assert (column.kind, column.feature, column.unit) == ("datetime", True, "hours")
    assert dataset.schema.time == "when"  # it still orders the time split, in seconds
    hours = dataset.X[:, dataset.feature_names.index("when")]
    assert np.array_equal(hours, np.floor(times / 3600))
    assert np.array_equal(hours.astype(np.float32).astype(np.float64), hours)  # exact
    assert column.fill == np.round(column.fill)  # a blank is a whole hour too
    assert dataset.schema.encode_record({"when": "1700003599", "x": "0.5"}) == (472223.0, 0.5)
    iso = Schema.from_dict({**dataset.schema.to_dict(), "columns": [
        {**c, "format": "iso"} if c["name"] == "when" else c
        for c in dataset.schema.to_dict()["columns"]
    ], "feature_names": None})  # fmt: skip
    assert iso.encode_record({"when": "2023-11-14T23:00:00Z", "x": "0"})[0] == 472223.0


def test_lightgbm_on_a_datetime_feature_passes_its_onnx_check(drifting) -> None:
    """Trees split on whole hours: the float32 graph and the native model agree."""
    folder, _ = drifting
    dataset = _load(folder)
    model = chainml.Model.train(dataset, "lgbm", split="stratified", resamples=20)
    check = model.card["onnx"]["verification"]
    assert check["max_abs_diff_probability"] <= export.TOLERANCE
    assert "whole hours since 1970-01-01 UTC" in (model.path / "card.md").read_text()
    onnx = export.onnx_probabilities(model.artifact.onnx_bytes, dataset.X)
    assert np.max(np.abs(onnx - model.predict_proba(dataset.X)[:, 1])) <= export.TOLERANCE


def test_a_datetime_feature_in_seconds_is_refused_and_unitless_schemas_keep_their_form(
    drifting,
) -> None:
    folder, _ = drifting
    document = _load(folder).schema.to_dict()
    for column in document["columns"]:
        column.pop("unit", None)  # a schema that feeds the raw seconds
    with pytest.raises(SchemaError, match=r"whole hours since 1970.*float32"):
        Schema.from_dict(document)
    document["columns"] = [
        {**c, "feature": False} if c["name"] == "when" else c for c in document["columns"]
    ]
    document["feature_names"] = None
    plain = Schema.from_dict(document)  # no datetime feature: no unit, the form before units
    assert all("unit" not in column for column in plain.to_dict()["columns"])
