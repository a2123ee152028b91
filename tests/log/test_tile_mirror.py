"""Exporting the log as tiles and mirroring it: verified, incremental, tamper and split view."""

from __future__ import annotations

import shutil
import threading
from collections.abc import Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from chainml.errors import VerificationError
from chainml.log import merkle
from chainml.log.checkpoint import KEY_FILE, SplitViewError, operator_signer
from chainml.log.decision_log import DecisionLog
from chainml.log.mirror import TileMismatchError, mirror
from chainml.log.note import NoteVerificationError, Signer, Verifier
from chainml.log.tile_export import export_tiles
from chainml.log.tile_source import DirectorySource, HttpSource, TileSourceError
from tests.log.test_anchor import decisions


def _open(path: Path) -> DecisionLog:
    return DecisionLog.open(path, durability="normal")


def _export(data_dir: Path, tiles_dir: Path, count: int, tag: str = "") -> Verifier:
    """Append ``count`` decisions to the log in ``data_dir`` and export it; the verifier key."""
    with _open(data_dir) as log:
        log.append(decisions(log.store.size, count, tag))
        signer = operator_signer(data_dir, log.store)
        export_tiles(log.store, signer, tiles_dir)
    return signer.verifier


def test_mirror_verifies_an_export_and_follows_it(tmp_path: Path) -> None:
    tiles_dir, copy = tmp_path / "tiles", tmp_path / "mirror"
    verifier = _export(tmp_path / "data", tiles_dir, 300)
    assert verifier.name.startswith("chainml/unanchored/")
    report = mirror(DirectorySource(tiles_dir), copy, verifier)
    assert report.checkpoint.size == 300 and report.previous is None
    with _open(tmp_path / "data") as log:
        assert report.checkpoint.root == log.store.root()
        first_bundle = (tiles_dir / "tile/entries/000").read_bytes()
        assert first_bundle.startswith(len(log.store.leaf_data(0)).to_bytes(2, "big"))
        assert (tiles_dir / "tile/0/000").read_bytes()[:32] == log.store.leaf_hash(0)
    assert (copy / "tile/0/001.p/44").read_bytes() == (tiles_dir / "tile/0/001.p/44").read_bytes()

    # Incremental: appending 5 rewrites the grown partial tiles and the checkpoint only.
    with _open(tmp_path / "data") as log:
        log.append(decisions(300, 5))
        again = export_tiles(log.store, operator_signer(tmp_path / "data", log.store), tiles_dir)
    # written: tile/0/001.p/49, tile/entries/001.p/49, checkpoint; unchanged: the full tiles
    # tile/0/000 and tile/entries/000, and tile/1/000.p/1 (still one level-1 node)
    assert again.written == 3 and again.unchanged == 3
    report = mirror(DirectorySource(tiles_dir), copy, verifier)
    assert report.previous is not None and report.previous.size == 300
    assert report.checkpoint.size == 305


