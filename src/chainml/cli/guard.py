"""The ``chainml guard`` command group: the guarded token that holds risky transfers."""

from __future__ import annotations

import typer

app = typer.Typer(
    help="Guarded token: deploy, simulate payments, list, release or refund held transfers.",
    no_args_is_help=True,
)
