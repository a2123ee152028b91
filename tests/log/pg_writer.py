"""Test helper: one of several writers of a PostgreSQL log, appending forever, acknowledging.

``test_postgres_writers.py`` runs two of these at once and SIGKILLs them under load:

    python pg_writer.py LOG_URL TAG ACK_FILE

Round ``k`` logs the decisions ``k * BATCH`` to ``k * BATCH + BATCH - 1`` of the helper's own
series (request ids ``TAG req-<i>``, see ``tests.log.test_anchor.decisions``); once the append
returned it writes ``<k> <first index>`` to ACK_FILE and fsyncs it: every line there was
acknowledged, as a service acknowledges a decision after its commit.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from chainml.log.decision_log import DecisionLog
from chainml.log.postgres_store import PostgresLogStore
from tests.log.test_anchor import decisions

BATCH = 40


def main(url: str, tag: str, ack_file: Path) -> None:
    log = DecisionLog(PostgresLogStore(url))
    print("ready", log.head().size, flush=True)
    fd = os.open(ack_file, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    for k in range(1_000_000):
        first = log.append(decisions(k * BATCH, BATCH, tag))[0].sequence
        os.write(fd, f"{k} {first}\n".encode())
        os.fsync(fd)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], Path(sys.argv[3]))
