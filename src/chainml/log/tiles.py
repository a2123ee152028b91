"""C2SP tlog-tiles: tile paths, hash tiles of height 8, and entry bundles of the decision log.

A tile at level ``L`` and index ``N`` holds the hashes of up to 256 consecutive complete subtrees
of ``256**L`` leaves, concatenated; a full tile has 256 of them, a partial one ``W`` (1-255)
and lives at ``tile/<L>/<N>.p/<W>``. Entry bundle ``N`` (``tile/entries/<N>[.p/<W>]``) holds the
leaf data of leaves ``256N ..``, each as a big-endian uint16 length followed by the data. The
hashing is RFC 9162, the same as :mod:`chainml.log.merkle`, so the level-0 tiles are the log's
leaf hashes. See https://c2sp.org/tlog-tiles. Pure functions; no I/O happens here.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from chainml.errors import InvalidInputError
from chainml.log import merkle

TILE_HEIGHT = 8
TILE_WIDTH = 1 << TILE_HEIGHT  # 256 hashes or entries
#: A full hash tile: 256 hashes of 32 bytes.
MAX_TILE_BYTES = TILE_WIDTH * merkle.HASH_SIZE
#: An entry's length is a uint16, so one entry is at most 65535 bytes.
MAX_ENTRY_BYTES = 0xFFFF
#: A full entry bundle is at most 256 entries with their 2-byte length prefixes.
MAX_BUNDLE_BYTES = TILE_WIDTH * (2 + MAX_ENTRY_BYTES)
_MAX_LEVEL = 63


def encode_index(n: int) -> str:
    """The path form of a tile index: 3-digit groups, all but the last prefixed by ``x``.

    ``1234067`` becomes ``x001/x234/067``, ``5`` becomes ``005``.
    """
    if n < 0:
        raise InvalidInputError(f"tile index must not be negative, got {n}")
    groups = [f"{n % 1000:03d}"]
    n //= 1000
    while n > 0:
        groups.append(f"x{n % 1000:03d}")
        n //= 1000
    return "/".join(reversed(groups))


@dataclass(frozen=True)
class Tile:
    """One tile of the tree: ``level`` (``-1`` for an entry bundle), ``index`` and ``width``."""

    level: int
    index: int
    width: int

    def __post_init__(self) -> None:
        if not -1 <= self.level <= _MAX_LEVEL or self.index < 0:
            raise InvalidInputError(f"no tile at level {self.level}, index {self.index}")
        if not 1 <= self.width <= TILE_WIDTH:
            raise InvalidInputError(f"tile width must be 1..{TILE_WIDTH}, got {self.width}")

    @property
    def is_entries(self) -> bool:
        """Whether this is an entry bundle rather than a hash tile."""
        return self.level == -1

    @property
    def full(self) -> bool:
        """Whether the tile holds all 256 hashes or entries (and so never changes again)."""
        return self.width == TILE_WIDTH

    @property
    def path(self) -> str:
        """The tile's path relative to the log's prefix, as in the C2SP spec."""
        level = "entries" if self.is_entries else str(self.level)
        partial = "" if self.full else f".p/{self.width}"
        return f"tile/{level}/{encode_index(self.index)}{partial}"

    @property
    def max_bytes(self) -> int:
        """The most bytes a well-formed copy of this tile can have (bounds a download)."""
        if self.is_entries:
            return self.width * (2 + MAX_ENTRY_BYTES)
        return self.width * merkle.HASH_SIZE


def tiles_for(size: int) -> Iterator[Tile]:
    """Every tile (hash tiles then entry bundles) of the tree of ``size`` leaves.

    At each level: the full tiles, then the partial tile if the level's node count is not a
    multiple of 256. Entry bundles follow the level-0 tiles' shape.
    """
    if size < 0:
        raise InvalidInputError(f"tree size must not be negative, got {size}")
    level, count = 0, size
    while count > 0:
        yield from _row(level, count)
        level, count = level + 1, count // TILE_WIDTH
    yield from _row(-1, size)


def _row(level: int, count: int) -> Iterator[Tile]:
    for index in range(count // TILE_WIDTH):
        yield Tile(level, index, TILE_WIDTH)
    if count % TILE_WIDTH:
        yield Tile(level, count // TILE_WIDTH, count % TILE_WIDTH)


def level_hashes(leaf_hashes: Sequence[bytes]) -> list[list[bytes]]:
    """The hashes tiles store, level by level.

    Level 0 holds the leaf hashes, level ``L`` the roots of the complete subtrees of
    ``256**L`` leaves, left to right (each the root of 256 hashes of the level below).
    """
    levels = [list(leaf_hashes)]
    while len(levels[-1]) >= TILE_WIDTH:
        below = levels[-1]
        levels.append(
            [
                _perfect_root(below[start : start + TILE_WIDTH])
                for start in range(0, len(below) - TILE_WIDTH + 1, TILE_WIDTH)
            ]
        )
    return levels


def _perfect_root(hashes: Sequence[bytes]) -> bytes:
    """The root over a power-of-two count of 32-byte hashes, pairing level by level.

    For a perfect tree this is exactly RFC 9162's shape; it is the hot loop of export and
    mirror, about twice as fast as the general :func:`merkle.root`.
    """
    row = list(hashes)
    if any(len(value) != merkle.HASH_SIZE for value in row):
        raise InvalidInputError(f"tile hashes must be {merkle.HASH_SIZE} bytes")
    sha256 = hashlib.sha256
    while len(row) > 1:
        row = [sha256(b"\x01" + row[i] + row[i + 1]).digest() for i in range(0, len(row), 2)]
    return row[0]


def root_of(size: int, levels: Sequence[Sequence[bytes]]) -> bytes:
    """The root of the tree's first ``size`` leaves, from :func:`level_hashes`' output.

    One complete subtree per set bit of ``size`` (largest first), each the root of at most 256
    stored hashes of one level, folded right to left: the RFC 9162 shape, in O(256 log n)
    hashes instead of the n of hashing every leaf again.
    """
    if size == 0:
        return merkle.EMPTY_ROOT
    if size > len(levels[0]):
        raise InvalidInputError(f"size {size} exceeds the {len(levels[0])} leaves hashed")
    subtrees: list[bytes] = []
    start = 0
    for height in reversed(range(size.bit_length())):
        if size >> height & 1:
            level, rest = divmod(height, TILE_HEIGHT)
            first = start >> (TILE_HEIGHT * level)
            subtrees.append(merkle.root(levels[level][first : first + (1 << rest)]))
            start += 1 << height
    root = subtrees.pop()
    while subtrees:
        root = merkle.node_hash(subtrees.pop(), root)
    return root


def tile_data(tile: Tile, levels: Sequence[Sequence[bytes]]) -> bytes:
    """The bytes of hash tile ``tile``, from :func:`level_hashes`' output."""
    if tile.is_entries:
        raise InvalidInputError("an entry bundle is built from entries, not hashes")
    start = tile.index * TILE_WIDTH
    row = levels[tile.level] if tile.level < len(levels) else []
    if start + tile.width > len(row):
        raise InvalidInputError(f"the tree has no tile {tile.path}")
    return b"".join(row[start : start + tile.width])


def encode_bundle(entries: Sequence[bytes]) -> bytes:
    """An entry bundle: each entry as a big-endian uint16 length and its bytes."""
    parts = []
    for number, entry in enumerate(entries):
        if len(entry) > MAX_ENTRY_BYTES:
            raise InvalidInputError(
                f"entry {number} of the bundle is {len(entry)} bytes; tiles allow {MAX_ENTRY_BYTES}"
            )
        parts.append(len(entry).to_bytes(2, "big") + entry)
    return b"".join(parts)


def decode_bundle(data: bytes, width: int) -> list[bytes]:
    """The ``width`` entries of a bundle; anything malformed (short, long) is refused."""
    entries: list[bytes] = []
    offset, end = 0, len(data)
    for number in range(width):
        start = offset + 2
        if start > end:
            raise InvalidInputError(f"entry bundle is malformed: it ends before entry {number}")
        offset = start + ((data[offset] << 8) | data[offset + 1])
        if offset > end:
            raise InvalidInputError(f"entry bundle is malformed: entry {number} is cut short")
        entries.append(data[start:offset])
    if offset != end:
        raise InvalidInputError(
            f"entry bundle is malformed: {end - offset} bytes after its {width} entries"
        )
    return entries
