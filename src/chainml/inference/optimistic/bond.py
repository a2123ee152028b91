"""The operator's bond on a ChallengeableLog: post, top up to the requirement, withdraw."""

from __future__ import annotations

from chainml.chain import Env, Receipt
from chainml.errors import InvalidInputError
from chainml.inference.optimistic.contract import bind_log
from chainml.log.anchor_bond import ensure_bond


def post_bond(env: Env, log_address: str, amount: int, *, sender: str | None = None) -> Receipt:
    """Add ``amount`` wei to the log's bond (from ``sender``, default the Env's account)."""
    if amount <= 0:
        raise InvalidInputError(f"a bond is a positive amount of wei, got {amount}")
    return bind_log(env, log_address).transact("post_bond", value=amount, sender=sender)


def top_up_bond(env: Env, log_address: str, *, sender: str | None = None) -> Receipt | None:
    """Post what the bond lacks of ``required_bond``; None when it holds enough."""
    return ensure_bond(bind_log(env, log_address), sender=sender)


def withdraw_bond(env: Env, log_address: str, amount: int, *, sender: str | None = None) -> Receipt:
    """Take ``amount`` wei of the bond back (an anchorer, once every window has closed)."""
    return bind_log(env, log_address).transact("withdraw_bond", amount, sender=sender)
