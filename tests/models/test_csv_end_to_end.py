"""A raw CSV (categories, text labels, blanks, sorted by class) through the CLI: schema, train.

The file has no time column and is sorted by its label, so only a shuffled split can train on
it; the card must show the encoding and the split, and a failed run must leave nothing behind.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

from chainml.models.artifacts import list_models, load_model
from tests.cli.test_cli import flat, isolated, run  # noqa: F401  (isolated is an autouse fixture)


def raw_csv(path: Path, rows: int = 600) -> Path:
    rng = random.Random(7)
    lines = []
    for _ in range(rows):
        status = rng.choice(["... < 0 DM", "0 <= ... < 200 DM", "no checking account"])
        purpose = rng.choice(["car (new)", "radio/TV", "education", "business"])
        amount = rng.lognormvariate(7.5, 0.8)
        owner = rng.choice(["yes", "no", ""])  # blanks too
        age = "" if rng.random() < 0.1 else str(rng.randint(19, 75))
        risk = (status == "... < 0 DM") * 1.2 + (amount > 4000) * 0.8 + rng.gauss(0, 0.7) > 1.0
        lines.append((f"{status},{purpose},{amount:.0f},{owner},{age}", "bad" if risk else "good"))
    lines.sort(key=lambda line: line[1])  # every "bad" row first: a class-sorted file
    header = "status of checking account,purpose,credit amount,home owner,age,creditability\n"
    path.write_text(header + "".join(f"{cells},{label}\n" for cells, label in lines))
    return path


def test_a_raw_csv_trains_with_zero_preprocessing(capsys, tmp_path: Path) -> None:
    data = str(tmp_path / "data")
    csv_path = raw_csv(tmp_path / "german.csv")
    base = ("--data-dir", data, "model", "train", "--data", str(csv_path),
            "--target", "creditability", "--resamples", "50")  # fmt: skip

    code, out, err = run(capsys, "data", "schema", str(csv_path), "--target", "creditability")
    assert code == 2 and "--positive VALUE" in err  # text labels: which one is class 1?
    code, out, err = run(capsys, "data", "schema", str(csv_path), "--target", "creditability",
                         "--positive", "bad", "--json")  # fmt: skip
    assert code == 0, err
    kinds = {c["name"]: c["kind"] for c in json.loads(out)["columns"]}
    assert kinds["purpose"] == "categorical" and kinds["home owner"] == "boolean"

    # a failed run (the second kind has an unknown preset) leaves no model and no schema
    code, _, err = run(capsys, *base, "--positive", "bad", "--preset", "huge")
    assert code == 2 and "unknown preset 'huge'" in err
    assert list_models(Path(data)) == []
    assert not (tmp_path / "data" / "datasets").exists() or not any(
        (tmp_path / "data" / "datasets").iterdir()
    )

    code, out, err = run(
        capsys, *base, "--positive", "bad", "--kind", "lr", "--labels", "deny,grant"
    )
    assert code == 0, err
    text = flat(out)
    assert "split stratified" in text and "in time" not in text and "fraud" not in text
    [summary] = list_models(Path(data))
    model = load_model(Path(data), summary.model_id)
    card = model.card
    assert card["dataset"]["split"]["method"] == "stratified"
    assert card["use"] == {"name": "screening", "decisions": {"1": "deny", "0": "grant"},
                           "positive_label": "bad"}  # fmt: skip
    assert model.schema is not None and model.feature_names == model.schema.feature_names
    assert card["dataset"]["preprocessing"]["digest"] == model.schema.digest()
    assert "purpose=(other)" in model.feature_names and "age (missing)" in model.feature_names
    markdown = (model.path / "card.md").read_text()
    assert "stratified (seed 0)" in markdown and "onehot, 4 categories + (other)" in markdown
    assert card["metrics"]["test"]["roc_auc"] > 0.7  # the planted signal is learned

    # the service's path: a raw record with text categories and a blank scores like the CSV row
    raw = {"status of checking account": "... < 0 DM", "purpose": "spaceship",
           "credit amount": "9000", "home owner": None, "age": ""}  # fmt: skip
    features = model.schema.encode_record(raw)
    assert model.decide([features]).tolist() == [True]  # a risky unknown purpose: class 1

    code, out, err = run(capsys, "--data-dir", data, "model", "evaluate", summary.model_id,
                         "--json")  # fmt: skip
    assert code == 0, err
    assert json.loads(out)["metrics"]["pr_auc"] == summary.pr_auc  # the recorded split, redone

    code, out, err = run(capsys, "--data-dir", data, "model", "list", "--offline", "--json")
    [listed] = json.loads(out)
    assert code == 0 and listed["dataset"] == "german" and listed["use"] == "screening"
    assert listed["trained_at"] == card["trained_at"] and listed["preset"] is None
