"""Optimistic verification: bonded heads, one-transaction fraud proofs, head windows.

The operator scores off chain and anchors its log's heads on a ``ChallengeableLog``
(``src/chainml/contracts/ChallengeableLog.vy``) backed by a bond; anyone who finds a wrong
decision proves it with one transaction that re-executes the approved model on chain.
See docs/optimistic.md for the design and the threat model.

Stable API (the watchtower, ``chainml watch``, builds on these signatures)::

    deploy_log(env, registry, *, use="", window=7200, required_bond=10**17) -> Contract
    bind_log(env, address) -> Contract                   # refuses code that is not ours
    submit_challenge(env, log_address, record_bytes, index, tree_size, proof,
                     features=None, *, sender=None) -> ChallengeOutcome
    check_challenge(env, log_address, record_bytes, index, tree_size, proof,
                    features=None) -> FaultReason        # a call; nothing sent
    head_states(env, log_address, *, from_block=0) -> list[HeadStatus]
    head_covering(env, log_address, index) -> HeadStatus | None
    post_bond(env, log_address, amount) / top_up_bond(env, log_address) /
    withdraw_bond(env, log_address, amount) -> Receipt

``submit_challenge`` raises a :class:`ChallengeError` subclass, without sending anything, when
the contract would refuse: :class:`RecordCorrectError` (exit 3), :class:`WindowClosedError`,
:class:`HeadNotAnchoredError` (also after a reorg dropped the head), :class:`HeadFaultyError`
(exit 5), :class:`WrongHeadError`, :class:`NotIncludedError`, :class:`FeaturesMismatchError`
(exit 2), :class:`NotChallengeableError`, :class:`ChallengeRevertedError`.
``tree_size`` must be the first head holding the record (``HeadStatus.covers(index)``).
"""

from __future__ import annotations

from chainml.inference.optimistic.bond import post_bond, top_up_bond, withdraw_bond
from chainml.inference.optimistic.challenge import (
    ChallengeOutcome,
    FaultReason,
    check_challenge,
    submit_challenge,
)
from chainml.inference.optimistic.contract import (
    CONTRACT_NAME,
    DEFAULT_BOND,
    DEFAULT_WINDOW,
    bind_log,
    compiled_log,
    deploy_log,
)
from chainml.inference.optimistic.errors import (
    ChallengeError,
    ChallengeRevertedError,
    FeaturesMismatchError,
    HeadFaultyError,
    HeadNotAnchoredError,
    NotChallengeableError,
    NotIncludedError,
    RecordCorrectError,
    WindowClosedError,
    WrongHeadError,
)
from chainml.inference.optimistic.heads import HeadState, HeadStatus, head_covering, head_states

__all__ = [
    "CONTRACT_NAME",
    "DEFAULT_BOND",
    "DEFAULT_WINDOW",
    "ChallengeError",
    "ChallengeOutcome",
    "ChallengeRevertedError",
    "FaultReason",
    "FeaturesMismatchError",
    "HeadFaultyError",
    "HeadNotAnchoredError",
    "HeadState",
    "HeadStatus",
    "NotChallengeableError",
    "NotIncludedError",
    "RecordCorrectError",
    "WindowClosedError",
    "WrongHeadError",
    "bind_log",
    "check_challenge",
    "compiled_log",
    "deploy_log",
    "head_covering",
    "head_states",
    "post_bond",
    "submit_challenge",
    "top_up_bond",
    "withdraw_bond",
]
