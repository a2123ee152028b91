"""The anchored heads of a ChallengeableLog and where each stands: open, final or faulty.

The list comes from the contract's ``Anchored`` events on the chain as the node serves it now,
and each head's window and state from the contract itself, so a head whose anchor a reorg
dropped is simply not there any more (its records are anchored again in a later head).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

from chainml.chain import Contract, Env
from chainml.inference.optimistic.contract import bind_log


class HeadState(enum.Enum):
    """Where a head stands (the contract's ``head_state``)."""

    OPEN = "open"  # its window is open: any record in it can still be challenged
    FINAL = "final"  # its window closed without a proven fault
    FAULTY = "faulty"  # a challenge proved one of its records wrong


_STATES = {1: HeadState.OPEN, 2: HeadState.FINAL, 3: HeadState.FAULTY}


@dataclass(frozen=True)
class HeadStatus:
    """One anchored head: which records it adds, where it was anchored, its window."""

    size: int
    root: bytes
    previous_size: int  # the head adds records [previous_size, size)
    anchored_block: int
    window_end: int  # last block in which a challenge is accepted
    state: HeadState
    tx_hash: bytes

    def covers(self, index: int) -> bool:
        """Whether record ``index`` was first anchored in this head."""
        return self.previous_size <= index < self.size

    def blocks_left(self, block_number: int) -> int:
        """Blocks of the window left after ``block_number`` (0 once closed)."""
        return max(0, self.window_end - block_number)

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready form."""
        return {
            "size": self.size,
            "root": "0x" + self.root.hex(),
            "previous_size": self.previous_size,
            "anchored_block": self.anchored_block,
            "window_end": self.window_end,
            "state": self.state.value,
            "tx_hash": "0x" + self.tx_hash.hex(),
        }


def head_states(env: Env, log_address: str, *, from_block: int = 0) -> list[HeadStatus]:
    """Every head the ChallengeableLog at ``log_address`` holds, oldest first, with its state.

    ``from_block`` skips heads anchored before it (a watcher resuming). Read-only: works on
    an Env without a signing key.
    """
    return heads_of(bind_log(env, log_address), from_block=from_block)


def heads_of(contract: Contract, *, from_block: int = 0) -> list[HeadStatus]:
    """As :func:`head_states`, on an already bound contract."""
    found: dict[int, HeadStatus] = {}
    for event in contract.events("Anchored", from_block=from_block):
        size = int(event["size"])
        anchored, window_end, previous, _faulty = contract.head(size)
        if int(anchored) != int(event["_block"]):
            continue  # a stale event the node still served: the contract says otherwise
        state = _STATES[int(contract.head_state(size))]
        found[size] = HeadStatus(
            size=size,
            root=bytes(event["root"]),
            previous_size=int(previous),
            anchored_block=int(anchored),
            window_end=int(window_end),
            state=state,
            tx_hash=bytes(event["_tx"]),
        )
    return [found[size] for size in sorted(found)]


def head_covering(env: Env, log_address: str, index: int) -> HeadStatus | None:
    """The head in which record ``index`` was first anchored, or None (not anchored yet)."""
    return next((h for h in head_states(env, log_address) if h.covers(index)), None)
