"""Following a chain block by block: checkpointed, resumable after ``kill -9``, reorg-aware.

The follower scores every transaction of every block from ``start`` on, in order. After
each block it writes a checkpoint (the next block and the hashes of the last ``depth``
blocks) atomically, so a killed monitor resumes where it stopped; an alert logged just
before the kill is found again, not logged twice (see :mod:`chainml.monitor.alerts`).

A reorg shows as a block whose parent hash is not the hash remembered for the block before
it (or a remembered block whose hash changed). The follower steps back until its memory
agrees with the chain, reports the replaced blocks, and scores the new ones. The sliding
window of features is a function of the last ``window`` blocks, so it is rebuilt by
replaying them (silently) after a restart or a reorg.
"""

from __future__ import annotations

import json
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chainml.errors import ChainError, ChainUnavailableError, DataDirectoryError
from chainml.files import write_atomic
from chainml.monitor.alerts import AlertSink
from chainml.monitor.blocks import BlockSource, ChainBlock
from chainml.monitor.features import TxFeatures, Window
from chainml.monitor.rules import Alert, RuleSet

CHECKPOINT_FORMAT = "chainml.monitor-checkpoint/1"
CHECKPOINT_FILE = "monitor-checkpoint.json"


@dataclass
class FollowStats:
    """What one :meth:`Follower.step` did."""

    blocks: int = 0
    transactions: int = 0
    alerts: int = 0
    replaced: int = 0


class Follower:
    """Scores a chain's blocks as they arrive, alerting through an :class:`AlertSink`."""

    def __init__(
        self,
        source: BlockSource,
        sink: AlertSink | None,
        rules: RuleSet,
        chain_id: int,
        checkpoint: Path | None,
        *,
        start: int = 0,
        window: int = 256,
        depth: int = 64,
        on_event: Callable[[dict[str, Any]], None] | None = None,
        on_features: Callable[[TxFeatures, list[Alert]], None] | None = None,
    ) -> None:
        self.source = source
        self.sink = sink
        self.rules = rules
        self.chain_id = chain_id
        self.checkpoint = checkpoint
        self.start = start
        self.window_blocks = window
        self.depth = depth
        self.on_event = on_event
        self.on_features = on_features
        self.next_block = start
        self.recent: deque[tuple[int, bytes]] = deque(maxlen=depth)
        self._window: Window | None = None
        self._load()

    # -- checkpoint ----------------------------------------------------------------------

    def _load(self) -> None:
        if self.checkpoint is None or not self.checkpoint.exists():
            return
        try:
            doc = json.loads(self.checkpoint.read_text())
            if doc["format"] != CHECKPOINT_FORMAT:
                raise ValueError(f"unknown format {doc['format']!r}")
            chain_id = int(doc["chain_id"])
            next_block = int(doc["next_block"])
            recent = [(int(n), bytes.fromhex(h)) for n, h in doc["recent"]]
            start = int(doc["start"])
        except (OSError, ValueError, KeyError, TypeError) as err:
            raise DataDirectoryError(
                str(self.checkpoint), f"is not a monitor checkpoint: {err}"
            ) from err
        if chain_id != self.chain_id:
            raise DataDirectoryError(
                str(self.checkpoint), f"follows chain {chain_id}, not chain {self.chain_id}"
            )
        self.start, self.next_block = start, next_block
        self.recent.extend(recent)

    def _save(self) -> None:
        if self.checkpoint is None:
            return
        doc = {
            "format": CHECKPOINT_FORMAT,
            "chain_id": self.chain_id,
            "start": self.start,
            "next_block": self.next_block,
            "recent": [[n, h.hex()] for n, h in self.recent],
        }
        # No fsync: a rename survives a killed process; after a power cut an older checkpoint
        # only means re-scoring blocks, and their alerts are found in the log, not re-logged.
        write_atomic(self.checkpoint, json.dumps(doc) + "\n", sync=False)

    # -- following -----------------------------------------------------------------------

    def step(self, max_blocks: int | None = None) -> FollowStats:
        """Score every block up to the current head (at most ``max_blocks``)."""
        stats = FollowStats()
        head = self.source.head()
        self._check_tip(head, stats)
        while self.next_block <= head and (max_blocks is None or stats.blocks < max_blocks):
            last = head if max_blocks is None else min(head, self.next_block + max_blocks - 1)
            chunk = self.source.blocks(range(self.next_block, min(last, self.next_block + 31) + 1))
            for block in chunk:
                if self.recent and block.parent_hash != self.recent[-1][1]:
                    self._rewind(stats)
                    break  # the rest of the chunk may be of the replaced branch: fetch again
                if self._window is None:
                    self._rebuild()
                alerts = self._score(block, emit=True)
                stats.blocks += 1
                stats.transactions += len(block.txs)
                stats.alerts += alerts
                self.recent.append((block.number, block.hash))
                self.next_block = block.number + 1
                self._save()
        return stats

    def run(self, poll: float = 1.0, stop: Callable[[], bool] = lambda: False) -> None:
        """Follow new heads until ``stop()``: poll every ``poll`` seconds, ride out node outages."""
        delay = poll
        while not stop():
            try:
                self.step()
                delay = poll
            except ChainUnavailableError as err:
                self._emit({"type": "node_unavailable", "detail": str(err)})
                delay = min(delay * 2, 30.0)
            time.sleep(delay)

    def _check_tip(self, head: int, stats: FollowStats) -> None:
        """Notice a reorg that replaced our last block even if the chain did not grow past it."""
        if self.recent and self.recent[-1][0] <= head:
            if self.source.block_hash(self.recent[-1][0]) != self.recent[-1][1]:
                self._rewind(stats)
        elif self.recent and self.recent[-1][0] > head:
            self._rewind(stats)

    def _rewind(self, stats: FollowStats) -> None:
        replaced = []
        while self.recent:
            number, known = self.recent[-1]
            if self.source.block_hash(number) == known:
                break
            replaced.append(number)
            self.recent.pop()
        if not self.recent and replaced and min(replaced) > self.start:
            raise ChainError(
                f"a reorg replaced more than the {self.depth} blocks the monitor remembers"
            )
        self.next_block = self.recent[-1][0] + 1 if self.recent else self.start
        stats.replaced += len(replaced)
        self._window = None
        self._emit({"type": "reorg", "replaced": sorted(replaced), "resume_at": self.next_block})
        self._save()

    def _rebuild(self) -> None:
        window = Window(self.window_blocks)
        self._window = window
        # Twice the window: a mint spike remembered in the window was judged against the mints
        # of the window before it. (Flags raised by alerts can chain further back than that.)
        first = max(self.start, self.next_block - 2 * self.window_blocks)
        for block in self.source.blocks(range(first, self.next_block)):
            self._score(block, emit=False)

    def _score(self, block: ChainBlock, *, emit: bool) -> int:
        window = self._window
        assert window is not None
        window.start_block(block.number)
        count = 0
        for index, (tx, receipt) in enumerate(zip(block.txs, block.receipts, strict=True)):
            features = window.observe(index, tx, receipt)
            alerts = self.rules.evaluate(features)
            for alert in alerts:
                window.flag(list(alert.flagged))
                if emit and self.sink is not None:
                    self.sink.deliver(alert, self.chain_id, block.hash)
                count += 1
            if emit and self.on_features is not None:
                self.on_features(features, alerts)
        return count

    def _emit(self, event: dict[str, Any]) -> None:
        if self.on_event is not None:
            self.on_event(event)
