"""The ``chainml gov`` command group: proposals, votes and execution through the Governor."""

from __future__ import annotations

import typer

app = typer.Typer(
    help="Governance: propose, vote, execute; the governor approves models.", no_args_is_help=True
)
