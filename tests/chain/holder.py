"""Test helper: owns an embedded data directory, sends a few transfers, then waits to be killed.

    python holder.py DATA_DIR COUNT

It opens the chain (taking ownership, serving no endpoint), sends COUNT value transfers from
the first account to the second, prints ``ready <tx hash> ...`` and sleeps. The transfers
stay in the open block and the journal: a SIGKILL leaves them for the next owner to recover.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from chainml.chain import connect
from chainml.config import Settings


def main(data_dir: Path, count: int) -> None:
    env = connect(Settings(data_dir=data_dir))
    hashes = [env.transact(env.accounts[1], value=1 + i).tx_hash.hex() for i in range(count)]
    print("ready", *hashes, flush=True)
    while True:
        time.sleep(60)


if __name__ == "__main__":
    main(Path(sys.argv[1]), int(sys.argv[2]))
