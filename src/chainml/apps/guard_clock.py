"""Steering a development chain's clock so each transaction lands at a chosen timestamp.

The payments simulator stamps every transfer with a time; the guarded token computes features
from ``block.timestamp``. To replay a simulation faithfully, :class:`ChainClock` moves the
chain clock (``increase_time``) so that the block a transfer lands in carries the simulated
time plus a whole number of days (:attr:`ChainClock.shift`: differences and hours of the day
are unchanged, so the features are too). Time only moves forward: a transfer whose time the
chain has already passed lands later, and :meth:`ChainClock.pin` says so.

Both backends seal a new block at ``max(parent + 1, wall clock + offset)``; the clock learns
the offset once by mining a block, then sets it exactly before each new timestamp.
"""

from __future__ import annotations

import time

from chainml.chain import Env
from chainml.errors import ChainError

DAY = 86_400
_MARGIN = 60  # seconds between the chain's clock and the first pinned timestamp


class ChainClock:
    """Pins the timestamp of the next block of a development chain (embedded or anvil)."""

    def __init__(self, env: Env) -> None:
        self.env = env
        self._offset = self._learn_offset()
        self._last: int | None = None
        self.shift = 0
        #: pinned blocks that were found to carry another timestamp (a wall-clock second
        #: ticked between pinning and opening the block, or the time had already passed)
        self.late = 0

    def _learn_offset(self) -> int:
        """The chain clock minus the wall clock, read from a freshly mined block.

        The chain clock may lag the wall clock (anvil rewinds it on a snapshot revert), so the
        push that makes the next block show the clock itself grows until it shows.
        """
        push = 2
        for _ in range(12):
            head = self.env.block().timestamp
            before = int(time.time())
            self.env.backend.increase_time(max(push, head + 2 - before))
            self.env.mine(1)
            stamp = self.env.block().timestamp
            if stamp > head + 1:
                if int(time.time()) == before:
                    return stamp - before
            else:
                push *= 8
        raise ChainError("could not read the chain clock (is the node mining on its own?)")

    def now(self) -> int:
        """The timestamp a block opened now would carry (before any pin)."""
        return int(time.time()) + self._offset

    def align(self, first_timestamp: int) -> int:
        """Choose :attr:`shift` (whole days) so ``first_timestamp`` lies just ahead of the chain."""
        ahead = max(self.now(), self.env.block().timestamp) + _MARGIN - first_timestamp
        self.shift = max(0, -(-ahead // DAY)) * DAY
        return self.shift

    def pin(self, timestamp: int) -> bool:
        """Make the next transactions land at ``timestamp + shift``; False if that has passed.

        A timestamp equal to the previous one adds to the same open block (the embedded chain
        keeps a block open for up to a second); on anvil, which mines one block per
        transaction, it lands a second later. Each new pin first checks the block of the
        previous one and counts it in :attr:`late` if it missed its time.
        """
        target = timestamp + self.shift
        if target == self._last:
            return True
        head = self.env.block().timestamp  # seals the open block: the previous pin's
        self._check(head)
        step = target - self.now()  # measured after sealing, just before the block opens
        if step < 0 or target <= head:
            self._last = None
            self.late += 1
            return False
        self.env.backend.increase_time(step)
        self._offset += step
        self._last = target
        return True

    def finish(self) -> None:
        """Check the block of the last pin (call once the last transaction was sent)."""
        self._check(self.env.block().timestamp)
        self._last = None

    def _check(self, head: int) -> None:
        if self._last is not None and head != self._last:
            self.late += 1
