"""Fraud proofs: one transaction that re-executes a logged decision's model on chain.

:func:`submit_challenge` first runs the challenge as a call (nothing spent): a correct record,
a closed window or a bad proof comes back as the typed error of
:mod:`chainml.inference.optimistic.errors` without a transaction. Only a challenge that would
prove a fault is sent; its ``Slashed`` event is the :class:`ChallengeOutcome`.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from chainml.chain import Contract, Env
from chainml.chain.backend import CallRequest
from chainml.errors import ChainError, ContractRevertError, InvalidInputError
from chainml.inference.optimistic.contract import bind_log
from chainml.inference.optimistic.errors import challenge_error
from chainml.log.record import encode_features

#: Head room over the node's gas estimate: the re-execution's out-of-gas rule (the contract
#: refuses to call a rejection what may be a starved call) must never bite a real fault.
GAS_MARGIN = 1.25


class FaultReason(enum.IntEnum):
    """What a successful challenge proved (the contract's ``Slashed.reason``)."""

    WRONG_SCORE = 1  # the approved model computes another score on the record's features
    WRONG_LABEL = 2  # same score, but the label is not (score >= THRESHOLD)
    NOT_APPROVED = 3  # the record's model was not approved (for this use) at the anchor's block
    BAD_COMMITMENT = 4  # the record's features do not hash to its input commitment
    MALFORMED = 5  # the leaf is not a canonical version-1 decision record
    WRONG_SEQUENCE = 6  # the record's sequence is not its index
    REJECTED = 7  # the model contract refuses the record's features (length or range)


@dataclass(frozen=True)
class ChallengeOutcome:
    """A fault proven on chain: what, where, and what the challenger was paid."""

    reason: FaultReason
    index: int
    size: int  # the head now marked faulty
    challenger: str
    reward: int  # wei paid to the challenger out of the bond
    tx_hash: bytes
    block_number: int
    gas_used: int

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready form."""
        return {
            "reason": self.reason.name.lower(),
            "index": self.index,
            "size": self.size,
            "challenger": self.challenger,
            "reward_wei": self.reward,
            "tx_hash": "0x" + self.tx_hash.hex(),
            "block_number": self.block_number,
            "gas_used": self.gas_used,
        }


def challenge_arguments(
    record_bytes: bytes,
    index: int,
    tree_size: int,
    proof: Sequence[bytes],
    features: Sequence[int] | None,
) -> tuple[bytes, int, int, list[bytes], bytes]:
    """The ``challenge`` call's arguments (features ABI-encoded, or empty)."""
    if not 0 <= index < tree_size:
        raise InvalidInputError(f"index {index} is not in a tree of {tree_size} records")
    encoded = b"" if features is None else encode_features(list(features))
    return bytes(record_bytes), index, tree_size, [bytes(h) for h in proof], encoded


def submit_challenge(
    env: Env,
    log_address: str,
    record_bytes: bytes,
    index: int,
    tree_size: int,
    proof: Sequence[bytes],
    features: Sequence[int] | None = None,
    *,
    sender: str | None = None,
) -> ChallengeOutcome:
    """Challenge record ``index`` (leaf data ``record_bytes``) of the head of ``tree_size``.

    ``proof`` is its RFC 9162 inclusion proof in that head, which must be the first head that
    holds the record (see :func:`~chainml.inference.optimistic.heads.head_covering`).
    ``features`` are the record's fixed-point features when the record carries only their
    commitment. Returns the outcome of the proven fault; raises a
    :class:`~chainml.inference.optimistic.errors.ChallengeError` (RecordCorrectError,
    WindowClosedError, ...) when the contract would not accept it, without sending.
    """
    contract = bind_log(env, log_address)
    args = challenge_arguments(record_bytes, index, tree_size, proof, features)
    gas = _dry_run(env, contract, args, sender, index=index, size=tree_size)
    try:
        receipt = contract.transact("challenge", *args, gas=gas, sender=sender)
    except ContractRevertError as err:  # the chain moved since the dry run (another watcher)
        raise challenge_error(err, index=index, size=tree_size) from err
    events = contract.decode_receipt(receipt, "Slashed")
    if not events:
        raise ChainError(f"challenge transaction 0x{receipt.tx_hash.hex()} emitted no Slashed")
    event = events[0]
    return ChallengeOutcome(
        reason=FaultReason(int(event["reason"])),
        index=int(event["index"]),
        size=int(event["size"]),
        challenger=str(event["challenger"]),
        reward=int(event["reward"]),
        tx_hash=receipt.tx_hash,
        block_number=receipt.block_number,
        gas_used=receipt.gas_used,
    )


def check_challenge(
    env: Env,
    log_address: str,
    record_bytes: bytes,
    index: int,
    tree_size: int,
    proof: Sequence[bytes],
    features: Sequence[int] | None = None,
) -> FaultReason:
    """The fault a challenge would prove, by a call (nothing sent); errors as submit_challenge."""
    contract = bind_log(env, log_address)
    args = challenge_arguments(record_bytes, index, tree_size, proof, features)
    try:
        return FaultReason(int(contract.call("challenge", *args)))
    except ContractRevertError as err:
        raise challenge_error(err, index=index, size=tree_size) from err


def _dry_run(
    env: Env,
    contract: Contract,
    args: tuple[bytes, int, int, list[bytes], bytes],
    sender: str | None,
    *,
    index: int,
    size: int,
) -> int:
    """Gas for the challenge transaction; the typed error when it would revert."""
    data = contract.function("challenge", len(args)).encode_call(args)
    request = CallRequest(sender=sender or env.sender, to=contract.address, data=data)
    try:
        return int(env.backend.estimate_gas(request) * GAS_MARGIN)
    except ContractRevertError as err:
        raise challenge_error(err, index=index, size=size) from err
