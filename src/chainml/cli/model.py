"""The ``chainml model`` command group: train, evaluate, export, register, show and list models."""

from __future__ import annotations

import typer

app = typer.Typer(
    help="Models: train, evaluate, export to ONNX, register on chain, show.", no_args_is_help=True
)
