"""``chainml serve``: the scoring service (FastAPI)."""

from __future__ import annotations

import typer


def serve(ctx: typer.Context) -> None:
    """Run the scoring API (not implemented yet)."""
    raise typer.Exit(1)
