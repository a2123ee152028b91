"""Test helper: logs decisions and anchors them on the embedded chain, forever, acknowledging.

``test_anchoring_durability.py`` runs it as a subprocess and SIGKILLs it at random moments:

    python anchoring_writer.py DATA_DIR ACK_FILE

The embedded chain and the decision log share DATA_DIR. Each round appends a batch, then
anchors; after each returns it writes ``logged <size>`` or ``anchored <size>`` to ACK_FILE and
fsyncs it, so the test knows what was acknowledged.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from chainml.chain import connect
from chainml.config import Settings
from chainml.log.anchor import Anchorer, log_contract
from chainml.log.decision_log import Decision, DecisionLog


def decision(i: int) -> Decision:
    return Decision(
        model_id=b"\x42" * 32,
        score=i - 500,
        label=i % 2,
        request_id=i.to_bytes(32, "big"),
        features=(i, i % 7, -1),
    )


def main(data_dir: Path, ack_file: Path) -> None:
    env = connect(Settings(data_dir=data_dir))
    log = DecisionLog.open(data_dir)
    anchorer = Anchorer(log, log_contract(env, log))
    print("ready", log.head().size, flush=True)
    fd = os.open(ack_file, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    while True:
        size = log.head().size
        log.append([decision(i) for i in range(size, size + 37)])
        os.write(fd, f"logged {size + 37}\n".encode())
        os.fsync(fd)
        record = anchorer.anchor()
        if record is not None:
            os.write(fd, f"anchored {record.size}\n".encode())
            os.fsync(fd)


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
