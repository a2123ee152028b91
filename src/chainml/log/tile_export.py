"""Writing the decision log as static C2SP tiles and a signed checkpoint into a directory.

Incremental: a file whose bytes are already there is not rewritten, so a rerun after more
appends writes the new and the grown tiles and the checkpoint. Every file is replaced
atomically, and the checkpoint last, after one ``os.sync()`` made the tiles durable: a reader
(even after a power cut) that sees a checkpoint finds every tile it names. A tile torn by a
crash before that sync is rewritten by the next run, since its bytes differ.
Before signing, the root recomputed from the leaf data must equal the store's root (fail closed
on a corrupted store). Partial tiles of earlier sizes are left in place: they stay valid.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from chainml.errors import VerificationError
from chainml.files import write_atomic
from chainml.log import merkle, tiles
from chainml.log.checkpoint import Checkpoint
from chainml.log.note import Signer
from chainml.log.store import LogStore, Progress, checked_size

CHECKPOINT_FILE = "checkpoint"


@dataclass(frozen=True)
class ExportReport:
    """What :func:`export_tiles` did: the checkpoint it signed and how many files it wrote."""

    checkpoint: Checkpoint
    written: int
    unchanged: int


def export_tiles(
    store: LogStore,
    signer: Signer,
    directory: Path,
    size: int | None = None,
    progress: Progress | None = None,
) -> ExportReport:
    """Write the tiles, entry bundles and signed checkpoint of the first ``size`` leaves."""
    size = checked_size(size, store.size, "size")
    leaf_hashes: list[bytes] = []
    written = unchanged = 0

    def put(path: str, data: bytes) -> None:
        nonlocal written, unchanged
        target = directory / path
        if target.is_file() and target.stat().st_size == len(data) and target.read_bytes() == data:
            unchanged += 1
            return
        target.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(target, data, sync=False)  # made durable together below
        written += 1

    for bundle, entries in _bundles(store.iter_leaves(0, size)):
        leaf_hashes.extend(merkle.leaf_hash(entry) for entry in entries)
        put(bundle.path, tiles.encode_bundle(entries))
        if progress is not None:
            progress(len(leaf_hashes), size)
    levels = tiles.level_hashes(leaf_hashes)
    root = tiles.root_of(size, levels)
    if root != store.root(size):
        raise VerificationError(
            f"the log's leaf data hash to root {root.hex()} at size {size}, but the store says "
            f"{store.root(size).hex()}: run `chainml log audit`; nothing was signed"
        )
    for tile in tiles.tiles_for(size):
        if not tile.is_entries:
            put(tile.path, tiles.tile_data(tile, levels))
    checkpoint = Checkpoint(signer.verifier.name, size, root)
    directory.mkdir(parents=True, exist_ok=True)
    os.sync()  # every tile durable before the checkpoint that names them (one sync, not 2 a file)
    write_atomic(directory / CHECKPOINT_FILE, checkpoint.sign(signer))
    return ExportReport(checkpoint, written + 1, unchanged)


def _bundles(
    leaves: Iterable[tuple[int, bytes]],
) -> Iterator[tuple[tiles.Tile, list[bytes]]]:
    """The entry bundles of the leaves, in order, with the leaf data of each."""
    entries: list[bytes] = []
    index = 0
    for _, data in leaves:
        entries.append(data)
        if len(entries) == tiles.TILE_WIDTH:
            yield tiles.Tile(-1, index, tiles.TILE_WIDTH), entries
            entries, index = [], index + 1
    if entries:
        yield tiles.Tile(-1, index, len(entries)), entries
