"""When an anchor counts: confirmations before a head is final, and what a reorg can undo.

An anchor transaction in the latest block can still be dropped by a reorg. The anchorer
therefore records a head as *final* (in the log's store, where receipts and ``log head`` read
it) only once ``confirmations`` blocks are on top of the block that holds it; until then the
head is *pending*, known only from the chain itself, so a crash loses nothing: the next
anchorer finds the unconfirmed head in the contract's events. A pending anchor that a reorg
drops is anchored again. A *final* anchor that disappears is a broken promise — a reorg deeper
than the confirmations, or a reset node — and is reported as :class:`FinalAnchorLostError`,
never silently recorded again.
"""

from __future__ import annotations

from dataclasses import dataclass

from chainml.chain import Env
from chainml.errors import VerificationError
from chainml.log.store import AnchorRecord

#: anvil's and hardhat's chain id, and the usual one of geth --dev and of the embedded chain
DEV_CHAIN_IDS = frozenset({31337, 1337})
#: Confirmations elsewhere unless configured: about 2.5 minutes on Ethereum mainnet, where
#: reorgs deeper than a few blocks have not happened since the merge. Full Casper finality
#: takes about 64 blocks; set ``confirmations`` to that (or an L2's own rule) to wait for it.
DEFAULT_CONFIRMATIONS = 12


def confirmations_for(env: Env, configured: int | None) -> int:
    """Blocks on top of an anchor before it is final: ``configured``, else by the chain.

    None means 0 on development chains (the embedded chain, anvil, hardhat: one process
    mines every block, nothing reorganizes them) and :data:`DEFAULT_CONFIRMATIONS` elsewhere.
    """
    if configured is not None:
        return configured
    if env.backend.kind == "embedded" or env.chain_id in DEV_CHAIN_IDS:
        return 0
    return DEFAULT_CONFIRMATIONS


@dataclass(frozen=True)
class PendingAnchor:
    """A head the contract holds that is not final yet: where it is, and how to recognize it."""

    record: AnchorRecord  # what will be recorded once final
    block_hash: bytes  # of the block that holds it: another hash at that height is a reorg

    @property
    def size(self) -> int:
        """The tree size of the head."""
        return self.record.size


class FinalAnchorLostError(VerificationError):
    """An anchor recorded as final is no longer on the chain (a deep reorg, or a reset node)."""

    def __init__(self, anchor: AnchorRecord, confirmations: int, contract_gone: bool) -> None:
        self.anchor = anchor
        self.confirmations = confirmations
        self.contract_gone = contract_gone
        where = f"contract {anchor.contract} on chain {anchor.chain_id}"
        if contract_gone:
            cause = (
                f"{where} has no code any more (was the node reset?); run "
                "`chainml log forget-anchor` to forget it and anchor anew"
            )
        else:
            cause = (
                f"{where} no longer holds it: a reorg deeper than the {confirmations} "
                "confirmations it waited for; raise `confirmations` and audit the log "
                "(`chainml log audit`)"
            )
        super().__init__(
            f"the anchor of size {anchor.size} recorded as final (tx 0x{anchor.tx_hash.hex()}, "
            f"block {anchor.block_number}) is gone: {cause}"
        )