def test_a_flipped_byte_in_a_tile_or_bundle_is_caught(tmp_path: Path) -> None:
    tiles_dir = tmp_path / "tiles"
    verifier = _export(tmp_path / "data", tiles_dir, 600)
    for path in ("tile/0/001", "tile/entries/002.p/88", "tile/1/000.p/2"):
        tampered = tmp_path / f"t-{path.replace('/', '-')}"
        shutil.copytree(tiles_dir, tampered)
        data = bytearray((tampered / path).read_bytes())
        data[len(data) // 2] ^= 0x01
        (tampered / path).write_bytes(bytes(data))
        with pytest.raises(TileMismatchError, match=path.split(".")[0]):
            mirror(DirectorySource(tampered), tmp_path / f"m-{tampered.name}", verifier)
        assert not (tmp_path / f"m-{tampered.name}" / "checkpoint").exists()


def test_a_checkpoint_by_another_key_or_with_a_false_root_is_refused(tmp_path: Path) -> None:
    tiles_dir = tmp_path / "tiles"
    verifier = _export(tmp_path / "data", tiles_dir, 10)
    impostor = Signer(verifier.name, b"\x05" * 32)
    with pytest.raises(NoteVerificationError):
        mirror(DirectorySource(tiles_dir), tmp_path / "m1", impostor.verifier)
    # The operator's key signing a root the tiles do not lead to.
    with _open(tmp_path / "data") as log:
        signer = operator_signer(tmp_path / "data", log.store)
    from chainml.log.checkpoint import Checkpoint

    lie = Checkpoint(verifier.name, 10, merkle.leaf_hash(b"lie"))
    (tiles_dir / "checkpoint").write_bytes(lie.sign(signer))
    with pytest.raises(VerificationError, match="the signed checkpoint says"):
        mirror(DirectorySource(tiles_dir), tmp_path / "m2", verifier)


def test_a_split_view_is_refused(tmp_path: Path) -> None:
    honest, forked, copy = tmp_path / "honest", tmp_path / "forked", tmp_path / "mirror"
    verifier = _export(tmp_path / "data", honest, 20)
    mirror(DirectorySource(honest), copy, verifier)
    # The same operator key signs another history of the same size, then a longer one.
    (tmp_path / "fork").mkdir()
    shutil.copy(tmp_path / "data" / KEY_FILE, tmp_path / "fork" / KEY_FILE)
    assert _export(tmp_path / "fork", forked, 20, tag="evil-") == verifier
    accepted = (copy / "checkpoint").read_bytes()
    with pytest.raises(SplitViewError, match="two roots signed for the same size") as caught:
        mirror(DirectorySource(forked), copy, verifier)
    assert caught.value.exit_code == 3
    _export(tmp_path / "fork", forked, 5)
    with pytest.raises(SplitViewError, match="does not extend"):
        mirror(DirectorySource(forked), copy, verifier)
    assert (copy / "checkpoint").read_bytes() == accepted  # nothing of the fork was kept


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    root = tmp_path / "served"
    root.mkdir()
    handler = partial(SimpleHTTPRequestHandler, directory=str(root))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/log", root / "log"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def test_mirror_over_http_with_bounded_reads(tmp_path: Path, served: tuple[str, Path]) -> None:
    url, root = served
    verifier = _export(tmp_path / "data", root, 260)
    report = mirror(HttpSource(url), tmp_path / "mirror", verifier)
    assert report.checkpoint.size == 260
    (root / "tile/0/000").write_bytes(b"\x00" * 9000)  # over a full tile's 8192 bytes
    with pytest.raises(TileSourceError, match="over 8192 bytes"):
        mirror(HttpSource(url), tmp_path / "mirror", verifier)
    with pytest.raises(TileSourceError):
        HttpSource(url + "/nothing").read("checkpoint", 100)


class _Heads:
    """Anchored heads as a contract would hold them (the real contract: tests/cli)."""

    def __init__(self, roots: dict[int, bytes]) -> None:
        self.roots = roots

    def anchored_size(self) -> int:
        return max(self.roots, default=0)

    def root_at(self, size: int) -> bytes:
        return self.roots.get(size, bytes(32))


def test_the_chain_decides_between_roots(tmp_path: Path) -> None:
    tiles_dir = tmp_path / "tiles"
    verifier = _export(tmp_path / "data", tiles_dir, 40)
    with _open(tmp_path / "data") as log:
        at_30, at_40 = log.store.root(30), log.store.root(40)
    source = DirectorySource(tiles_dir)
    assert mirror(source, tmp_path / "a", verifier, _Heads({40: at_40})).anchored_size == 40
    assert mirror(source, tmp_path / "b", verifier, _Heads({30: at_30})).anchored_size == 30
    with pytest.raises(SplitViewError, match="the chain anchors another root"):
        mirror(source, tmp_path / "c", verifier, _Heads({40: at_30}))
    with pytest.raises(VerificationError, match="not the anchored"):
        mirror(source, tmp_path / "d", verifier, _Heads({30: at_40}))
    with pytest.raises(VerificationError, match="anchors size 50"):
        mirror(source, tmp_path / "e", verifier, _Heads({50: at_40}))
    with pytest.raises(VerificationError, match="anchored nothing"):
        mirror(source, tmp_path / "f", verifier, _Heads({}))
    assert not (tmp_path / "c" / "checkpoint").exists()


def test_an_older_checkpoint_is_refused(tmp_path: Path) -> None:
    old, new = tmp_path / "old", tmp_path / "new"
    verifier = _export(tmp_path / "data", old, 10)
    _export(tmp_path / "data", new, 5)
    mirror(DirectorySource(new), tmp_path / "m", verifier)
    with pytest.raises(VerificationError, match="older than the accepted one"):
        mirror(DirectorySource(old), tmp_path / "m", verifier)
