"""``chainml model import``: a model trained elsewhere (scikit-learn, LightGBM, XGBoost, MLflow)."""

from __future__ import annotations

import os
import warnings
from typing import Annotated

import typer
from rich.table import Table

from chainml.cli import console, print_json, settings_of
from chainml.cli.dataset_options import (
    JSON,
    ORDER,
    POSITIVE,
    RESAMPLES,
    ROUND_INPUTS,
    SCHEMA,
    TARGET,
    THRESHOLD_RULE,
)

_MODEL_HELP = (
    "A .skops file (scikit-learn), .txt (LightGBM), .json/.ubj (XGBoost), .onnx (a linear "
    "classifier), or an MLflow URI: "
    "models:/NAME/VERSION or runs:/RUN_ID/PATH."
)


def import_(
    ctx: typer.Context,
    source: Annotated[str, typer.Argument(metavar="PATH_OR_URI", help=_MODEL_HELP)],
    data: Annotated[
        str,
        typer.Option("--data", help="Dataset to judge it on: creditcard | simulated[:N] | CSV."),
    ],
    target: TARGET = None,
    order: ORDER = None,
    positive: POSITIVE = None,
    schema_file: SCHEMA = None,
    split: Annotated[
        str | None,
        typer.Option(
            "--split",
            help="time[:COLUMN] | random | stratified (default: time when the data has a time "
            "column, else stratified).",
        ),
    ] = None,
    trust: Annotated[
        list[str] | None,
        typer.Option(
            "--trust", metavar="TYPE", help="Allow this type in a .skops file; repeatable."
        ),
    ] = None,
    allow_pickle: Annotated[
        bool,
        typer.Option("--allow-pickle", help="Unpickle a .pkl/.joblib file (it can run any code)."),
    ] = False,
    tracking_uri: Annotated[
        str | None,
        typer.Option(
            "--tracking-uri", help="MLflow tracking directory (default: $MLFLOW_TRACKING_URI)."
        ),
    ] = None,
    threshold_rule: THRESHOLD_RULE = "f1",
    resamples: RESAMPLES = 1000,
    round_inputs: ROUND_INPUTS = False,
    as_json: JSON = False,
) -> None:
    """Import a model: check it against its library, place its threshold, evaluate, store it.

    The model is judged on the dataset's test split and stored with the same ONNX file,
    decision policy and card as a trained model; the output says whether it can be compiled
    on chain or only logged. Untrusted types in a .skops file are refused (exit 2).
    """
    from chainml.api.dataset import Dataset
    from chainml.api.model import Model

    if allow_pickle:
        typer.secho(
            "WARNING: --allow-pickle: unpickling can run any code on this machine; use it only "
            "for a file you made yourself",
            err=True, fg="red", bold=True,
        )  # fmt: skip
    dataset = Dataset.load(
        data, target=target, order=order, positive=positive, schema=schema_file,
        data_dir=settings_of(ctx).data_dir,
    )  # fmt: skip
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # the pickle warning was printed above
        model = Model.import_(
            source, dataset, trust=tuple(trust or ()), allow_pickle=allow_pickle,
            tracking_uri=tracking_uri or os.environ.get("MLFLOW_TRACKING_URI"),
            threshold_rule=threshold_rule, resamples=resamples, split=split,
            round_inputs=round_inputs,
        )  # fmt: skip
    onchain, onchain_reason = model.onchain_status()
    card = model.card
    imported = card["imported"]
    if as_json:
        print_json({
            "model_id": model.model_id, "path": str(model.path), "new": model.new,
            "kind": model.kind, "imported": imported, "metrics": card["metrics"]["test"],
            "decision_policy": card["decision_policy"], "onchain": onchain,
            "onchain_reason": onchain_reason,
        })  # fmt: skip
        return
    test = card["metrics"]["test"]
    parity = imported["parity_with_library"]
    out = console()
    out.print(
        f"imported {imported.get('estimator', model.kind)} from {imported['file']} "
        f"({imported['library']}); chainml's evaluator agrees with it within "
        f"{parity['max_abs_diff_probability']:.2g} on {parity['rows']:,} rows"
    )
    table_out = Table(title="Test split")
    for column in ("model", "PR-AUC", "95% interval", "ROC-AUC"):
        table_out.add_column(column, justify="left" if column == "model" else "right")
    interval = test["pr_auc_interval"]
    table_out.add_row(
        model.kind, f"{test['pr_auc']:.4f}", f"{interval['low']:.3f}-{interval['high']:.3f}",
        f"{test['roc_auc']:.4f}",
    )  # fmt: skip
    out.print(table_out)
    policy = card["decision_policy"]
    state = "stored" if model.new else "already stored (unchanged)"
    out.print(
        f"model {model.model_id} {state} in {model.path}\n"
        f"    threshold ({policy['rule']}): integer {policy['threshold_int']} "
        f"(logit {card['threshold']['logit']:.6g}); proven: {'yes' if policy['proven'] else 'NO'}\n"
        f"    {onchain_reason}"
    )
