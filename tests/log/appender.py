"""Test helper: appends batches to a SqliteLogStore forever, acknowledging each append durably.

``test_store_durability.py`` runs it as a subprocess and kills it with SIGKILL at random moments:

    python appender.py LOG_FILE ACK_FILE SEED

It opens (or creates) the log, prints ``ready <size>`` and then appends batches of random sizes.
Leaf ``i`` always holds :func:`data_of` ``(i)`` and request id :func:`request_id_of` ``(i)``, so
whatever survives a kill can be checked exactly. After each ``append`` returns, it appends the
new size as a line to ACK_FILE and fsyncs it: every size written there was acknowledged.
"""

from __future__ import annotations

import hashlib
import os
import random
import sys
from pathlib import Path

from chainml.log.sqlite_store import SqliteLogStore

MERGE_EVERY = 700  # small, so kills also land in merges of the request-id index


def data_of(i: int) -> bytes:
    return hashlib.sha256(b"leaf" + i.to_bytes(8, "big")).digest() * (1 + i % 12)


def request_id_of(i: int) -> bytes | None:
    return hashlib.sha256(b"request" + i.to_bytes(8, "big")).digest() if i % 4 else None


def main(log_file: Path, ack_file: Path, seed: int) -> None:
    rng = random.Random(seed)
    store = SqliteLogStore(log_file, merge_every=MERGE_EVERY)
    size = store.size
    print("ready", size, flush=True)
    fd = os.open(ack_file, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    while True:
        n = rng.randint(1, 400)
        size = store.append([(data_of(i), request_id_of(i)) for i in range(size, size + n)]) + n
        os.write(fd, f"{size}\n".encode())
        os.fsync(fd)


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3]))
