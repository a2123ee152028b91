"""The command-line interface: helpers shared by the command groups (settings, output).

The root app lives in :mod:`chainml.cli.main`; each command group has its own module
(:mod:`chainml.cli.chain`, :mod:`chainml.cli.demo`, ...). Commands read the
:class:`~chainml.config.Settings` that the root callback stored in the typer context.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal, localcontext
from typing import Any

import typer
from rich.console import Console

from chainml.config import Settings

WEI_PER_ETH = 10**18


def settings_of(ctx: typer.Context) -> Settings:
    """The settings built by the root callback (``--data-dir``, ``--rpc``, environment)."""
    root = ctx.find_root()
    if not isinstance(root.obj, Settings):
        raise RuntimeError("the chainml root callback did not store Settings in the context")
    return root.obj


def console() -> Console:
    """A console on the current stdout (created per use so that redirections are honoured).

    Text is not wrapped at the console's width (80 columns when piped): a model id, an address
    or a command to copy stays on one line. Tables still fit the width.
    """
    return Console(highlight=False, soft_wrap=True)


def print_json(data: Any) -> None:
    """Print ``data`` as indented JSON on stdout, uncoloured, for scripts."""
    typer.echo(json.dumps(data, indent=2))


def format_eth(wei: int) -> str:
    """``wei`` in ETH, exact, without trailing zeros: ``10000``, ``0.000021``."""
    with localcontext() as context:
        context.prec = 100  # wide enough for any uint256 amount
        text = f"{(Decimal(wei) / WEI_PER_ETH).normalize():f}"
    return text


def format_bytes(size: int) -> str:
    """A byte count for people: ``812 B``, ``4.2 MiB``."""
    if size < 1024:
        return f"{size} B"
    amount = size / 1024
    units = ["KiB", "MiB", "GiB", "TiB"]
    while amount >= 1024 and len(units) > 1:
        amount /= 1024
        units.pop(0)
    return f"{amount:.1f} {units[0]}"


def iso_utc(timestamp: int) -> str:
    """A Unix timestamp as ISO 8601 in UTC: ``2025-01-31T12:00:00Z``."""
    return datetime.fromtimestamp(timestamp, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
