"""Mirroring a tiled log: fetch, verify every hash from the entries up, and keep what checks out.

A mirror trusts one verifier key (and optionally one anchor contract), nothing the source says
about itself. It fetches the signed checkpoint, checks the signature, fetches every entry bundle
and hash tile of that size, recomputes each tile from the entries upward and the root from them,
and compares. It keeps the last checkpoint it accepted, and refuses a new one that does not
extend it (a split view: a root the old tree does not lead to). With a chain, the root at an
anchored size must be the one the log's contract holds. Only then are the files written, the
checkpoint last.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from chainml.errors import VerificationError
from chainml.files import write_atomic
from chainml.log import merkle, tiles
from chainml.log.checkpoint import Checkpoint, SplitViewError, open_checkpoint
from chainml.log.note import MAX_NOTE_BYTES, NoteVerificationError, Verifier
from chainml.log.store import Progress
from chainml.log.tile_export import CHECKPOINT_FILE
from chainml.log.tile_source import TileSource

_ZERO = bytes(32)
_FETCHES = 8  # concurrent reads from the source


class TileMismatchError(VerificationError):
    """A tile or entry bundle from the source does not hash to what the log's tree says."""

    def __init__(self, path: str, detail: str) -> None:
        self.path = path
        self.detail = detail
        super().__init__(f"tile {path} does not verify: {detail}")


class AnchoredHeads(Protocol):
    """Read-only view of the anchor contract a mirror checks against."""

    def anchored_size(self) -> int:
        """The size of the latest anchored head (0: none)."""

    def root_at(self, size: int) -> bytes:
        """The root anchored for ``size``, 32 zero bytes if that size was never anchored."""


@dataclass(frozen=True)
class MirrorReport:
    """What :func:`mirror` accepted: the checkpoint, the previous one, the anchor it matched."""

    checkpoint: Checkpoint
    previous: Checkpoint | None
    anchored_size: int | None  # None: no chain was asked
    written: int


def mirror(
    source: TileSource,
    directory: Path,
    verifier: Verifier,
    chain: AnchoredHeads | None = None,
    progress: Progress | None = None,
) -> MirrorReport:
    """Mirror the log at ``source`` into ``directory`` after verifying all of it."""
    fetched = source.read(CHECKPOINT_FILE, MAX_NOTE_BYTES)
    checkpoint = open_checkpoint(fetched, verifier)
    previous = _previous(directory, verifier, checkpoint)
    files: dict[str, bytes] = {}
    leaf_hashes: list[bytes] = []
    layout = list(tiles.tiles_for(checkpoint.size))
    bundles = [tile for tile in layout if tile.is_entries]
    hash_tiles = [tile for tile in layout if not tile.is_entries]
    # Fetches overlap (a CDN answers many at once); results arrive in order, verified in order.
    with ThreadPoolExecutor(max_workers=_FETCHES) as pool:
        for bundle, data in zip(bundles, pool.map(_reader(source), bundles), strict=True):
            try:
                entries = tiles.decode_bundle(data, bundle.width)
            except ValueError as err:
                raise TileMismatchError(bundle.path, str(err)) from None
            leaf_hashes.extend(merkle.leaf_hash(entry) for entry in entries)
            files[bundle.path] = data
            if progress is not None:
                progress(len(leaf_hashes), checkpoint.size)
        levels = tiles.level_hashes(leaf_hashes)
        for tile, data in zip(hash_tiles, pool.map(_reader(source), hash_tiles), strict=True):
            if data != tiles.tile_data(tile, levels):
                raise TileMismatchError(tile.path, "its hashes differ from those of the entries")
            files[tile.path] = data
    root = tiles.root_of(checkpoint.size, levels)
    if root != checkpoint.root:
        raise VerificationError(
            f"the entries hash to root {root.hex()} at size {checkpoint.size}, but the signed "
            f"checkpoint says {checkpoint.root.hex()}"
        )
    if previous is not None and tiles.root_of(previous.size, levels) != previous.root:
        raise SplitViewError(previous, checkpoint, "the new tree does not extend the accepted one")
    anchored = None if chain is None else _check_anchor(chain, checkpoint, levels)
    written = 0
    for path, data in files.items():
        target = directory / path
        if target.is_file() and target.read_bytes() == data:
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(target, data, sync=False)  # made durable together below
        written += 1
    os.sync()  # every tile durable before the checkpoint that names them
    write_atomic(directory / CHECKPOINT_FILE, fetched)
    return MirrorReport(checkpoint, previous, anchored, written + 1)


def _reader(source: TileSource) -> Callable[[tiles.Tile], bytes]:
    return lambda tile: source.read(tile.path, tile.max_bytes)


def _previous(directory: Path, verifier: Verifier, new: Checkpoint) -> Checkpoint | None:
    """The checkpoint the mirror accepted before, checked against the new one's size."""
    path = directory / CHECKPOINT_FILE
    if not path.exists():
        directory.mkdir(parents=True, exist_ok=True)
        return None
    try:
        previous = open_checkpoint(path.read_bytes()[: MAX_NOTE_BYTES + 1], verifier)
    except NoteVerificationError as err:
        raise VerificationError(
            f"the mirror's accepted checkpoint {path} is not by {verifier.name}: {err}"
        ) from err
    if previous.origin != new.origin:
        raise VerificationError(f"{path} mirrors {previous.origin!r}, not {new.origin!r}")
    if previous.size == new.size and previous.root != new.root:
        raise SplitViewError(previous, new, "two roots signed for the same size")
    if previous.size > new.size:
        raise VerificationError(
            f"the source's checkpoint (size {new.size}) is older than the accepted one "
            f"(size {previous.size}); nothing was written"
        )
    return previous


def _check_anchor(chain: AnchoredHeads, checkpoint: Checkpoint, levels: list[list[bytes]]) -> int:
    """The anchored size the mirrored tree was checked at: the checkpoint's, or an earlier one."""
    held = chain.root_at(checkpoint.size)
    if held != _ZERO:
        if held != checkpoint.root:
            raise SplitViewError(
                Checkpoint(checkpoint.origin, checkpoint.size, held),
                checkpoint,
                "the chain anchors another root for this size",
            )
        return checkpoint.size
    size = chain.anchored_size()
    if size == 0:
        raise VerificationError("the log's contract has anchored nothing yet")
    if size > checkpoint.size:
        raise VerificationError(
            f"the chain anchors size {size}, not the checkpoint's size {checkpoint.size}: "
            "export the tiles at an anchored size (`chainml log export --anchored`)"
        )
    held = chain.root_at(size)
    if tiles.root_of(size, levels) != held:
        raise VerificationError(
            f"the mirrored tree's root at the anchored size {size} is not the anchored {held.hex()}"
        )
    return size
