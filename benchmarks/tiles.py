"""Benchmark: exporting the log as C2SP tiles and mirroring it with full verification.

N records of 480 bytes (the size of a DecisionRecord with 3 features) are appended to a
``SqliteLogStore``; then it times (a) ``export_tiles`` into an empty directory, (b) a rerun
with nothing new, (c) ``mirror`` from the directory and (d) over HTTP from a local
``http.server`` (every entry bundle and tile fetched, every hash recomputed, the signed root
checked), and (e) GETs of one full tile from that server. The baseline is the floor any
verifier pays: reading every entry from the store and computing its leaf hash, nothing more;
each row prints its ratio to it. Target (issue 18): mirroring >= 100,000 entries/s verified.

Run: ``.venv/bin/python benchmarks/tiles.py [--entries N] [--json PATH] [--work-dir DIR]``
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import threading
import time
import urllib.request
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from chainml.log import merkle
from chainml.log.mirror import mirror
from chainml.log.note import Signer
from chainml.log.sqlite_store import SqliteLogStore
from chainml.log.tile_export import export_tiles
from chainml.log.tile_source import DirectorySource, HttpSource

RECORD_BYTES = 480


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


def _timed(action: Any) -> float:
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=300_000)
    parser.add_argument("--tile-gets", type=int, default=500)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--work-dir", type=Path)
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="tiles-bench-", dir=args.work_dir))
    n = args.entries
    store = SqliteLogStore(work / "log.sqlite", durability="normal")
    for start in range(0, n, 10_000):
        store.append([(os.urandom(RECORD_BYTES), None) for _ in range(min(10_000, n - start))])
    signer = Signer("chainml/bench", b"\x01" * 32)
    tiles_dir = work / "tiles"

    baseline = _timed(lambda: [merkle.leaf_hash(data) for _, data in store.iter_leaves()])
    seconds = {
        "export": _timed(lambda: export_tiles(store, signer, tiles_dir)),
        "export_rerun": _timed(lambda: export_tiles(store, signer, tiles_dir)),
        "mirror_dir": _timed(
            lambda: mirror(DirectorySource(tiles_dir), work / "m1", signer.verifier)
        ),
    }
    handler = partial(_Quiet, directory=str(tiles_dir))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        seconds["mirror_http"] = _timed(
            lambda: mirror(HttpSource(url), work / "m2", signer.verifier)
        )
        gets = []
        for _ in range(args.tile_gets):
            start = time.perf_counter()
            with urllib.request.urlopen(f"{url}/tile/0/000", timeout=10) as response:
                assert len(response.read()) == 8192
            gets.append(time.perf_counter() - start)
    finally:
        server.shutdown()
        server.server_close()
    store.close()
    quantiles = statistics.quantiles(gets, n=100) if len(gets) > 1 else gets * 99
    result: dict[str, Any] = {
        "entries": n,
        "record_bytes": RECORD_BYTES,
        "baseline_leaf_hash_per_s": n / baseline,
        "rows": {name: {"seconds": s, "entries_per_s": n / s} for name, s in seconds.items()},
        "full_tile_get_ms": {"p50": quantiles[49] * 1e3, "p99": quantiles[98] * 1e3},
    }
    table = Table(title=f"C2SP tiles, {n:,} entries of {RECORD_BYTES} bytes")
    for column in ("step", "entries/s", "vs baseline"):
        table.add_column(column, justify="right")
    table.add_row("baseline: read + leaf-hash each entry", f"{n / baseline:,.0f}", "1.00x")
    for name, row in result["rows"].items():
        ratio = row["entries_per_s"] * baseline / n
        table.add_row(name, f"{row['entries_per_s']:,.0f}", f"{ratio:.2f}x")
    console = Console()
    console.print(table)
    console.print(
        f"full tile GET from python http.server (not a CDN cache): p50 "
        f"{result['full_tile_get_ms']['p50']:.2f} ms, p99 {result['full_tile_get_ms']['p99']:.2f} "
        "ms; target: mirror >= 100,000 entries/s"
    )
    if args.json is not None:
        args.json.write_text(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
