"""``chainml model train|evaluate|export`` end to end on a CSV, and their bad-input exits."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from chainml.models import export
from chainml.models.artifacts import list_models
from tests.cli.test_cli import flat, isolated, run  # noqa: F401  (isolated is an autouse fixture)
from tests.models.synthetic import synthetic_dataset


@pytest.fixture
def csv_file(tmp_path: Path) -> Path:
    dataset = synthetic_dataset(rows=2500)
    assert dataset.order is not None
    path = tmp_path / "payments.csv"
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["t", *dataset.feature_names, "fraud"])
        for t, row, label in zip(dataset.order, dataset.features, dataset.labels, strict=True):
            writer.writerow([repr(float(t)), *map(repr, row.tolist()), int(label)])
    return path


def _train(capsys, data: str, csv_file: Path, *extra: str) -> tuple[int, str, str]:
    return run(
        capsys, "--data-dir", data, "model", "train", "--data", str(csv_file), "--target", "fraud",
        "--order", "t", "--resamples", "50", *extra,
    )  # fmt: skip


def test_train_evaluate_export(capsys, tmp_path: Path, csv_file: Path) -> None:
    data = str(tmp_path / "data")
    code, out, err = _train(capsys, data, csv_file, "--kind", "lr", "--seed", "3")
    assert code == 0, err
    text = flat(out)
    assert "PR-AUC" in text and "stored in" in text and "threshold (f1)" in text
    [model] = list_models(Path(data))
    assert model.model_id in text and model.kind == "logistic_regression"

    code, out, err = run(capsys, "--data-dir", data, "model", "evaluate", model.model_id, "--json")
    assert code == 0, err
    result = json.loads(out)
    assert result["rows_used"] == "test split of the training data"
    assert result["metrics"]["pr_auc"] == pytest.approx(model.pr_auc)

    target = tmp_path / "export"
    code, out, err = run(
        capsys, "--data-dir", data, "model", "export", model.model_id[:10], "-o", str(target)
    )
    assert code == 0, err
    assert sorted(p.name for p in target.iterdir()) == [
        "card.json",
        "card.md",
        "model.onnx",
        "policy.json",
        "pr_curve.png",
    ]
    assert "verified" in flat(out)
    # the exported files re-derive the model id: it covers the ONNX graph and the policy
    onnx_bytes, policy = (target / "model.onnx").read_bytes(), (target / "policy.json").read_bytes()
    assert export.model_id(onnx_bytes, policy) == model.model_id
    assert result["threshold"]["integer"] == json.loads(policy)["threshold_int"]


def test_train_all_kinds_as_json(capsys, tmp_path: Path, csv_file: Path) -> None:
    data = str(tmp_path / "data")
    code, out, err = _train(capsys, data, csv_file, "--preset", "compact", "--json")
    assert code == 0, err
    rows = json.loads(out)
    assert [r["kind"] for r in rows] == ["lr", "lgbm", "mlp"]
    assert len({r["model_id"] for r in rows}) == 3 and all(r["new"] for r in rows)
    code, out, _ = _train(capsys, data, csv_file, "--preset", "compact", "--kind", "lgbm", "--json")
    assert code == 0 and json.loads(out)[0]["new"] is False  # same data and seed: same id


def test_bad_input_exits_2_or_3(capsys, tmp_path: Path, csv_file: Path) -> None:
    data = str(tmp_path / "data")
    code, _, err = run(capsys, "--data-dir", data, "model", "evaluate", "0x" + "ab" * 32)
    assert code == 2 and "no model" in err
    code, _, err = _train(capsys, data, csv_file, "--kind", "svm")
    assert code == 2 and "--kind" in err
    code, _, err = _train(capsys, data, csv_file, "--threshold-rule", "best")
    assert code == 2 and "threshold rule" in err
    code, _, err = _train(capsys, data, csv_file, "--param", "C=0.1")
    assert code == 2 and "single --kind" in err

    code, out, err = _train(capsys, data, csv_file, "--kind", "lr", "--json")
    assert code == 0, err
    model_id = json.loads(out)[0]["model_id"]
    narrow = tmp_path / "narrow.csv"
    lines = csv_file.read_text().splitlines()
    narrow.write_text(
        "\n".join(",".join(line.split(",")[:-2] + line.split(",")[-1:]) for line in lines) + "\n"
    )
    code, _, err = run(
        capsys, "--data-dir", data, "model", "evaluate", model_id, "--data", str(narrow),
        "--target", "fraud", "--order", "t",
    )  # fmt: skip
    assert code == 2 and "f5: the schema needs this column; the file lacks it" in flat(err)

    onnx_file = Path(data) / "models" / model_id / "model.onnx"
    onnx_file.write_bytes(onnx_file.read_bytes() + b"\x00")
    code, _, err = run(
        capsys, "--data-dir", data, "model", "export", model_id, "-o", str(tmp_path / "x")
    )
    assert code == 3 and "model.onnx" in err
    assert not (tmp_path / "x").exists()
