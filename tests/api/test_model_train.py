"""``chainml.Model.train_each``: what ``chainml model train`` runs — one split, all or nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

import chainml
from chainml.errors import InvalidInputError
from chainml.models.artifacts import list_models
from chainml.models.tabular import content_key, schema_path
from tests.api.loans import write_loans_csv

KINDS = ("lr", "lgbm")
FAST = {"preset": "compact"}


class StopTrainingError(RuntimeError):
    """Raised by the progress hook to stop training half way."""


def test_train_each_stores_every_kind_or_none(tmp_path: Path) -> None:
    write_loans_csv(tmp_path / "loans.csv", rows=500)
    data_dir = tmp_path / "data"
    dataset = chainml.Dataset.from_csv(
        tmp_path / "loans.csv", target="label", positive="bad", data_dir=data_dir
    )
    stored_schema = schema_path(data_dir, content_key(tmp_path / "loans.csv"))

    def stop_at_lightgbm(description: str):  # the progress hook of the second kind raises
        if "lightgbm" in description:
            raise StopTrainingError(description)
        return lambda done, total: None

    with pytest.raises(StopTrainingError):
        chainml.Model.train_each(dataset, KINDS, resamples=20, steps=stop_at_lightgbm, **FAST)
    assert list_models(data_dir) == [] and not stored_schema.exists()  # the lr model is gone

    models = chainml.Model.train_each(dataset, KINDS, resamples=20, **FAST)
    assert [m.kind for m in models] == ["logistic_regression", "lightgbm"]
    assert all(m.new for m in models)
    assert {s.model_id for s in list_models(data_dir)} == {m.model_id for m in models}
    assert stored_schema.exists()
    splits = [m.card["dataset"]["split"] for m in models]
    assert splits[0] == splits[1]  # one split for every kind
    evaluated = models[0].evaluate(resamples=20)  # the card's dataset, read again
    assert evaluated["metrics"]["roc_auc"] == pytest.approx(
        models[0].card["metrics"]["test"]["roc_auc"]
    )

    with pytest.raises(InvalidInputError, match="single kind"):
        chainml.Model.train_each(dataset, ("lr", "mlp"), params={"C": 1.0})
    with pytest.raises(InvalidInputError, match="kind must be one of"):
        chainml.Model.train_each(dataset, ("lr", "svm"))
