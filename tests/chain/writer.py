"""Test helper: increments a Counter on the embedded chain forever, recording each acknowledgement.

``test_durability.py`` runs it as a subprocess and kills it with SIGKILL at random moments:

    python writer.py DATA_DIR ACK_FILE VYPER_CACHE

It opens (or creates) the embedded chain in DATA_DIR, deploys Counter once (its address is
kept in DATA_DIR/counter.address, reused on restart), prints ``ready <count>`` and then loops
on ``increment()``. After each receipt it appends ``<tx hash> <expected count>`` to ACK_FILE
and fsyncs it, so the test knows exactly which transactions the chain acknowledged.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from chainml import contracts
from chainml.chain import connect
from chainml.config import Settings

GAS = 100_000


def _write_durably(path: Path, text: str) -> None:
    tmp = path.with_suffix(".tmp")
    with tmp.open("w") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def main(data_dir: Path, ack_file: Path, cache: Path) -> None:
    compiled = contracts.load("Counter", cache)
    env = connect(Settings(data_dir=data_dir))
    address_file = data_dir / "counter.address"
    if address_file.exists():
        counter = env.at(address_file.read_text().strip(), compiled)
    else:
        counter = env.deploy(compiled, 0, gas=1_000_000)
        _write_durably(address_file, counter.address)
    expected = counter.call("count")
    print("ready", expected, flush=True)
    fd = os.open(ack_file, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    while True:
        receipt = counter.transact("increment", gas=GAS)
        expected += 1
        os.write(fd, f"0x{receipt.tx_hash.hex()} {expected}\n".encode())
        os.fsync(fd)


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3]))
