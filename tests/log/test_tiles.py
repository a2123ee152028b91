"""C2SP tiles: paths as in the spec, the tile layout, bundles, and tiles that rebuild the root."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chainml.errors import InvalidInputError
from chainml.log import merkle, tiles
from chainml.log.tiles import Tile


def test_paths_follow_the_spec_examples() -> None:
    # c2sp.org/tlog-tiles: index 1234067 is x001/x234/067; partial tiles end in .p/<W>
    assert tiles.encode_index(1234067) == "x001/x234/067"
    assert tiles.encode_index(0) == "000"
    assert tiles.encode_index(1000) == "x001/000"
    assert Tile(0, 1234067, 256).path == "tile/0/x001/x234/067"
    assert Tile(1, 1234067, 8).path == "tile/1/x001/x234/067.p/8"
    assert Tile(-1, 1234067, 256).path == "tile/entries/x001/x234/067"
    assert Tile(-1, 5, 3).path == "tile/entries/005.p/3"
    with pytest.raises(InvalidInputError):
        Tile(0, 0, 0)


def test_layout_of_a_tree() -> None:
    paths = [t.path for t in tiles.tiles_for(256 * 256 + 257)]
    assert paths[:2] == ["tile/0/000", "tile/0/001"]
    for path in ("tile/0/256", "tile/0/257.p/1", "tile/1/000", "tile/1/001.p/1", "tile/2/000.p/1"):
        assert path in paths
    assert paths[-2:] == ["tile/entries/256", "tile/entries/257.p/1"]
    assert list(tiles.tiles_for(0)) == []


def _root_from_tiles(size: int, levels: list[list[bytes]]) -> bytes:
    """The root rebuilt only from tile bytes: one complete subtree per bit of ``size``."""
    data = {t.path: tiles.tile_data(t, levels) for t in tiles.tiles_for(size) if not t.is_entries}
    subtrees: list[bytes] = []
    start = 0
    for height in reversed(range(size.bit_length())):
        if not size >> height & 1:
            continue
        level, rest = divmod(height, 8)  # 2**height leaves = 2**rest hashes of that level
        first = start >> (8 * level)
        index, offset = divmod(first, 256)
        width = min(256, (size >> (8 * level)) - index * 256)
        tile = data[Tile(level, index, width).path]
        hashes = [tile[i * 32 : i * 32 + 32] for i in range(offset, offset + (1 << rest))]
        subtrees.append(merkle.root(hashes))
        start += 1 << height
    root = subtrees.pop()
    while subtrees:
        root = merkle.node_hash(subtrees.pop(), root)
    return root


def _leaves(size: int) -> list[bytes]:
    return [merkle.leaf_hash(hashlib.sha256(i.to_bytes(8, "big")).digest()) for i in range(size)]


@settings(max_examples=40, deadline=None)
@given(st.integers(min_value=1, max_value=3000))
def test_tiles_rebuild_the_root(size: int) -> None:
    leaves = _leaves(size)
    levels = tiles.level_hashes(leaves)
    assert _root_from_tiles(size, levels) == merkle.root(leaves)
    for prefix in (size, size // 2 + 1, 1):  # root_of serves every earlier size too
        assert tiles.root_of(prefix, levels) == merkle.root(leaves[:prefix])


def test_tiles_rebuild_the_root_with_three_levels() -> None:
    size = 256 * 256 + 300
    leaves = _leaves(size)
    levels = tiles.level_hashes(leaves)
    assert len(levels) == 3 and levels[2] == [merkle.root(leaves[: 256 * 256])]
    assert _root_from_tiles(size, levels) == merkle.root(leaves)


def test_bundles_round_trip_and_refuse_malformed_data() -> None:
    entries = [b"", b"a", b"x" * 300]
    data = tiles.encode_bundle(entries)
    assert data[:5] == b"\x00\x00\x00\x01a" and data[5:7] == (300).to_bytes(2, "big")
    assert tiles.decode_bundle(data, 3) == entries
    for bad, width in ((data[:-1], 3), (data + b"\x00", 3), (data, 2), (data, 4)):
        with pytest.raises(InvalidInputError):
            tiles.decode_bundle(bad, width)
    with pytest.raises(InvalidInputError):
        tiles.encode_bundle([b"x" * 70000])
