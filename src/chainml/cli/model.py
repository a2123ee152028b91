"""The ``chainml model`` command group: train, evaluate, export, register, show and list models."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn
from rich.table import Table

from chainml.cli import console, format_bytes, print_json, settings_of
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
from chainml.errors import DataDirectoryError, InvalidInputError
from chainml.files import write_atomic

if TYPE_CHECKING:
    from chainml.api.model import Model
    from chainml.models.train import TrainedModel
    from chainml.models.train_base import Progress as ProgressCallback

app = typer.Typer(
    help="Models: train, evaluate, export to ONNX, register on chain, show.", no_args_is_help=True
)


def _parse_params(values: list[str]) -> dict[str, Any]:
    params: dict[str, Any] = {}
    for item in values:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise InvalidInputError(f"--param {item!r}: expected NAME=VALUE")
        value: Any = raw
        for cast in (int, float):
            try:
                value = cast(raw)
                break
            except ValueError:
                continue
        params[key.strip()] = value
    return params


@contextmanager
def _steps() -> Iterator[Any]:
    """A rich progress display; yields a factory of per-step progress callbacks."""
    columns = (
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console(), transient=True) as progress:

        def step(description: str) -> ProgressCallback:
            task = progress.add_task(description, total=None)

            def advance(done: int, total: int) -> None:
                progress.update(task, completed=done, total=total)

            return advance

        yield step


def _metric_row(kind: str, test: dict[str, Any]) -> list[str]:
    interval = test["pr_auc_interval"]
    return [
        kind,
        f"{test['pr_auc']:.4f}",
        f"{interval['low']:.3f}-{interval['high']:.3f}",
        f"{test['roc_auc']:.4f}",
        f"{test['recall_at_fpr']['0.001']:.3f}",
        f"{test['recall_at_fpr']['0.01']:.3f}",
        f"{test['precision_at_recall']['0.8']:.3f}",
    ]


_METRIC_COLUMNS = (
    "model", "PR-AUC", "95% interval", "ROC-AUC", "recall@0.1%FPR", "recall@1%FPR",
    "precision@80%recall",
)  # fmt: skip


@app.command()
def train(
    ctx: typer.Context,
    data: Annotated[
        str,
        typer.Option("--data", help="creditcard | simulated[:N[:SEED]] | path to a CSV file."),
    ],
    target: TARGET = None,
    order: ORDER = None,
    positive: POSITIVE = None,
    schema_file: SCHEMA = None,
    split_method: Annotated[
        str | None,
        typer.Option(
            "--split",
            help="time[:COLUMN] | random | stratified | group:COLUMN (default: time when the "
            "data has a time column, else stratified).",
        ),
    ] = None,
    use: Annotated[
        str | None,
        typer.Option(
            "--use",
            help="What the model is for (default: fraud-screening for fraud data, else screening).",
        ),
    ] = None,
    labels: Annotated[
        str | None,
        typer.Option(
            "--labels",
            metavar="YES,NO",
            help="Decision words for class 1 and 0 "
            "(default: hold,pass for fraud data, else flag,ok).",
        ),
    ] = None,
    kind: Annotated[str, typer.Option("--kind", help="lr | lgbm | mlp | all")] = "all",
    seed: Annotated[int, typer.Option("--seed", help="Seed of every random choice.")] = 0,
    threshold_rule: THRESHOLD_RULE = "f1",
    preset: Annotated[
        str, typer.Option("--preset", help="LightGBM preset: quality | compact (50 trees).")
    ] = "quality",
    param: Annotated[
        list[str] | None,
        typer.Option("--param", help="Hyperparameter NAME=VALUE (one --kind only); repeatable."),
    ] = None,
    resamples: RESAMPLES = 1000,
    round_inputs: ROUND_INPUTS = False,
    as_json: JSON = False,
) -> None:
    """Train, evaluate on the held-out test split, store ONNX + card per model.

    Any CSV works: its schema (column kinds, encodings, blanks) is inferred, shown by
    `chainml data schema`, and correctable with --schema. A failed run stores nothing.
    """
    from chainml.api.dataset import Dataset
    from chainml.api.model import KINDS, Model
    from chainml.models.card import parse_labels
    from chainml.models.metrics import parse_rule
    from chainml.models.split import describe, split_columns

    kinds = list(KINDS) if kind == "all" else [kind]
    if any(k not in KINDS for k in kinds):
        raise InvalidInputError(f"--kind must be one of lr, lgbm, mlp, all; got {kind!r}")
    extra = _parse_params(param or [])
    if extra and len(kinds) > 1:
        raise InvalidInputError("--param needs a single --kind (parameters differ per kind)")
    parse_rule(threshold_rule)
    words = parse_labels(labels) if labels is not None else None
    order, group = split_columns(split_method, order)
    dataset = Dataset.load(
        data, target=target, positive=positive, schema=schema_file, order=order, group=group,
        data_dir=settings_of(ctx).data_dir,
    )  # fmt: skip
    with _steps() as step:
        models = Model.train_each(
            dataset, kinds, seed=seed, split=split_method, threshold_rule=threshold_rule,
            use=use, labels=words, preset=preset, params=extra, resamples=resamples,
            round_inputs=round_inputs, steps=step,
        )  # fmt: skip
    results = list(zip(kinds, models, strict=True))
    if as_json:
        print_json([
            {"kind": k, "model_id": m.model_id, "path": str(m.path), "new": m.new,
             "metrics": m.card["metrics"]["test"], "threshold": m.card["threshold"],
             "decision_policy": m.card["decision_policy"]}
            for k, m in results
        ])  # fmt: skip
        return
    out = console()
    split = _trained(models[0]).split
    parts = split.summary()
    schema = dataset.schema
    words_used = models[0].card["use"]["decisions"]
    encoding = (
        f"\nencoding: schema {schema.digest()} ({len(dataset.feature_names)} features "
        f"from {len(schema.feature_columns)} columns; `chainml data schema {data}`)"
        if schema is not None
        else ""
    )
    out.print(
        f"dataset {dataset.name}: {dataset.rows:,} rows, {dataset.positives:,} positives, "
        f"commitment {dataset.commitment()}{encoding}\nsplit {split.method}: "
        + ", ".join(f"{n} {p['rows']:,} / {p['positives']:,} positives" for n, p in parts.items())
    )
    time_column = schema.time if schema is not None else None
    description = describe(split.method, split.seed, split.test_fraction, time_column)
    table = Table(title=f"Test split ({description})")
    for i, column in enumerate((*_METRIC_COLUMNS, "train s", "peak RSS")):
        table.add_column(column, justify="left" if i == 0 else "right")
    for k, model in results:
        training = _trained(model).training
        row = _metric_row(k, model.card["metrics"]["test"])
        table.add_row(*row, f"{training.seconds:.1f}", format_bytes(training.peak_rss_bytes))
    out.print(table)
    for k, model in results:
        threshold = model.card["threshold"]
        policy = model.card["decision_policy"]
        state = "stored" if model.new else "already stored (unchanged)"
        out.print(
            f"{k}: model {model.model_id} {state} in {model.path}\n"
            f"    use {model.card['use']['name']}: class 1 = {words_used.get('1')}, "
            f"class 0 = {words_used.get('0')}\n"
            f"    threshold ({threshold['rule']}): integer {policy['threshold_int']} "
            f"(logit {threshold['logit']:.6g}, probability {threshold['probability']:.6g}); "
            f"margin {policy['margin_logit']:.3g} > 2 x proven error "
            f"{policy['error_bound_logit']:.3g}: {'yes' if policy['proven'] else 'NO'}"
        )


def _trained(model: Model) -> TrainedModel:
    """The training run of a model ``Model.train_each`` just made."""
    assert model.trained is not None
    return model.trained


@app.command()
def evaluate(
    ctx: typer.Context,
    model_id: Annotated[str, typer.Argument(help="Model id (0x + 64 hex) or a unique prefix.")],
    data: Annotated[
        str | None,
        typer.Option("--data", help="Dataset to score (default: the one the card names)."),
    ] = None,
    target: TARGET = None,
    order: ORDER = None,
    resamples: RESAMPLES = 1000,
    as_json: JSON = False,
) -> None:
    """Score a stored model on a dataset at its recorded threshold (the test split of its own)."""
    from chainml.api.model import Model

    model = Model.load(model_id, data_dir=settings_of(ctx).data_dir)
    dataset = model.dataset(data, target=target, order=order)
    result = model.evaluate(dataset, resamples=resamples)
    if as_json:
        print_json(result)
        return
    out = console()
    out.print(
        f"model {model.model_id} ({model.kind}) on {dataset.name}: {result['rows_used']}, "
        f"{result['metrics']['rows']:,} rows, {result['metrics']['positives']:,} positives"
    )
    table = Table()
    for i, column in enumerate(_METRIC_COLUMNS):
        table.add_column(column, justify="left" if i == 0 else "right")
    table.add_row(*_metric_row(model.kind, result["metrics"]))
    out.print(table)
    cells = result["metrics"]["at_threshold"]["confusion"]
    out.print(
        f"at the threshold (rule {result['threshold']['rule']}, integer "
        f"{result['threshold']['integer']}, logit {model.artifact.threshold:.6g}; integer "
        f"decisions): TP {cells['tp']}, FP {cells['fp']}, TN {cells['tn']}, FN {cells['fn']}"
    )


@app.command()
def export(
    ctx: typer.Context,
    model_id: Annotated[str, typer.Argument(help="Model id (0x + 64 hex) or a unique prefix.")],
    output: Annotated[Path, typer.Option("-o", "--output", help="Directory to write into.")],
) -> None:
    """Re-verify a stored model (hashes, ONNX vs native); copy model.onnx, policy.json, card."""
    from chainml.models.artifacts import load_model
    from chainml.models.evaluate import reverify_onnx

    model = load_model(settings_of(ctx).data_dir, model_id)
    check = reverify_onnx(model)
    if output.exists() and not output.is_dir():
        raise InvalidInputError(f"{output} exists and is not a directory")
    if not output.parent.is_dir():
        raise DataDirectoryError(str(output), f"its parent {output.parent} does not exist")
    output.mkdir(exist_ok=True)
    for name in ("model.onnx", "policy.json", "card.json", "card.md", "pr_curve.png"):
        write_atomic(output / name, (model.path / name).read_bytes())
    console().print(
        f"model {model.model_id} ({model.kind}) verified: ONNX vs native max |dp| "
        f"{check['max_abs_diff_probability']:.3g} on {check['rows']:,} probe rows\n"
        f"wrote model.onnx, policy.json, card.json, card.md, pr_curve.png to {output}"
    )
