"""The options of every command that reads a labelled dataset or stores a model, declared once."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

JSON = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]
TARGET = Annotated[
    str | None,
    typer.Option("--target", help="Label column of a CSV (text labels need --positive)."),
]
ORDER = Annotated[
    str | None,
    typer.Option("--order", help="Time column of a CSV (default: the inferred datetime column)."),
]
POSITIVE = Annotated[
    str | None,
    typer.Option("--positive", metavar="VALUE", help="Label value of class 1 (e.g. bad)."),
]
SCHEMA = Annotated[
    Path | None,
    typer.Option("--schema", metavar="FILE", help="TOML/JSON corrections to the CSV's schema."),
]
THRESHOLD_RULE = Annotated[
    str,
    typer.Option(
        "--threshold-rule", help="f1 | fpr:RATE | recall:RATE | probability:P (on validation)"
    ),
]
RESAMPLES = Annotated[
    int, typer.Option("--resamples", help="Bootstrap resamples for the PR-AUC interval.")
]
ROUND_INPUTS = Annotated[
    bool,
    typer.Option(
        "--round-inputs",
        help="Let the service round a fraction sent for an integral feature (default: 422).",
    ),
]
