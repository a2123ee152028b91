"""Where a watchtower stopped: the last verified head, its Merkle frontier, totals, and faults.

One JSON file per watched log (``<data dir>/watch/<chain id>-<address>.json``), replaced
atomically (:func:`chainml.files.write_atomic`) after every verified head, so a watcher killed
at any instant restarts from the last head it finished and never skips a batch: the batch it was
in the middle of is verified again from its start. The frontier (at most 64 hashes) is what
lets the next head be checked without rereading older records. On restart its root must equal
the root the chain holds for that size; after a reorg that dropped the head, the watcher steps
back to the latest of the few earlier frontiers kept whose root the chain still holds, and
verifies again from there (all the way to the empty tree if need be). Each frontier keeps the
block that anchored it, so the next pass reads ``Anchored`` events from a little before that
block instead of the whole history (:data:`REORG_MARGIN`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from chainml.errors import DataDirectoryError, InvalidInputError
from chainml.files import write_atomic
from chainml.inference.optimistic.watch_frontier import Frontier

FORMAT = "chainml.watch/1"
MAX_KEPT_FAULTS = 100  # faults kept in the file (the count is exact)
MAX_KEPT_HEADS = 16  # earlier verified frontiers kept, to step back over a reorg
#: Blocks before the last verified head's block that a pass reads events from again: a reorg
#: that re-anchored that head a little earlier still shows the heads anchored after it.
REORG_MARGIN = 64


def checkpoint_path(data_dir: Path, chain_id: int, address: str) -> Path:
    """The checkpoint file of the log ``address`` on chain ``chain_id``."""
    return data_dir / "watch" / f"{chain_id}-{address.lower()}.json"


@dataclass
class WatchState:
    """What survives a restart."""

    chain_id: int
    log: str
    frontier: Frontier = field(default_factory=Frontier)
    heads: int = 0  # heads verified
    records: int = 0  # records checked
    verified: int = 0  # records re-scored and right
    commitment_only: int = 0
    unknown_model: int = 0
    fault_count: int = 0
    faults: list[dict[str, Any]] = field(default_factory=list)
    earlier: list[Frontier] = field(default_factory=list)  # verified before, oldest first
    block: int = 0  # the block that anchored the current head (0: none, or unknown)
    earlier_blocks: list[int] = field(default_factory=list)  # one per ``earlier`` frontier

    def advance(self, frontier: Frontier, block: int = 0) -> None:
        """Make ``frontier`` (a verified head anchored at ``block``) current, keeping a few."""
        if self.frontier.size:
            self.earlier = [*self.earlier, self.frontier][-MAX_KEPT_HEADS:]
            self.earlier_blocks = [*self.earlier_blocks, self.block][-MAX_KEPT_HEADS:]
        self.frontier = frontier
        self.block = block

    def step_back(self) -> bool:
        """Forget the current head for the one verified before (False: none left)."""
        if not self.earlier:
            return False
        self.frontier = self.earlier.pop()
        self.block = self.earlier_blocks.pop() if self.earlier_blocks else 0
        return True

    def reset(self) -> None:
        """Forget every verified head: verify again from the empty tree."""
        self.frontier, self.block = Frontier(), 0
        self.earlier, self.earlier_blocks = [], []

    def from_block(self, confirmations: int = 0) -> int:
        """The first block the next pass reads ``Anchored`` events from."""
        if not self.size or not self.block:
            return 0
        return max(0, self.block - max(REORG_MARGIN, confirmations))

    @property
    def size(self) -> int:
        """The size of the last verified head (0: none yet)."""
        return self.frontier.size

    def to_json(self) -> dict[str, Any]:
        """The file's document."""
        return {
            "format": FORMAT,
            "chain_id": self.chain_id,
            "log": self.log,
            "size": self.size,
            "root": self.frontier.root().hex(),
            "frontier": self.frontier.to_json(),
            "heads": self.heads,
            "records": self.records,
            "verified": self.verified,
            "commitment_only": self.commitment_only,
            "unknown_model": self.unknown_model,
            "fault_count": self.fault_count,
            "faults": self.faults[-MAX_KEPT_FAULTS:],
            "earlier": [[f.size, f.to_json()] for f in self.earlier],
            "block": self.block,
            "earlier_blocks": self.earlier_blocks,
        }


def save_state(path: Path, state: WatchState) -> None:
    """Replace the checkpoint file atomically and durably."""
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, json.dumps(state.to_json(), indent=1, sort_keys=True) + "\n")


def load_state(path: Path, chain_id: int, log: str) -> WatchState:
    """The saved state of the log, or a fresh one; DataDirectoryError if the file is unusable."""
    if not path.exists():
        return WatchState(chain_id, log)
    try:
        document = json.loads(path.read_text())
        if document.get("format") != FORMAT:
            raise InvalidInputError(f"format {document.get('format')!r}, not {FORMAT}")
        if document["chain_id"] != chain_id or str(document["log"]).lower() != log.lower():
            raise InvalidInputError("it is the checkpoint of another log")
        frontier = Frontier.from_json(int(document["size"]), document["frontier"])
        earlier = [Frontier.from_json(int(size), nodes) for size, nodes in document["earlier"]]
        # checkpoints written before blocks were kept: 0 (unknown) reads from block 0 once
        blocks = [int(b) for b in document.get("earlier_blocks", [])][-len(earlier) :]
        blocks = [0] * (len(earlier) - len(blocks)) + blocks if earlier else []
        if frontier.root().hex() != document["root"]:
            raise InvalidInputError("its frontier does not hash to its root")
        return WatchState(
            chain_id=chain_id,
            log=log,
            frontier=frontier,
            heads=int(document["heads"]),
            records=int(document["records"]),
            verified=int(document["verified"]),
            commitment_only=int(document["commitment_only"]),
            unknown_model=int(document["unknown_model"]),
            fault_count=int(document["fault_count"]),
            faults=list(document["faults"]),
            earlier=earlier,
            block=int(document.get("block", 0)),
            earlier_blocks=blocks,
        )
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise DataDirectoryError(str(path), f"is not a usable watch checkpoint: {err}") from err
