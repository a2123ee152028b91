"""Benchmark: importing models trained elsewhere, against training the same kind in chainml.

On simulated payments (integer features) and on a generated table of raw categories, it trains
outside chainml a scikit-learn ``Pipeline(OneHotEncoder, LogisticRegression)`` (saved with
skops), a LightGBM Booster (text), an XGBoost model (UBJSON) and a skl2onnx linear classifier
(ONNX), each on the data's first 72% in time, imports each with
:func:`chainml.models.importing.import_model`, and reports per model, on the test split:

* max |p_chainml - p_library| (chainml's float64 evaluator) and max |p_onnx - p_library| (the
  stored ONNX file in onnxruntime); the issue's bar is 1e-5;
* agreement of the decision of record (the integer model) with the library's own probability
  at the threshold; the bar is 100%;
* whether the model compiles on chain, and the import time.

Baseline: ``chainml model train`` of the nearest kind (``lr``; ``lgbm --preset compact``) on the
same numeric data, timed the same way; the ratio is import seconds / training seconds.

Run: ``.venv/bin/python benchmarks/model_import.py [--rows N] [--trees N] [--json PATH]``.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.table import Table

from chainml.models import export
from chainml.models.importers.encoding import OneHotEncoding
from chainml.models.importing import InputTable, import_model
from chainml.models.simulator import simulate_payments
from chainml.models.split import time_split
from chainml.models.train import train_model

DEFAULT_JSON = Path(__file__).parent / "results" / "model_import.json"


def _raw_table(rows: int, seed: int = 0) -> InputTable:
    rng = np.random.default_rng(seed)
    values = {"merchant": [f"m{i}" for i in range(12)], "country": ["DE", "FR", "US", "BR"],
              "channel": ["web", "pos", "app"]}  # fmt: skip
    raw = np.column_stack([rng.choice(v, rows) for v in values.values()]).astype(object)
    signal = ((raw[:, 0] == "m3") * 1.5 + (raw[:, 1] == "BR") - (raw[:, 2] == "pos") * 0.8
              + rng.normal(size=rows))  # fmt: skip
    labels = (signal > np.quantile(signal, 0.9)).astype(np.int8)
    return InputTable("categories", tuple(values), raw, labels)


def _fit_rows(table: InputTable) -> int:
    return round(len(table.labels) * 0.8 * 0.9)  # the split's fit part (row order)


def _models(raw: InputTable, numbers: InputTable, trees: int, files: Path) -> list[Any]:
    """(name, file, table, library probability) of each model trained outside chainml."""
    import lightgbm
    import skops.io
    import xgboost
    from skl2onnx import to_onnx
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    n_raw, n = _fit_rows(raw), _fit_rows(numbers)
    x, y = numbers.values[:n], numbers.labels[:n]
    pipeline = make_pipeline(OneHotEncoder(handle_unknown="ignore"), LogisticRegression())
    pipeline.fit(raw.values[:n_raw], raw.labels[:n_raw])
    skops.io.dump(pipeline, files / "pipeline.skops")
    params = {"objective": "binary", "num_leaves": 15, "max_depth": 4, "verbosity": -1,
              "num_threads": 1}  # fmt: skip
    booster = lightgbm.train(params, lightgbm.Dataset(x, y), trees)
    booster.save_model(str(files / "booster.txt"))
    xgb = xgboost.XGBClassifier(n_estimators=trees, max_depth=4, n_jobs=1).fit(x, y)
    xgb.save_model(str(files / "xgb.ubj"))
    linear = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000)).fit(x, y)
    (files / "linear.onnx").write_bytes(
        to_onnx(linear, x[:1].astype(np.float32)).SerializeToString()
    )

    def proba(model: Any) -> Callable[[np.ndarray], np.ndarray]:
        return lambda rows: np.asarray(model.predict_proba(rows)[:, 1])

    return [
        ("sklearn Pipeline(OneHotEncoder, LR)", "pipeline.skops", raw, proba(pipeline), None),
        (f"LightGBM Booster ({trees} trees)", "booster.txt", numbers, booster.predict, "lgbm"),
        (f"XGBoost ({trees} trees)", "xgb.ubj", numbers, proba(xgb), "lgbm"),
        ("ONNX Scaler + LinearClassifier", "linear.onnx", numbers, proba(linear), "lr"),
    ]


def _training_seconds(numbers: InputTable, kind: str) -> float:
    from chainml.models.dataset import Dataset

    dataset = Dataset("numbers", np.asarray(numbers.values, np.float64), numbers.labels,
                      numbers.columns)  # fmt: skip
    params = {"preset": "compact"} if kind == "lgbm" else {}
    start = time.perf_counter()
    train_model(dataset, kind, params=params, resamples=200)
    return time.perf_counter() - start


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Run the benchmark; print the table and write the JSON document."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--trees", type=int, default=50)
    parser.add_argument("--json", type=Path, default=DEFAULT_JSON)
    args = parser.parse_args(argv)
    numbers_data = simulate_payments(args.rows, seed=3).dataset()
    numbers = InputTable.from_dataset(numbers_data)
    numbers = InputTable(numbers.name, numbers.columns, numbers.values, numbers.labels)
    raw = _raw_table(args.rows)
    baselines = {kind: _training_seconds(numbers, kind) for kind in ("lr", "lgbm")}
    results = []
    with tempfile.TemporaryDirectory() as scratch:
        files = Path(scratch)
        for name, file, table, library, baseline in _models(raw, numbers, args.trees, files):
            start = time.perf_counter()
            result = import_model(str(files / file), table, files / "data", resamples=200)
            seconds = time.perf_counter() - start
            artifact = result.artifact
            encoding = artifact.card["imported"]["encoding"]
            features = (OneHotEncoding.from_document(encoding).transform(table.values)
                        if encoding else np.asarray(table.values, np.float64))  # fmt: skip
            test = time_split(artifact_dataset(table, features)).test.rows
            rows, x = table.values[-test:], features[-test:]
            expected = library(rows)
            decided = artifact.decide(x)
            threshold = artifact.card["threshold"]["probability"]
            results.append({
                "model": name, "test_rows": int(test),
                "max_dp_chainml": float(np.max(np.abs(artifact.predict_proba(x) - expected))),
                "max_dp_onnx": float(np.max(np.abs(
                    export.onnx_probabilities(artifact.onnx_bytes, x) - expected))),
                "decision_agreement": float(np.mean(decided == (expected >= threshold))),
                "onchain": result.onchain, "onchain_reason": result.onchain_reason,
                "import_seconds": seconds,
                "baseline": f"chainml train {baseline}" if baseline else None,
                "baseline_seconds": baselines[baseline] if baseline else None,
            })  # fmt: skip
    table_out = Table(title=f"Model import ({args.rows:,} rows; bar: |dp| <= 1e-5, 100% agreement)")
    for column in ("model", "max |dp| chainml", "max |dp| ONNX", "decisions", "on chain",
                   "import s", "baseline", "ratio"):  # fmt: skip
        table_out.add_column(column, justify="left" if column in ("model", "baseline") else "right")
    for r in results:
        ratio = f"{r['import_seconds'] / r['baseline_seconds']:.2f}" if r["baseline"] else "-"
        base = f"{r['baseline']} {r['baseline_seconds']:.1f} s" if r["baseline"] else "-"
        table_out.add_row(
            r["model"], f"{r['max_dp_chainml']:.2g}", f"{r['max_dp_onnx']:.2g}",
            f"{100 * r['decision_agreement']:.2f}%", "yes" if r["onchain"] else "log only",
            f"{r['import_seconds']:.1f}", base, ratio,
        )  # fmt: skip
    Console(width=160).print(table_out)
    document = {"rows": args.rows, "trees": args.trees, "results": results}
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(document, indent=2) + "\n")
    return document


def artifact_dataset(table: InputTable, features: np.ndarray) -> Any:
    """The dataset the import split (its features, the table's labels and order)."""
    from chainml.models.dataset import Dataset

    names = tuple(f"x{i}" for i in range(features.shape[1]))
    return Dataset(table.name, features, table.labels, names, table.order)


if __name__ == "__main__":
    main()
