"""The operator's bond on a challengeable log contract: posted before an anchor needs it.

A ``ChallengeableLog`` accepts an anchor only while its bond holds at least
``required_bond``; a plain ``DecisionLog`` has no bond. :func:`ensure_bond` is what the
anchorer calls before each anchor: on a bonded contract it tops the bond up (from the
anchoring account) when it is short, the first anchor therefore posts the whole bond.
"""

from __future__ import annotations

import logging

from chainml.chain import Contract, Receipt

_log = logging.getLogger(__name__)


def is_bonded(contract: Contract) -> bool:
    """Whether ``contract``'s ABI is that of a bonded (challengeable) log."""
    abi_names = {item.get("name") for item in contract.abi if item.get("type") == "function"}
    return {"post_bond", "required_bond", "bond"} <= abi_names


def ensure_bond(contract: Contract, sender: str | None = None) -> Receipt | None:
    """Top the bond of a challengeable log up to its required bond; None when nothing to do.

    A plain DecisionLog needs no bond (None). The value comes from ``sender`` (default: the
    Env's default account); a sender without the funds gets InsufficientFundsError.
    """
    if not is_bonded(contract):
        return None
    required, held = int(contract.required_bond()), int(contract.bond())
    if held >= required:
        return None
    short = required - held
    _log.info("posting %d wei of bond to %s (holds %d, needs %d)", short, contract, held, required)
    return contract.transact("post_bond", value=short, sender=sender)
