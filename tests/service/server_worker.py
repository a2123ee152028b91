"""Test helper: ``chainml serve`` in a process that tests SIGKILL (see test_kill.py).

    python server_worker.py DATA_DIR MODEL_ID PORT

Prints ``ready <log size>`` once the server accepts connections. Anchors on the embedded
chain in DATA_DIR every 50 decisions or 0.3 s.
"""

from __future__ import annotations

import socket
import sys
import threading
import time
from pathlib import Path

from chainml.config import Secret, Settings
from chainml.service import ServiceOptions, create_app
from chainml.service.server import run_server, tune_interpreter

KEY = "test-api-key-0123456789abcdef"


def announce(port: int, size: int) -> None:
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
        except OSError:
            time.sleep(0.05)
            continue
        print("ready", size, flush=True)
        return


def main(data_dir: Path, model_id: str, port: int) -> None:
    options = ServiceOptions(
        model_id=model_id, api_keys=(Secret(KEY),), anchor_every=50, anchor_seconds=0.3
    )
    app = create_app(Settings(data_dir=data_dir), options)
    size = app.state.runtime.log.store.size
    threading.Thread(target=announce, args=(port, size), daemon=True).start()
    tune_interpreter()  # as chainml serve does
    run_server(app, "127.0.0.1", port)


if __name__ == "__main__":
    main(Path(sys.argv[1]), sys.argv[2], int(sys.argv[3]))
