"""The ``chainml data`` command group: fetch, load and describe datasets."""

from __future__ import annotations

import typer

app = typer.Typer(
    help="Datasets: fetch the ULB credit-card data, inspect CSVs, simulate payments.",
    no_args_is_help=True,
)
