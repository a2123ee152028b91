"""Our tiles and signed checkpoint, checked by Go's golang.org/x/mod/sumdb/{note,tlog}.

An implementation independent of chainml's (the one the Go module mirror uses) verifies the
note with our verifier key, recomputes the tree hash from our tiles, compares every tile it
would publish with ours, and hashes every entry of our bundles. Needs ``go`` and Debian's
golang-golang-x-mod-dev (``.ci/run`` installs both); skipped with the reason otherwise.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from chainml.log.checkpoint import operator_signer
from chainml.log.decision_log import DecisionLog
from chainml.log.tile_export import export_tiles
from tests.log.test_anchor import decisions

GOPATH = Path("/usr/share/gocode")
SOURCE = Path(__file__).parent / "go_tlog" / "main.go"


@pytest.fixture(scope="module")
def go_tlog(tmp_path_factory: pytest.TempPathFactory) -> Path:
    go = shutil.which("go")
    if go is None or not (GOPATH / "src/golang.org/x/mod/sumdb/tlog").is_dir():
        pytest.skip("needs `go` and golang-golang-x-mod-dev (apt-get install golang-go ...)")
    out = tmp_path_factory.mktemp("go")
    env = {**os.environ, "GO111MODULE": "off", "GOPATH": str(GOPATH), "GOCACHE": str(out)}
    binary = out / "go_tlog"
    subprocess.run(
        [go, "build", "-o", str(binary), SOURCE.name],
        cwd=SOURCE.parent,
        env=env,
        check=True,
        timeout=300,
    )
    return binary


def test_go_verifies_our_tiles_and_checkpoint(go_tlog: Path, tmp_path: Path) -> None:
    data_dir, tiles_dir = tmp_path / "data", tmp_path / "tiles"
    with DecisionLog.open(data_dir, durability="normal") as log:
        signer = operator_signer(data_dir, log.store)
        for count in (1, 255, 300, 3444):  # sizes 1, 256, 556 and 4000 (15 level-1 hashes)
            log.append(decisions(log.store.size, count))
            report = export_tiles(log.store, signer, tiles_dir)
            result = subprocess.run(
                [str(go_tlog), str(tiles_dir), str(signer.verifier)],
                capture_output=True,
                text=True,
                timeout=120,
            )
            assert result.returncode == 0, result.stderr
            assert result.stdout.split()[1] == str(report.checkpoint.size)
    # A flipped bit in a level-1 tile: Go refuses it too.
    tile = tiles_dir / "tile/1/000.p/15"
    data = bytearray(tile.read_bytes())
    data[100] ^= 0x01  # in the 4th hash
    tile.write_bytes(bytes(data))
    result = subprocess.run(
        [str(go_tlog), str(tiles_dir), str(signer.verifier)], capture_output=True, timeout=120
    )
    assert result.returncode == 1 and b"tile/1/000.p/15 differs" in result.stderr
