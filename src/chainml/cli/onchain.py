"""The ``chainml onchain`` command group: compile, deploy and check models inside the EVM."""

from __future__ import annotations

import typer

app = typer.Typer(
    help="On-chain inference: compile a model to Vyper, deploy it, check parity.",
    no_args_is_help=True,
)
