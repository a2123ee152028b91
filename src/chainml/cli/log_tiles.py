"""``chainml log export --tiles`` and ``chainml log mirror``: the log as static C2SP tiles."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.progress import Progress

from chainml.chain import connect
from chainml.cli import console, settings_of
from chainml.cli.log import open_log
from chainml.errors import InvalidInputError
from chainml.log.anchored_heads import ContractHeads
from chainml.log.checkpoint import operator_signer
from chainml.log.mirror import mirror as mirror_log
from chainml.log.note import parse_verifier
from chainml.log.tile_export import export_tiles
from chainml.log.tile_source import source_of
from chainml.log.trust import parse_trust_root


def export(
    ctx: typer.Context,
    tiles_dir: Annotated[
        Path, typer.Option("--tiles", metavar="DIR", help="Write C2SP tiles and a checkpoint here.")
    ],
    anchored: Annotated[
        bool, typer.Option("--anchored", help="Sign the latest anchored size, not the current.")
    ] = False,
) -> None:
    """Write the log as static tiles, entry bundles and a signed checkpoint (incremental)."""
    settings = settings_of(ctx)
    with open_log(ctx) as log:
        size = None
        if anchored:
            anchor = log.store.latest_anchor()
            if anchor is None:
                raise InvalidInputError("--anchored: nothing is anchored (`chainml log anchor`)")
            size = anchor.size
        signer = operator_signer(settings.data_dir, log.store)
        with Progress(console=console(), transient=True) as progress:
            task = progress.add_task("exporting", total=log.store.size)
            report = export_tiles(
                log.store,
                signer,
                tiles_dir,
                size,
                lambda done, total: progress.update(task, completed=done),
            )
    console().print(
        f"checkpoint of {report.checkpoint.origin} at size {report.checkpoint.size} written to "
        f"{tiles_dir}: {report.written} files written, {report.unchanged} unchanged",
        soft_wrap=True,
    )


def mirror(
    ctx: typer.Context,
    source: Annotated[str, typer.Argument(help="A tiles directory or an http(s) URL.")],
    directory: Annotated[Path, typer.Argument(metavar="DIR", help="The mirror's directory.")],
    verifier_key: Annotated[
        str,
        typer.Option("--verifier-key", metavar="VKEY", help="The operator's key you trust."),
    ],
    log_root: Annotated[
        str | None,
        typer.Option(
            "--log",
            metavar="[CHAIN_ID:]ADDRESS[:CODEHASH]",
            help="Also check the root against this DecisionLog contract's anchored heads.",
        ),
    ] = None,
    rpc: Annotated[str | None, typer.Option("--rpc", metavar="URL", help="Node of --log.")] = None,
) -> None:
    """Fetch a tiled log, verify every hash and the signed checkpoint, and keep it in DIR.

    Exit 0: mirrored and verified. Exit 3: a signature, tile, root or anchor does not check
    out, or a split view (a checkpoint inconsistent with the one accepted before).
    Exit 4: the source cannot be read.
    """
    verifier = parse_verifier(verifier_key)
    trusted = None if log_root is None else parse_trust_root(log_root, "--log")
    tile_source = source_of(source)
    with Progress(console=console(), transient=True) as progress:
        task = progress.add_task("mirroring", total=None)

        def step(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        if trusted is None:
            report = mirror_log(tile_source, directory, verifier, progress=step)
        else:
            with connect(settings_of(ctx).with_overrides(rpc=rpc)) as env:
                heads = ContractHeads(env, trusted)
                report = mirror_log(tile_source, directory, verifier, heads, step)
    checkpoint = report.checkpoint
    grew = f" (from {report.previous.size})" if report.previous else ""
    anchor = (
        "; the chain is NOT checked (no --log)"
        if report.anchored_size is None
        else f"; the contract holds its root at anchored size {report.anchored_size}"
    )
    console().print(
        f"[green]verified[/green]: {checkpoint.origin} at size {checkpoint.size}{grew}, signed "
        f"by {verifier.name}; {report.written} files written to {directory}{anchor}",
        soft_wrap=True,
    )
