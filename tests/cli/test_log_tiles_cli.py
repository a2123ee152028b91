"""``chainml log export --tiles`` and ``log mirror``: a third party mirrors the log and the chain.

Exit codes: 0 mirrored and verified; 3 a tile, signature, root or anchor does not check out (or a
split view); 2 a malformed verifier key; 4 the source cannot be read.
"""

from __future__ import annotations

import json
from pathlib import Path

from tests.cli.test_cli import flat, isolated, run  # noqa: F401  (isolated is an autouse fixture)
from tests.cli.test_log_cli import write_jsonl


def test_a_third_party_mirrors_the_log_against_the_chain(capsys, tmp_path: Path) -> None:
    data, tiles_dir, copy = str(tmp_path / "data"), tmp_path / "tiles", tmp_path / "mirror"
    assert (
        run(capsys, "--data-dir", data, "log", "append", str(write_jsonl(tmp_path / "a", 12)))[0]
        == 0
    )
    assert run(capsys, "--data-dir", data, "log", "anchor")[0] == 0
    more = write_jsonl(tmp_path / "b", 3, start=12)
    assert run(capsys, "--data-dir", data, "log", "append", str(more))[0] == 0  # 3 pending
    code, out, _ = run(capsys, "--data-dir", data, "log", "identity", "--json")
    identity = json.loads(out)
    vkey, contract = identity["verifier_key"], identity["contract"]
    assert code == 0 and vkey.startswith(f"chainml/1337/{contract}+")
    code, out, _ = run(capsys, "--data-dir", data, "log", "export", "--tiles", str(tiles_dir))
    assert code == 0 and "at size 15" in flat(out)
    assert (tiles_dir / "tile/0/000.p/15").stat().st_size == 15 * 32

    log = f"1337:{contract}"
    mirror = ("log", "mirror", str(tiles_dir), str(copy), "--verifier-key", vkey, "--log", log)
    code, out, err = run(capsys, "--data-dir", data, *mirror)
    text = flat(out + err)
    assert code == 0 and "size 15" in text and "anchored size 12" in text, text
    assert (copy / "checkpoint").read_bytes() == (tiles_dir / "checkpoint").read_bytes()
    anchored = ("log", "export", "--tiles", str(tmp_path / "anchored"), "--anchored")
    code, out, _ = run(capsys, "--data-dir", data, *anchored)
    assert code == 0 and "at size 12" in flat(out)

    tile = tiles_dir / "tile/0/000.p/15"
    flipped = bytearray(tile.read_bytes())
    flipped[200] ^= 0x01
    tile.write_bytes(bytes(flipped))
    code, out, err = run(capsys, "--data-dir", data, *mirror[:3], str(tmp_path / "m2"), *mirror[4:])
    assert code == 3 and "tile/0/000.p/15 does not verify" in flat(out + err)
    code, _, err = run(capsys, "log", "mirror", str(tiles_dir), str(copy), "--verifier-key", "x+y")
    assert code == 2 and "verifier key" in err
    code, _, err = run(
        capsys, "log", "mirror", str(tmp_path / "none"), str(copy), "--verifier-key", vkey
    )
    assert code == 2
